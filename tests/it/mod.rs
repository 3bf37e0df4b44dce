mod common;
mod config;
mod console;
mod demo;
mod store;
