//! Any text as a configuration file: the loader must answer with a config or an error that
//! names what is wrong, never panic.
#![no_main]

use esign_collector::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = Config::parse(text, std::path::Path::new("fuzz.toml")) {
            assert!(!e.to_string().is_empty());
        }
    }
});
