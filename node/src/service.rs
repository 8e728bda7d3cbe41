//! [`AgentService`]: anything that answers requests — the in-process
//! [`Dispatcher`](crate::Dispatcher) of a hosted agent, or a remote agent behind the client.
//! The P2P server and the HTTP gateway are written against this trait only.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;

use crate::{caller::Caller, frame::Request, reply::Reply, running_turns::RetireReport};

/// Answers requests with streamed replies.
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
}
