//! Attachments as callers send them: data URLs (images, files) decoded within the size limit,
//! and file names made safe. A safe name never escapes the upload folder.
#![no_main]

use agenthost_node::inputs::{parse_data_url, safe_file_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = parse_data_url(text, 1 << 20) {
        let _ = url;
    }
    if let Ok(name) = safe_file_name(text) {
        assert!(!name.is_empty());
        assert!(!name.contains('/') && !name.contains('\\'), "{name:?}");
        assert!(name != "." && name != "..", "{name:?}");
    }
});
