//! Fetching ESP statistics over HTTP (placeholder; being written).
