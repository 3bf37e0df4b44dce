//! Alert lifecycle (placeholder; being written).
