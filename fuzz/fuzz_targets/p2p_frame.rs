//! The P2P wire (WIRE.md §5): varint-framed bytes as a peer sends them, read with the host's
//! frame limit, and each frame parsed as a request. Nothing may panic or allocate more than
//! the limit.
#![no_main]

use agenthost_node::{read_frame, Request};
use libfuzzer_sys::fuzz_target;

const MAX_FRAME: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut reader = futures::io::Cursor::new(data);
    futures::executor::block_on(async {
        while let Ok(Some(frame)) = read_frame(&mut reader, MAX_FRAME).await {
            assert!(frame.len() <= MAX_FRAME);
            let _ = Request::from_json(&frame);
        }
    });
    // The bytes as one JSON request too (what a gateway hands the door).
    let _ = Request::from_json(data);
});
