//! Trust: who may call a hosted agent (docs/decisions/0006-trust-order.md, WIRE.md §2.3).
//!
//! The dispatcher establishes who is calling — the Noise-authenticated peer, or the verified
//! signer of a signed envelope, or nobody — and how the request came, as [`CallerFacts`]. Before
//! the request takes a worker it asks the agent's [`Gatekeeper`], which decides in a fixed order:
//! blacklist (refuse) → whitelist (admit) → admins (admit) → the [`Trust`] level, policy or
//! custom rule; then admitted callers other than admins pass a per-caller rate limit. A refusal
//! is a [`Refusal`] whose Display is the wire message (`forbidden: blacklisted`).
//!
//! One concept per file under `trust/`:
//! - `facts` — [`CallerFacts`] and [`Arrival`]: what trust sees of a request, never the prompt;
//! - `refusal` — [`Refusal`] and [`RefusalKind`] (401 / 403 / 429);
//! - `level` — [`Trust`] (`open`, `careful`, `strict`, a policy text, a custom [`TrustPolicy`])
//!   and how a `--trust` value is parsed;
//! - `judge` — natural-language policies: the [`PolicyJudge`] trait, its [`Verdict`], and the
//!   per-caller verdict cache and request counts;
//! - `lists` — whitelist, blacklist and admins: code values merged with files that are re-read
//!   when they change (how, and why lazily, is explained there);
//! - `rate_limit` — [`RateLimit`] and the per-caller limiter;
//! - `config` — [`TrustConfig`], what a gatekeeper is built from;
//! - `gatekeeper` — [`Gatekeeper`], which puts the pieces together in order;
//! - `error` — [`TrustError`], configuration errors (a refused request is not one).

mod config;
mod error;
mod facts;
mod gatekeeper;
mod judge;
mod level;
mod lists;
mod rate_limit;
mod refusal;

pub use config::{TrustConfig, DEFAULT_POLICY_CACHE_TTL};
pub use error::TrustError;
pub use facts::{Arrival, CallerFacts};
pub use gatekeeper::Gatekeeper;
pub use judge::{PolicyJudge, Verdict};
pub use level::{Trust, TrustPolicy};
pub use rate_limit::RateLimit;
pub use refusal::{Refusal, RefusalKind};
