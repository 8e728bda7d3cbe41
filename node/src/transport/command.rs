//! The typed commands the swarm task takes.

use agenthost_identity::Address;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use super::{config::NodeError, dht::FoundRelay, directory::PeerRecordAddrs};

/// What a [`NodeHandle`](super::NodeHandle) asks of the task that owns the swarm; each carries
/// its reply channel.
pub(super) enum Command {
    Connect {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        /// Dial even while another dial to the peer is in progress.
        alongside: bool,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Discover {
        relay: PeerId,
        namespace: String,
        reply: oneshot::Sender<Result<Vec<PeerRecordAddrs>, NodeError>>,
    },
    ConnectionCount {
        peer: PeerId,
        reply: oneshot::Sender<usize>,
    },
    Identified {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    AwaitDirect {
        peer: PeerId,
        reply: oneshot::Sender<bool>,
    },
    FindRelays {
        via: Vec<(PeerId, Multiaddr)>,
        address: Address,
        reply: oneshot::Sender<Result<Vec<FoundRelay>, NodeError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}
