//! ESP clients against loopback mocks (placeholder; being written).
