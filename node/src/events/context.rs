//! [`Context`]: what a running agent can see and do besides its input — who is calling, the
//! conversation so far, streaming chunks and events back, and noticing cancellation.

use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{door::Caller, events::Session, wire::Frame};

/// Handed to [`Agent::input`](crate::Agent::input) for one run. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    caller: Caller,
    session: Session,
    events: mpsc::Sender<Frame>,
    /// Events other than STREAM chunks, recorded into the session's trace.
    trace: Mutex<Vec<Value>>,
    cancel: CancellationToken,
}

impl Context {
    pub(crate) fn new(
        caller: Caller,
        session: Session,
        events: mpsc::Sender<Frame>,
        cancel: CancellationToken,
    ) -> Self {
        Context {
            inner: Arc::new(Inner {
                caller,
                session,
                events,
                trace: Mutex::new(Vec::new()),
                cancel,
            }),
        }
    }

    /// Who sent this request.
    pub fn caller(&self) -> &Caller {
        &self.inner.caller
    }

    /// The conversation before this turn (messages, trace, turn number).
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// The id of the session this turn belongs to (new, or the one the caller passed back).
    pub fn session_id(&self) -> &str {
        &self.inner.session.session_id
    }

    /// Sends a chunk of the result to the caller as it is produced. Waits when the caller reads
    /// slower than the agent writes, so a slow reader slows this run only.
    pub async fn stream(&self, chunk: impl Into<String>) {
        self.send(Frame::Stream {
            content: chunk.into(),
        })
        .await;
    }

    /// Sends an agent event: a JSON object whose `type` names it (`thinking`, `tool_call`, ...).
    /// Terminal types are the host's to send; an event that is not an object or claims to be
    /// OUTPUT or ERROR is dropped with a warning rather than ending the reply early.
    pub async fn emit(&self, event: Value) {
        let Value::Object(map) = event else {
            tracing::warn!("agent emitted a non-object event; dropped");
            return;
        };
        match map.get("type").and_then(Value::as_str) {
            None => tracing::warn!("agent emitted an event without a string \"type\"; dropped"),
            Some("OUTPUT" | "ERROR") => {
                tracing::warn!("agent emitted a terminal frame as an event; dropped")
            }
            Some("STREAM") => match map.get("content").and_then(Value::as_str) {
                Some(content) => self.stream(content).await,
                None => tracing::warn!("STREAM event without string content; dropped"),
            },
            Some(_) => {
                self.record(&map);
                self.send(Frame::Event(map)).await;
            }
        }
    }

    /// `{"type":"thinking"}`.
    pub async fn thinking(&self) {
        self.emit(json!({"type": "thinking"})).await;
    }

    /// `{"type":"tool_call","name","args"}`.
    pub async fn tool_call(&self, name: &str, args: Value) {
        self.emit(json!({"type": "tool_call", "name": name, "args": args}))
            .await;
    }

    /// `{"type":"tool_result","name","result","status"}`; status is `success` or `error`.
    pub async fn tool_result(&self, name: &str, result: Value, status: &str) {
        self.emit(json!({"type": "tool_result", "name": name, "result": result, "status": status}))
            .await;
    }

    /// Whether the caller went away (or the host is stopping) and the run should stop.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Completes when the run is cancelled; for `select!` in long agent loops.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await
    }

    pub(crate) fn take_trace(&self) -> Vec<Value> {
        std::mem::take(&mut *self.inner.trace.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, event: &Map<String, Value>) {
        self.inner
            .trace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Value::Object(event.clone()));
    }

    async fn send(&self, frame: Frame) {
        // A closed channel means the caller is gone; cancellation tells the agent, so the
        // lost event needs no error of its own.
        let _ = self.inner.events.send(frame).await;
    }
}
