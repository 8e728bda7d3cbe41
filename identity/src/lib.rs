//! Identities for agenthost: who an agent is, and how to prove who sent a
//! request. Everything here follows the wire contract (WIRE.md sections 1
//! and 2) and stays compatible with ConnectOnion's Python reference.
//!
//! The crate is laid out one concept per module:
//!
//! * `address` — [`Address`], the raw ed25519 public key that names an agent
//!   or caller, spelled `0x…` or as a libp2p PeerId `12D3KooW…`;
//!   [`AddressError`] says why a string is not one.
//!
//! * `agent_key` — [`AgentKey`], the agent's private key: signs payloads and
//!   doubles as its libp2p identity, so address and PeerId always match.
//!
//! * `key_file` — the key on disk (`.agenthost/keys/agent.key`, a raw 32-byte
//!   seed, mode 0600): [`load_key`], [`create_key`] (atomic, never
//!   overwrites), [`load_or_create_key`].
//!
//! * `canonical` — [`canonical_json`] and [`canonical_json_utf8`], the exact
//!   bytes a signature covers.
//!
//! * `envelope` — [`SignedEnvelope`] (`{payload, from, signature}`), signing,
//!   and [`verify_envelope`], which runs the six checks of WIRE.md 2.3 in
//!   order against [`EnvelopeChecks`] and reports failures as
//!   [`EnvelopeError`] (each with its client-facing message).
//!
//! * `replay` — the [`ReplayLedger`] trait that makes each signature
//!   single-use, and [`MemoryReplayLedger`], its in-process implementation.
//!
//! Everything that parses network input returns errors instead of panicking.

#![warn(missing_docs)]

pub mod address;
pub mod agent_key;
pub mod canonical;
pub mod envelope;
pub mod key_file;
pub mod replay;

pub use address::{Address, AddressError, DHT_PROTOCOL};
pub use agent_key::AgentKey;
pub use canonical::{canonical_json, canonical_json_utf8};
pub use envelope::{
    now_secs, verify_envelope, EnvelopeChecks, EnvelopeError, SignedEnvelope, VerifiedSigner,
    DEFAULT_MAX_SKEW_SECS,
};
pub use key_file::{create_key, load_key, load_or_create_key, KeyFileError, DEFAULT_KEY_FILE};
pub use replay::{LedgerError, MemoryReplayLedger, ReplayLedger};
