//! agenthost-relay: the relay that makes agents behind NATs reachable.
//!
//! Not built yet (its own issue): a circuit relay v2 server with limits fit for long streaming
//! sessions, a directory of agent addresses, access lists and metrics. It identifies itself
//! with the same key files as agents, through `agenthost-identity`.

pub use agenthost_identity::AgentKey;
