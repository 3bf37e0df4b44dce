mod common;
mod config;
mod console;
mod crash;
mod demo;
mod esp_clients;
mod discord;
#[allow(dead_code)]
mod fake_discord;
mod manifests;
mod properties;
mod readme;
mod store;
