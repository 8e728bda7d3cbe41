//! [`AgentService`]: anything that answers requests — the in-process
//! [`Dispatcher`](crate::Dispatcher) of a hosted agent, or a remote agent behind the client.
//! The P2P server and the HTTP gateway are written against this trait only.

use std::{sync::Arc, time::Duration};

use agenthost_identity::{Address, SignedEnvelope};
use futures::future::BoxFuture;

use super::caller::Caller;
use crate::{
    events::Reply,
    wire::{ErrorCode, ErrorFrame, Request},
};

/// What a socket-opening signature opens ([`AgentService::verify_opening`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A SEAL hello.
    Seal,
    /// A CONNECT; `sealed` when it travels inside a seal its own signer opened.
    Connect {
        /// The CONNECT travels inside a seal its own signer opened.
        sealed: bool,
    },
}

#[cfg(feature = "host")]
impl Opening {
    /// What is being opened, as the request span's `kind` names it.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Opening::Seal => "seal",
            Opening::Connect { .. } => "connect",
        }
    }
}

/// What a drain or a retirement did ([`AgentService::drain`]): turns that finished within the grace period and turns interrupted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetireReport {
    /// Turns that ended by themselves within the grace period.
    pub finished: usize,
    /// Turns still running when the grace period ran out, and so interrupted.
    pub interrupted: usize,
}

/// Answers requests with streamed replies: what the P2P server and the gateway are written
/// against, whether the agent runs in this process ([`Dispatcher`](crate::Dispatcher)) or
/// elsewhere.
///
/// ```
/// use agenthost_node::{AgentService, Caller, ErrorCode, Reply, Request};
///
/// /// Stands in for an agent that is down: every request is refused, and says why.
/// struct Maintenance;
///
/// impl AgentService for Maintenance {
///     fn call(&self, _request: Request, _caller: Caller) -> Reply {
///         Reply::error(ErrorCode::Unavailable, "down for maintenance")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let reply = Maintenance.call(Request::input("hello"), Caller::in_process());
/// let refused = reply.output().await.unwrap_err();
/// assert_eq!(refused.error_code(), Some(ErrorCode::Unavailable));
/// # }
/// ```
pub trait AgentService: Send + Sync + 'static {
    /// Starts handling `request` from `caller`. Never blocks: admission, queueing and the run
    /// happen behind the returned [`Reply`]; dropping it cancels the request.
    fn call(&self, request: Request, caller: Caller) -> Reply;

    /// Shutdown: refuses new runs (`unavailable`), lets the runs in flight finish within
    /// `grace`, then interrupts the rest (recorded `interrupted`). A service that runs nothing
    /// itself (a remote agent) has nothing to drain.
    fn drain(&self, _grace: Duration) -> BoxFuture<'static, RetireReport> {
        Box::pin(async { RetireReport::default() })
    }

    /// Reload: like [`AgentService::drain`] for the runs in flight now, while new runs are
    /// admitted as usual.
    fn retire_runs(&self, _grace: Duration) -> BoxFuture<'static, RetireReport> {
        Box::pin(async { RetireReport::default() })
    }

    /// Verifies the signature that opens a socket session, a SEAL hello or a WebSocket
    /// CONNECT (WIRE.md §4), carried by `caller`: the checks of §2.3 with `to` required, single
    /// use unless it is a CONNECT inside a seal (the channel guards it), and for a CONNECT the
    /// trust rules for its signer, as ConnectOnion's host checks them there (no rate limit: the
    /// turns it opens are counted). Returns the signer. Only the agent's own door can answer.
    fn verify_opening(
        &self,
        _envelope: SignedEnvelope,
        _opening: Opening,
        _caller: Caller,
    ) -> BoxFuture<'static, Result<Address, ErrorFrame>> {
        Box::pin(async {
            Err(ErrorFrame::new(
                ErrorCode::Internal,
                "this service cannot verify socket signatures: it is not the agent's door",
            ))
        })
    }
}

impl<S: AgentService + ?Sized> AgentService for Arc<S> {
    fn call(&self, request: Request, caller: Caller) -> Reply {
        (**self).call(request, caller)
    }

    fn drain(&self, grace: Duration) -> BoxFuture<'static, RetireReport> {
        (**self).drain(grace)
    }

    fn retire_runs(&self, grace: Duration) -> BoxFuture<'static, RetireReport> {
        (**self).retire_runs(grace)
    }

    fn verify_opening(
        &self,
        envelope: SignedEnvelope,
        opening: Opening,
        caller: Caller,
    ) -> BoxFuture<'static, Result<Address, ErrorFrame>> {
        (**self).verify_opening(envelope, opening, caller)
    }
}
