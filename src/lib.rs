//! mailcall: catch email delivery problems early and work them as incidents
//! across marketing, design, integration and development.
//!
//! # Components
//!
//! - [`domain`]: incidents and their lifecycle rules. Plain Rust, no I/O.
//! - [`command`]: slash-command manifests (`commands/*.json`), parsing of an
//!   invocation into a typed [`command::Command`], and the [`command::Engine`]
//!   that executes it and says what to reply and post.
//! - [`delivery`]: the ESP statistics model (samples, counts, rates) every
//!   provider is mapped onto. "Metrics" in the code means only what
//!   `/metrics` exports.
//! - [`store`]: the [`store::IncidentStore`] boundary, with sled on disk and
//!   an in-memory twin for tests.
//! - [`console`]: the terminal as a chat (`mailcall demo`, `mailcall console`).
//! - [`service`]: the composition root: builds the engine, poller and
//!   background jobs from the configuration for any front end.
//! - [`discord`]: the Discord front end (`mailcall run`), through serenity.
//! - [`http`]: `/healthz`, `/readyz` and `/metrics` on a local address.
//! - [`config`]: the TOML configuration, validated once into typed values.
//! - [`clock`]: injected time.
//! - [`scheduler`]: named jobs on a cron or interval cadence, exactly once
//!   per due time across restarts (the service runs polls and alert timers
//!   through it).
//!
//! The binary (`src/main.rs`) only parses flags and calls into [`app`].

pub mod alert;
pub mod alerting;
pub mod app;
pub mod atomic_file;
pub mod clock;
pub mod command;
pub mod config;
pub mod console;
pub mod delivery;
pub mod detect;
pub mod discord;
pub mod domain;
pub mod duty;
pub mod esp;
pub mod http;
pub mod open_files;
pub mod os_error;
pub mod poll;
pub mod redact;
pub mod report;
pub mod schedule;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod summary;
