//! What the store keeps per session: [`SessionStatus`] and [`SessionRecord`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

/// Where a session's latest turn stands (WIRE.md §3, `GET /sessions/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// A turn is in progress. Running records never expire.
    Running,
    /// The turn finished with a result.
    Done,
    /// The turn finished with an error.
    Failed,
    /// The turn was cancelled by the caller or the host.
    Cancelled,
    /// The process running the turn stopped before it finished; set at the next start.
    Interrupted,
}

impl SessionStatus {
    /// Every status, in declaration order.
    pub const ALL: [SessionStatus; 5] = [
        SessionStatus::Running,
        SessionStatus::Done,
        SessionStatus::Failed,
        SessionStatus::Cancelled,
        SessionStatus::Interrupted,
    ];

    /// The lowercase wire (and database) form: `running`, `done`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Done => "done",
            SessionStatus::Failed => "failed",
            SessionStatus::Cancelled => "cancelled",
            SessionStatus::Interrupted => "interrupted",
        }
    }

    /// Parses the lowercase form; `None` for anything else.
    pub fn parse(s: &str) -> Option<SessionStatus> {
        SessionStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True for every status but `Running`.
    pub fn is_terminal(self) -> bool {
        self != SessionStatus::Running
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown session status {0:?} (expected running, done, failed, cancelled or interrupted)")]
pub struct UnknownStatus(pub String);

impl FromStr for SessionStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionStatus::parse(s).ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// One stored session: its latest turn and the conversation after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session's id, the record's primary key.
    pub session_id: String,
    /// The caller's identity string (`0x…` address); `None` for an anonymous caller.
    pub owner: Option<String>,
    /// Where the latest turn stands: running, done, failed, cancelled or interrupted.
    pub status: SessionStatus,
    /// The prompt of the latest turn.
    pub prompt: String,
    /// The latest turn's result; `None` unless it finished `done`.
    pub result: Option<String>,
    /// Why the latest turn did not finish `done`; `None` while running or when done.
    pub error: Option<String>,
    /// The conversation object (`{"session_id","messages","trace","turn",...}`) after the
    /// latest finished turn.
    pub session: Option<Value>,
    /// Unix seconds.
    pub created: f64,
    /// Unix seconds of the latest change; listing is newest first by this.
    pub updated: f64,
    /// Unix seconds after which a non-running record is gone.
    pub expires: f64,
    /// How long the latest turn ran, in milliseconds; `None` while it runs, or if the host died
    /// during it.
    pub duration_ms: Option<u64>,
}

impl SessionRecord {
    /// The record as `GET /sessions/{id}` shows it:
    /// `{"session_id","status","prompt","result"?,"error"?,"duration_ms"?,"created","expires"}`.
    /// Absent optional fields are omitted; the owner and the conversation are never shown.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("session_id".into(), Value::from(self.session_id.as_str()));
        m.insert("status".into(), Value::from(self.status.as_str()));
        m.insert("prompt".into(), Value::from(self.prompt.as_str()));
        if let Some(r) = &self.result {
            m.insert("result".into(), Value::from(r.as_str()));
        }
        if let Some(e) = &self.error {
            m.insert("error".into(), Value::from(e.as_str()));
        }
        if let Some(d) = self.duration_ms {
            m.insert("duration_ms".into(), Value::from(d));
        }
        m.insert("created".into(), Value::from(self.created));
        m.insert("expires".into(), Value::from(self.expires));
        Value::Object(m)
    }

    /// Whether the record is still visible at `now`: running records always are, the
    /// others until `expires`.
    pub fn is_live(&self, now: f64) -> bool {
        self.status == SessionStatus::Running || self.expires >= now
    }
}
