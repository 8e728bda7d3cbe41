//! The gateway's accept loop: hyper's HTTP/1.1 server (WebSocket upgrades included) with the
//! limits a host on the open internet needs, each one answered, logged and counted, never a
//! hang:
//! - a connection must send a request's headers within `header_read_timeout`, on arrival and
//!   between the requests of a kept-alive connection (hyper's own timer: it runs whenever the
//!   connection waits for a request head), else it is closed: a client that opens sockets and
//!   sends half a header holds nothing for long;
//! - at most `max_connections` at once, and `max_connections_per_ip` from one address
//!   (`slots.rs`); one over is answered `503` with `Retry-After` and closed;
//! - accept errors (out of descriptors) back off, capped, and are logged.
//!
//! HTTP/1.1 only, as every client of these routes speaks it: hyper's HTTP/2 detection would
//! wait, untimed, for a silent client's first bytes.

mod slots;

use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{body::Body, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
};
use tower::{Service, ServiceExt};

pub(crate) use slots::Caps;
use slots::{Over, Slots};

use crate::layers::metrics::Metrics;

/// The answer to a connection over a cap.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 65\r\n\r\n\
{\"error\":\"too many connections; retry later\",\"code\":\"overloaded\"}";

/// The longest pause after failed accepts.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// What the loop enforces.
pub(crate) struct Limits {
    pub header_read_timeout: Duration,
    pub caps: Caps,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the open connections
/// finish their requests (graceful shutdown).
pub(crate) async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    S: Service<
            Request<Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Slots::new(limits.caps);
    let refusals = Refusals::default();
    let graceful = GracefulShutdown::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff = Duration::ZERO;
                    accepted
                }
                Err(e) => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                    tracing::error!(error = %e, retry_in = ?backoff, "accepting an HTTP connection failed");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match slots.take(remote.ip()) {
            Ok(slot) => slot,
            Err(over) => {
                metrics.connection_refused(over.label());
                refusals.log(over, remote);
                tokio::spawn(refuse(stream));
                continue;
            }
        };
        // Replies go out in several small writes (SSE events, WebSocket frames): with Nagle's
        // algorithm each waits for the client's delayed ACK of the last, ~40 ms a turn.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let service = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(remote));
            request
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        let metrics = Arc::clone(&metrics);
        metrics.connection_opened();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                if is_header_timeout(e.as_ref()) {
                    metrics.header_timed_out();
                    tracing::debug!(%remote, "closed: headers not sent in time");
                } else {
                    tracing::trace!(%remote, error = %e, "connection ended with an error");
                }
            }
            metrics.connection_closed();
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Tells a connection over a cap why it is closed, briefly: a client that does not read gets
/// no more than a second.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(TOO_MANY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

fn is_header_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// Logs refused connections loudly but not once each: a flood would drown the log.
#[derive(Default)]
struct Refusals {
    last: Mutex<Option<(Instant, u64)>>,
}

impl Refusals {
    const EVERY: Duration = Duration::from_secs(10);

    fn log(&self, over: Over, remote: SocketAddr) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, suppressed)) = last.as_mut() {
            if at.elapsed() < Self::EVERY {
                *suppressed += 1;
                return;
            }
        }
        let suppressed = last.map_or(0, |(_, n)| n);
        tracing::warn!(
            cap = over.label(),
            %remote,
            refused_since_last_line = suppressed,
            "connection over the cap refused (503)"
        );
        *last = Some((Instant::now(), 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let text = std::str::from_utf8(TOO_MANY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
