//! The host's settings as flags and `AGENTHOST_*` variables give them: one key (chosen by the
//! first byte) with any text as its value either parses or is a clear `SettingsError`.
#![no_main]

use agenthost::settings::{Settings, KEYS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    let (key, _) = KEYS[usize::from(choice) % KEYS.len()];
    let _ = Settings::load(None, &[(key, value.to_owned())]);
});
