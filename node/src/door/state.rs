//! What the door knows: the agent's identity, the prototype agent every run clones, its limits,
//! trust, the session store and replay ledger, and the turns running now. One [`DoorState`] is
//! shared (`Arc`) by the dispatcher and every request it is handling.

use std::{path::PathBuf, sync::Arc, time::Instant};

use agenthost_identity::Address;
use libp2p::PeerId;

use crate::{
    agent::AgentInfo,
    inputs::InputLimits,
    store::{SessionStore, SqliteReplayLedger},
    transport::{SharedAddrs, SharedRelayStatus},
    trust::Gatekeeper,
    worker::{RunningTurns, WorkerPool},
};

/// The hosted agent's identity as INFO reports it.
#[derive(Debug, Clone)]
pub struct HostIdentity {
    /// The agent's `0x…` address, from its key.
    pub address: Address,
    /// The libp2p PeerId of the agent's node, used in its `/p2p/` listen addresses.
    pub peer_id: PeerId,
}

/// What the door knows, shared by the dispatcher and every request it is handling.
pub(crate) struct DoorState<A> {
    /// The prototype every run clones.
    pub agent: A,
    pub info: AgentInfo,
    pub identity: HostIdentity,
    pub pool: WorkerPool,
    pub started: Instant,
    pub listen_addrs: SharedAddrs,
    pub relays: SharedRelayStatus,
    pub gatekeeper: Arc<Gatekeeper>,
    pub store: SessionStore,
    pub ledger: SqliteReplayLedger,
    pub input_limits: InputLimits,
    pub data_dir: PathBuf,
    /// The turns running now, for busy checks, CANCEL, shutdown and reload.
    pub running: RunningTurns,
}
