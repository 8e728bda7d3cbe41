//! The P2P side of an agent: accepts `/agenthost/agent/1` streams and answers each with the
//! reply of an [`AgentService`].
//!
//! One stream, one request: read the request frame, hand it to the service, write the reply
//! frames as they come, close. While the reply runs, the read half is watched: the caller
//! closing or resetting its stream cancels the run (WIRE.md §5). A stream that opens with
//! `{"type":"SOCKET"}` instead carries a client's WebSocket (`socket.rs`) and goes to the
//! host's [`SocketService`] for as long as it lasts.

use std::sync::Arc;

use futures::{io::ReadHalf, AsyncReadExt, AsyncWriteExt};
use tokio::{sync::Semaphore, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    agent_stream::AgentStream,
    behaviour::InboundStreams,
    handler::InboundStream,
    refuse::refuse_overloaded,
    socket::{PeerSocket, SocketOpen, SocketService, SOCKET_OPEN},
};
use crate::{
    door::AgentService,
    door::Caller,
    wire::{
        read_frame, write_frame, ErrorCode, ErrorFrame, Frame, FrameError, Request,
        DEFAULT_MAX_FRAME_BYTES, REQUEST_READ_TIMEOUT,
    },
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

/// Serves the inbound request streams of a node, and its socket streams when `sockets` is
/// given (else they are answered with an ERROR), until the node stops or
/// [`StreamServer::stop`].
pub fn serve(
    mut incoming: InboundStreams,
    service: Arc<dyn AgentService>,
    sockets: Option<Arc<dyn SocketService>>,
    config: ServerConfig,
) -> StreamServer {
    let slots = Arc::new(Semaphore::new(config.max_streams));
    let streams = TaskTracker::new();
    let stop = CancellationToken::new();
    let accept = {
        let (streams, stop) = (streams.clone(), stop.clone());
        tokio::spawn(async move {
            // This loop only hands streams off, so the inbound queue drains as fast as streams
            // come.
            while let Some(inbound) = incoming.recv().await {
                let stop = stop.clone();
                match Arc::clone(&slots).try_acquire_owned() {
                    Ok(slot) => {
                        let service = Arc::clone(&service);
                        let sockets = sockets.clone();
                        streams.spawn(async move {
                            let serving = handle_stream(
                                inbound,
                                service.as_ref(),
                                sockets.as_deref(),
                                config,
                            );
                            stop.run_until_cancelled(serving).await;
                            drop(slot);
                        });
                    }
                    Err(_) => {
                        tracing::warn!(peer = %inbound.peer, "too many open streams; refusing one");
                        streams.spawn(async move {
                            stop.run_until_cancelled(refuse_overloaded(inbound.stream))
                                .await;
                        });
                    }
                }
            }
        })
    };
    StreamServer {
        accept,
        streams,
        stop,
    }
}

/// The running stream server: its accept loop and a tracker of every stream task it started.
pub struct StreamServer {
    accept: JoinHandle<()>,
    streams: TaskTracker,
    stop: CancellationToken,
}

impl StreamServer {
    /// Stops taking streams, ends the ones still open (dropping a stream's reply cancels a run
    /// that is not detached; a host retires its runs before this), and returns once every
    /// stream task has finished.
    pub async fn stop(self) {
        self.accept.abort();
        let _ = self.accept.await;
        self.stop.cancel();
        self.streams.close();
        self.streams.wait().await;
    }
}

/// Serves one request (or socket) stream to its end.
pub(super) async fn handle_stream(
    inbound: InboundStream,
    service: &dyn AgentService,
    sockets: Option<&dyn SocketService>,
    config: ServerConfig,
) {
    let InboundStream {
        peer,
        stream,
        remote,
        relayed,
    } = inbound;
    let (mut reader, mut writer) = stream.split();
    let caller = Caller::peer(peer, relayed, Some(remote.to_string()));
    let request = match read_opening(&mut reader, config.max_frame_bytes).await {
        Ok(Opening::Request(request)) => request,
        Ok(Opening::Socket(open)) => {
            match sockets {
                Some(sockets) => {
                    tracing::debug!(%peer, client = ?open.client, "socket");
                    let socket = PeerSocket::new(reader, writer, config.max_frame_bytes);
                    sockets.serve(socket, open, caller).await;
                }
                None => {
                    let error = ErrorFrame::new(
                        ErrorCode::BadRequest,
                        "this host does not serve sockets over P2P",
                    );
                    let _ = write_frame(&mut writer, &Frame::Error(error).to_bytes()).await;
                    let _ = writer.close().await;
                }
            }
            return;
        }
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
    let mut reply = service.call(request, caller);
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

/// What a stream's first frame opens.
enum Opening {
    Request(Request),
    Socket(SocketOpen),
}

impl Opening {
    fn from_json(bytes: &[u8]) -> Result<Self, ErrorFrame> {
        #[derive(serde::Deserialize)]
        struct Kind<'a> {
            #[serde(rename = "type", borrow, default)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        let is_socket = serde_json::from_slice::<Kind>(bytes)
            .is_ok_and(|k| k.kind.as_deref() == Some(SOCKET_OPEN));
        if is_socket {
            return serde_json::from_slice(bytes)
                .map(Opening::Socket)
                .map_err(|e| {
                    ErrorFrame::new(ErrorCode::BadRequest, format!("invalid SOCKET: {e}"))
                });
        }
        Request::from_json(bytes).map(Opening::Request)
    }
}

/// Reads and parses the first frame. `Err(Some)` is an error worth answering, `Err(None)` a
/// stream with nothing to answer.
async fn read_opening(
    reader: &mut ReadHalf<AgentStream>,
    max_frame_bytes: usize,
) -> Result<Opening, Option<ErrorFrame>> {
    let read = tokio::time::timeout(REQUEST_READ_TIMEOUT, read_frame(reader, max_frame_bytes));
    match read.await {
        Err(_) => Err(None),
        Ok(Ok(Some(bytes))) => Opening::from_json(&bytes).map_err(Some),
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
