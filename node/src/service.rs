//! [`AgentService`]: anything that answers requests — the in-process
//! [`Dispatcher`](crate::Dispatcher) of a hosted agent, or a remote agent behind the client.
//! The P2P server and the HTTP gateway are written against this trait only.

use std::sync::Arc;

use crate::{caller::Caller, frame::Request, reply::Reply};

/// Answers requests with streamed replies.
pub trait AgentService: Send + Sync + 'static {
    /// Starts handling `request` from `caller`. Never blocks: admission, queueing and the run
    /// happen behind the returned [`Reply`]; dropping it cancels the request.
    fn call(&self, request: Request, caller: Caller) -> Reply;
}

impl<S: AgentService + ?Sized> AgentService for Arc<S> {
    fn call(&self, request: Request, caller: Caller) -> Reply {
        (**self).call(request, caller)
    }
}
