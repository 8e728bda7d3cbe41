//! Where an admitted turn runs: [`WorkerLimits`] and admission (`admission.rs`: `workers`
//! running at once, a bounded queue behind them, `overloaded` beyond), the turns running now
//! (`running_turns.rs`: one per session, CANCEL, retirement by generation on shutdown and
//! reload), and the run itself (`execute.rs`: a fresh clone of the agent, the outcome recorded
//! before the terminal frame is sent).

mod admission;
mod execute;
mod running_turns;

pub use admission::WorkerLimits;
pub(crate) use admission::WorkerPool;
pub(crate) use execute::{execute, Turn};
pub(crate) use running_turns::{RunningTurns, TurnClaim};
