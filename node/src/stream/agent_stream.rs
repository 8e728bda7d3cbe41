//! [`AgentStream`]: one `/agenthost/agent/1` stream, the connection it runs over
//! ([`StreamPath`]: direct or through which relay), and the count of streams alive on that
//! connection, which lets a relayed connection close once a direct one took over and its last
//! stream ended.

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use futures::{task::AtomicWaker, AsyncRead, AsyncWrite};
use libp2p::{swarm::Stream, Multiaddr};

use crate::wire::{is_circuit, relay_part};

/// The connection a stream runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPath {
    /// The remote address of the connection (for a relayed one, the circuit address).
    pub remote: Multiaddr,
    /// Whether the connection goes through a relay.
    pub relayed: bool,
}

impl StreamPath {
    pub(super) fn new(remote: Multiaddr) -> Self {
        StreamPath {
            relayed: is_circuit(&remote),
            remote,
        }
    }

    /// For a relayed connection, the relay's address (everything before `/p2p-circuit`).
    pub fn relay(&self) -> Option<Multiaddr> {
        relay_part(&self.remote)
    }
}

/// Request streams alive on one connection; the handler is woken when one ends.
#[derive(Default)]
pub(super) struct Activity {
    live: AtomicUsize,
    waker: AtomicWaker,
}

impl Activity {
    /// Streams alive now.
    pub(super) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Wakes `waker` when a stream ends.
    pub(super) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }
}

/// Counts one stream as alive on its connection until dropped.
struct LiveGuard(Arc<Activity>);

impl LiveGuard {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.live.fetch_add(1, Ordering::SeqCst);
        LiveGuard(Arc::clone(activity))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.waker.wake();
    }
}

/// A `/agenthost/agent/1` stream, and the connection it runs over.
pub struct AgentStream {
    inner: Stream,
    path: StreamPath,
    _live: LiveGuard,
}

impl AgentStream {
    pub(super) fn new(inner: Stream, path: StreamPath, activity: &Arc<Activity>) -> Self {
        AgentStream {
            inner,
            path,
            _live: LiveGuard::new(activity),
        }
    }

    /// The connection this stream runs over.
    pub fn path(&self) -> &StreamPath {
        &self.path
    }
}

impl std::fmt::Debug for AgentStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentStream")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for AgentStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for AgentStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
