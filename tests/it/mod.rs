mod alerts;
mod common;
mod config;
mod console;
mod crash;
mod demo;
mod detect_cli;
mod discord;
mod esp_clients;
#[allow(dead_code)]
mod fake_discord;
mod manifests;
mod metrics_cli;
mod poll;
mod properties;
mod readme;
mod replay;
mod store;
