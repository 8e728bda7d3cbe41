//! The P2P side of an agent: accepts `/agenthost/agent/1` streams and answers each with the
//! reply of an [`AgentService`].
//!
//! One stream, one request: read the request frame, hand it to the service, write the reply
//! frames as they come, close. While the reply runs, the read half is watched: the caller
//! closing or resetting its stream cancels the run (WIRE.md §5).

use std::sync::Arc;

use futures::{io::ReadHalf, AsyncReadExt, AsyncWriteExt};
use tokio::{sync::Semaphore, task::JoinHandle};

use crate::{
    agent_streams::InboundStreams,
    caller::Caller,
    codec::{read_frame, write_frame, FrameError},
    frame::{ErrorCode, ErrorFrame, Frame, Request},
    protocol::{DEFAULT_MAX_FRAME_BYTES, REQUEST_READ_TIMEOUT},
    service::AgentService,
    stream_handler::{AgentStream, InboundStream},
};

/// Limits of the stream server.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Largest request frame accepted.
    pub max_frame_bytes: usize,
    /// Streams handled at once; beyond it a stream is answered with `overloaded` at once.
    /// Queued and running requests are bounded separately by the dispatcher; this bounds the
    /// memory that half-open or slow streams can pin.
    pub max_streams: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_streams: 1024,
        }
    }
}

/// Serves the inbound request streams of a node. The returned task ends when the node stops.
pub fn serve(
    mut incoming: InboundStreams,
    service: Arc<dyn AgentService>,
    config: ServerConfig,
) -> JoinHandle<()> {
    let slots = Arc::new(Semaphore::new(config.max_streams));
    tokio::spawn(async move {
        // This loop only hands streams off, so the inbound queue drains as fast as streams come.
        while let Some(inbound) = incoming.recv().await {
            match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => {
                    let service = Arc::clone(&service);
                    tokio::spawn(async move {
                        handle_stream(inbound, service.as_ref(), config).await;
                        drop(slot);
                    });
                }
                Err(_) => {
                    tracing::warn!(peer = %inbound.peer, "too many open streams; refusing one");
                    tokio::spawn(refuse_overloaded(inbound.stream));
                }
            }
        }
    })
}

/// Answers a stream the host has no room for with an `overloaded` ERROR, without reading it.
pub(crate) async fn refuse_overloaded(mut stream: AgentStream) {
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

/// Serves one request stream to its end.
pub async fn handle_stream(
    inbound: InboundStream,
    service: &dyn AgentService,
    config: ServerConfig,
) {
    let InboundStream {
        peer,
        stream,
        remote,
        relayed,
    } = inbound;
    let (mut reader, mut writer) = stream.split();
    let request = match read_request(&mut reader, config.max_frame_bytes).await {
        Ok(request) => request,
        Err(Some(error)) => {
            tracing::debug!(%peer, %error, "bad request");
            let _ = write_frame(&mut writer, &Frame::Error(error).to_bytes()).await;
            let _ = writer.close().await;
            return;
        }
        // Nothing to answer (closed, reset or silent): dropping the stream resets it.
        Err(None) => return,
    };
    tracing::debug!(%peer, kind = request.kind(), "request");
    let mut reply = service.call(
        request,
        Caller::peer(peer, relayed, Some(remote.to_string())),
    );
    let mut caller_gone = Box::pin(wait_for_close(reader));
    loop {
        tokio::select! {
            frame = reply.next_frame() => {
                let Some(frame) = frame else { break };
                let terminal = frame.is_terminal();
                if let Err(e) = write_frame(&mut writer, &frame.to_bytes()).await {
                    // Dropping `reply` cancels the run.
                    tracing::debug!(%peer, error = %e, "caller unreachable; cancelling");
                    return;
                }
                if terminal {
                    break;
                }
            }
            _ = &mut caller_gone => {
                tracing::debug!(%peer, "caller closed its stream; cancelling");
                return;
            }
        }
    }
    let _ = writer.close().await;
}

/// Reads and parses the request frame. `Err(Some)` is an error worth answering, `Err(None)` a
/// stream with nothing to answer.
async fn read_request(
    reader: &mut ReadHalf<AgentStream>,
    max_frame_bytes: usize,
) -> Result<Request, Option<ErrorFrame>> {
    let read = tokio::time::timeout(REQUEST_READ_TIMEOUT, read_frame(reader, max_frame_bytes));
    match read.await {
        Err(_) => Err(None),
        Ok(Ok(Some(bytes))) => Request::from_json(&bytes).map_err(Some),
        Ok(Ok(None)) => Err(None),
        Ok(Err(e @ FrameError::TooLarge { .. })) => {
            Err(Some(ErrorFrame::new(ErrorCode::TooLarge, e.to_string())))
        }
        Ok(Err(e @ FrameError::BadLength(_))) => {
            Err(Some(ErrorFrame::new(ErrorCode::BadRequest, e.to_string())))
        }
        Ok(Err(FrameError::Truncated | FrameError::Io(_))) => Err(None),
    }
}

/// Completes when the caller closes or resets its side. Bytes sent after the request are read
/// and discarded (a caller has nothing more to say on a request stream).
async fn wait_for_close(mut reader: ReadHalf<AgentStream>) {
    let mut scratch = [0u8; 512];
    loop {
        match reader.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
