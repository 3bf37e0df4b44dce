mod common;
mod config;
mod console;
mod crash;
mod demo;
mod properties;
mod store;
