//! `mailcall detect`'s CSV reader and the detectors behind it
//! (`detect::detect_csv`) on arbitrary bytes: no panic, no hang, and a
//! refused file is an error value with a message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcall::detect::{detect_csv, DetectorSettings};

fuzz_target!(|data: &[u8]| {
    let mut output = Vec::new();
    match detect_csv(data, &mut output, &DetectorSettings::default()) {
        Ok(stats) => {
            assert!(stats.flagged <= stats.rows, "{stats:?}");
            let _ = stats.unordered_warning();
        }
        Err(error) => assert!(!error.to_string().trim().is_empty(), "{error:?}"),
    }
});
