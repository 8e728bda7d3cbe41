//! The conversation a caller carries between turns: the `session` object of WIRE.md §3
//! (`{"session_id","messages":[{"role","content"}],"trace":[...],"turn":N,...}`).
//!
//! The caller holds it and passes it back; the agent reads the history from its
//! [`Context`](crate::Context) and the host appends the new turn to it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote the message: `"user"` for a prompt, `"assistant"` for a result.
    pub role: String,
    /// The message text: the turn's prompt or its result.
    pub content: String,
}

/// `null` reads as the default: clients that write absent fields as `null` are common.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The session object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id (a UUIDv7); a fresh one is assigned when the caller's is empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub session_id: String,
    /// The conversation so far, a user and an assistant message per completed turn.
    #[serde(default, deserialize_with = "null_as_default")]
    pub messages: Vec<Message>,
    /// Events of past turns (tool calls and the like), kept for clients that show them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub trace: Vec<Value>,
    /// Turns completed in this session; each recorded turn adds one.
    #[serde(default, deserialize_with = "null_as_default")]
    pub turn: u64,
    /// Fields other clients put in the object; kept so they survive a round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Session {
    /// A new, empty session with a fresh id: a UUIDv7, 74 random bits after a millisecond
    /// timestamp. Still unguessable (an anonymous session's id is its capability), and new ids
    /// sort last, so the store's primary-key index grows at its right edge instead of taking
    /// a random page per insert (measured: with v4 ids, HTTP INPUT throughput halved as the
    /// table grew past 100k rows).
    pub fn new() -> Self {
        Session {
            session_id: new_session_id(),
            ..Session::default()
        }
    }

    /// Continues the session a caller passed back, or starts a new one. A session object
    /// that does not parse is an error: silently starting over would lose the conversation.
    pub fn resume(value: Option<&Value>) -> Result<Self, String> {
        match value {
            None | Some(Value::Null) => Ok(Session::new()),
            Some(v) => {
                let mut session: Session = serde_json::from_value(v.clone())
                    .map_err(|e| format!("invalid session object: {e}"))?;
                if session.session_id.is_empty() {
                    session.session_id = new_session_id();
                }
                Ok(session)
            }
        }
    }

    /// Whether the object names the session and nothing more: no turn, no message, no trace.
    pub fn is_bare(&self) -> bool {
        self.turn == 0 && self.messages.is_empty() && self.trace.is_empty()
    }

    /// Appends one completed turn.
    pub fn record_turn(&mut self, prompt: &str, result: &str, events: Vec<Value>) {
        self.messages.push(Message {
            role: "user".into(),
            content: prompt.into(),
        });
        self.messages.push(Message {
            role: "assistant".into(),
            content: result.into(),
        });
        self.trace.extend(events);
        self.turn += 1;
    }

    /// The session object as JSON, as sent back in OUTPUT (`null` if it cannot serialize).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A fresh session id (see [`Session::new`]).
pub fn new_session_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_turn_extends_the_history_and_keeps_foreign_fields() {
        let passed = json!({"session_id":"abc","messages":[],"turn":0,"client_state":{"x":1}});
        let mut s = Session::resume(Some(&passed)).unwrap();
        s.record_turn("hi", "hello", vec![json!({"type":"thinking"})]);
        let out = s.to_json();
        assert_eq!(out["session_id"], "abc");
        assert_eq!(out["turn"], 1);
        assert_eq!(out["messages"][1]["content"], "hello");
        assert_eq!(out["client_state"]["x"], 1);
        assert_eq!(out["trace"][0]["type"], "thinking");
    }

    #[test]
    fn a_malformed_session_is_refused() {
        assert!(Session::resume(Some(&json!({"messages": "nope"}))).is_err());
        assert!(Session::resume(Some(&json!(42))).is_err());
        assert!(!Session::resume(None).unwrap().session_id.is_empty());
    }
}
