//! Cron schedules in a time zone (placeholder; being written).
