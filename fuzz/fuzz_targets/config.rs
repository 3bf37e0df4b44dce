//! `Config::parse` on arbitrary text: no panic, no hang, and a refused
//! configuration is an error value naming the file, with a message.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mailcall::config::Config;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    if let Err(error) = Config::parse(Path::new("fuzz.toml"), &source) {
        assert!(!error.message.trim().is_empty(), "{error:?}");
        assert!(error.to_string().starts_with("fuzz.toml"), "{error}");
    }
});
