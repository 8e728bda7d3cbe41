//! The relay's TOML configuration: any text either loads or is a clear `ConfigError`.
#![no_main]

use agenthost_relay::RelayConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = RelayConfig::from_toml(text);
    }
});
