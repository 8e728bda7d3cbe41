//! A stream the host has no room for is answered, not dropped: an `overloaded` ERROR with a
//! retry hint, so the caller learns why (the stream behaviour's queue and the server's stream
//! limit both refuse this way).

use futures::AsyncWriteExt;

use super::agent_stream::AgentStream;
use crate::wire::{write_frame, ErrorCode, ErrorFrame, Frame};

/// Answers a stream the host has no room for with an `overloaded` ERROR, without reading it.
pub(super) async fn refuse_overloaded(mut stream: AgentStream) {
    let frame = Frame::Error(
        ErrorFrame::new(ErrorCode::Overloaded, "overloaded: too many open streams")
            .with_retry_after(1),
    );
    let send = async {
        write_frame(&mut stream, &frame.to_bytes()).await?;
        stream.close().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), send).await;
}
