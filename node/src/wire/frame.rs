//! The JSON frames of the agent protocol (WIRE.md §4–5): the caller's request and the
//! agent's reply frames. The same types serve the P2P stream, the gateway's WebSocket and
//! the in-process path, so every path speaks one vocabulary.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{ErrorCode, ErrorFrame};

/// The first (and only) frame a caller sends on a request stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum Request {
    /// Run the agent on a prompt.
    Input(InputRequest),
    /// The agent's description, answered with the body of `GET /info`.
    Info {},
    /// Liveness, answered with the body of `GET /health`.
    Health {},
    /// One session record (the body of `GET /sessions/{id}`); only its owner sees it.
    Session {
        /// The id of the session to show.
        session_id: String,
        /// A signed GET forwarded by a gateway (WIRE.md §2.5): its signer is the caller.
        #[serde(flatten)]
        signed: SignedFields,
    },
    /// The caller's own sessions, newest first (the body of `GET /sessions`).
    Sessions {
        /// Most sessions to list; absent or larger means 100.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        /// The envelope of a signed GET forwarded by a gateway: its signer is the caller.
        #[serde(flatten)]
        signed: SignedFields,
    },
    /// Cancels the caller's running turn of a session.
    Cancel {
        /// The id of the session whose running turn to cancel.
        session_id: String,
        /// The envelope of a signed request forwarded by a gateway: its signer is the caller.
        #[serde(flatten)]
        signed: SignedFields,
    },
}

/// The envelope fields of a signed request that is not an INPUT: a signed GET rebuilt by a
/// gateway from its `X-Co-*` headers (WIRE.md §2.5). The agent verifies it end to end, so a
/// gateway cannot act for a caller whose key it does not hold. All empty when unsigned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignedFields {
    /// The signed JSON: the GET's `method` and `path`, with its `timestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The signer's address, `0x` form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The signer's signature over the canonical JSON of `payload`, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl SignedFields {
    /// Whether any envelope field is present; a request with one must verify as signed.
    pub fn is_signed(&self) -> bool {
        self.payload.is_some() || self.from.is_some() || self.signature.is_some()
    }
}

impl Request {
    /// A plain input request for `prompt`.
    pub fn input(prompt: impl Into<String>) -> Self {
        Request::Input(InputRequest {
            prompt: Some(prompt.into()),
            ..InputRequest::default()
        })
    }

    /// Parses a request frame, turning any mistake into the ERROR frame that reports it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ErrorFrame> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ErrorFrame::new(ErrorCode::BadRequest, format!("invalid JSON: {e}")))?;
        if !value.is_object() {
            return Err(ErrorFrame::new(
                ErrorCode::BadRequest,
                "request must be a JSON object with a \"type\"",
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| ErrorFrame::new(ErrorCode::BadRequest, format!("invalid request: {e}")))
    }

    /// One session record, unsigned (the caller is who the transport says).
    pub fn session(session_id: impl Into<String>) -> Self {
        Request::Session {
            session_id: session_id.into(),
            signed: SignedFields::default(),
        }
    }

    /// The caller's sessions, unsigned.
    pub fn sessions() -> Self {
        Request::Sessions {
            limit: None,
            signed: SignedFields::default(),
        }
    }

    /// Cancels a running turn, unsigned.
    pub fn cancel(session_id: impl Into<String>) -> Self {
        Request::Cancel {
            session_id: session_id.into(),
            signed: SignedFields::default(),
        }
    }

    /// Short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Input(_) => "INPUT",
            Request::Info {} => "INFO",
            Request::Health {} => "HEALTH",
            Request::Session { .. } => "SESSION",
            Request::Sessions { .. } => "SESSIONS",
            Request::Cancel { .. } => "CANCEL",
        }
    }
}

/// Fields of an INPUT request: the plain form (`prompt`, `session`, `images`, `files`) or the
/// signed envelope form (`payload`, `from`, `signature`, WIRE.md §2.1), whose payload holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputRequest {
    /// The text to run the agent on; required, here or in the signed payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The `session` object of a previous OUTPUT, to continue that conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Value>,
    /// Images as data URLs.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub images: Vec<String>,
    /// Files as `{name, data}` with data URLs.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub files: Vec<FileInput>,
    /// Keep running when the caller disconnects; the result is fetched later by session id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detached: bool,
    /// The signed payload holding the request's fields; its copies win over the plain ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The signer's address, `0x` form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The signer's signature over the canonical JSON of `payload`, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl InputRequest {
    /// Whether any envelope field is present; a request with one must verify as signed.
    pub fn is_signed(&self) -> bool {
        self.payload.is_some() || self.from.is_some() || self.signature.is_some()
    }
}

/// `null` reads as an empty list: clients that serialize absent lists as `null` are common.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A file attached to an input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInput {
    /// The client's file name; it is made safe before the file is saved.
    pub name: String,
    /// A data URL (`data:<mime>;base64,...`).
    pub data: String,
}

/// One frame of an agent's reply. Exactly one terminal frame (`Output`, `Error` or
/// `Response`) ends every reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `{"type":"STREAM","content"}`: a chunk of the result as the agent produces it.
    Stream {
        /// The chunk's text.
        content: String,
    },
    /// Any other agent event (`thinking`, `tool_call`, `tool_result`, ...): a JSON object
    /// whose `type` names it.
    Event(Map<String, Value>),
    /// `{"type":"detached","session_id"}`: a detached INPUT was admitted and runs under this
    /// session id; its caller may go (the result stays fetchable).
    Detached {
        /// The id the run is recorded under; the result is fetched with it.
        session_id: String,
    },
    /// `{"type":"OUTPUT",...}`: the result of an INPUT.
    Output(OutputFrame),
    /// `{"type":"ERROR","message","code"?}`.
    Error(ErrorFrame),
    /// The JSON body answering INFO or HEALTH (the same body as the HTTP route).
    Response(Value),
}

impl Frame {
    /// Whether this frame ends the reply.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Frame::Output(_) | Frame::Error(_) | Frame::Response(_)
        )
    }

    /// The frame as it travels.
    pub fn to_json(&self) -> Value {
        match self {
            Frame::Stream { content } => {
                serde_json::json!({"type": "STREAM", "content": content})
            }
            Frame::Event(map) => Value::Object(map.clone()),
            Frame::Detached { session_id } => {
                serde_json::json!({"type": DETACHED, "session_id": session_id})
            }
            Frame::Output(out) => tagged("OUTPUT", out),
            Frame::Error(err) => tagged("ERROR", err),
            Frame::Response(body) => body.clone(),
        }
    }

    /// Serialized bytes of [`Frame::to_json`].
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing a `Value` cannot fail: every key is a string.
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }

    /// Reads a reply frame. A JSON object without `type` is a terminal `Response`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON frame: {e}"))?;
        let Value::Object(map) = value else {
            return Err("frame is not a JSON object".into());
        };
        let kind = map.get("type").and_then(Value::as_str).map(str::to_owned);
        let value = Value::Object(map);
        match kind.as_deref() {
            None => Ok(Frame::Response(value)),
            Some("STREAM") => {
                let content = value
                    .get("content")
                    .and_then(Value::as_str)
                    .ok_or("STREAM frame without string content")?;
                Ok(Frame::Stream {
                    content: content.to_owned(),
                })
            }
            Some(DETACHED) if value.get("session_id").is_some_and(Value::is_string) => {
                Ok(Frame::Detached {
                    session_id: value["session_id"].as_str().unwrap_or_default().to_owned(),
                })
            }
            Some("OUTPUT") => serde_json::from_value(value)
                .map(Frame::Output)
                .map_err(|e| format!("invalid OUTPUT frame: {e}")),
            Some("ERROR") => serde_json::from_value(value)
                .map(Frame::Error)
                .map_err(|e| format!("invalid ERROR frame: {e}")),
            Some(_) => match value {
                Value::Object(map) => Ok(Frame::Event(map)),
                _ => unreachable!("checked above"),
            },
        }
    }
}

/// The `type` of [`Frame::Detached`].
const DETACHED: &str = "detached";

fn tagged<T: Serialize>(kind: &str, body: &T) -> Value {
    let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        // `type` first reads better on the wire; serde_json keeps insertion order only with
        // `preserve_order`, so ordering is cosmetic and not relied upon.
        map.insert("type".into(), Value::String(kind.into()));
    }
    value
}

/// The terminal frame of a successful INPUT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputFrame {
    /// The agent's answer.
    pub result: String,
    /// The session this turn belongs to, new or continued.
    pub session_id: String,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
    /// The updated session object; pass it back in the next INPUT to continue.
    pub session: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_parse_by_type() {
        let r = Request::from_json(br#"{"type":"INPUT","prompt":"hi"}"#).unwrap();
        assert_eq!(r, Request::input("hi"));
        assert_eq!(
            Request::from_json(br#"{"type":"INFO"}"#).unwrap(),
            Request::Info {}
        );
        assert_eq!(
            Request::from_json(br#"{"type":"HEALTH","extra":1}"#).unwrap(),
            Request::Health {}
        );
    }

    #[test]
    fn bad_requests_become_bad_request_errors() {
        for bad in [
            &b"not json"[..],
            br#"[1,2]"#,
            br#"{"prompt":"no type"}"#,
            br#"{"type":"DANCE"}"#,
            br#"{"type":"INPUT","prompt":42}"#,
        ] {
            let err = Request::from_json(bad).unwrap_err();
            assert_eq!(err.error_code(), Some(ErrorCode::BadRequest), "{err}");
        }
    }

    #[test]
    fn frames_roundtrip_through_json() {
        let frames = [
            Frame::Stream {
                content: "a b".into(),
            },
            Frame::Event(
                json!({"type":"tool_call","name":"add","args":{"a":1}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            Frame::Output(OutputFrame {
                result: "r".into(),
                session_id: "s".into(),
                duration_ms: 3,
                session: json!({"turn":1}),
            }),
            Frame::Error(ErrorFrame::new(ErrorCode::Overloaded, "busy").with_retry_after(1)),
            Frame::Response(json!({"status":"healthy"})),
        ];
        for frame in frames {
            let back = Frame::from_json(&frame.to_bytes()).unwrap();
            assert_eq!(back, frame);
        }
    }

    #[test]
    fn output_frame_has_wire_shape() {
        let frame = Frame::Output(OutputFrame {
            result: "r".into(),
            session_id: "s".into(),
            duration_ms: 3,
            session: json!({}),
        });
        assert_eq!(
            frame.to_json(),
            json!({"type":"OUTPUT","result":"r","session_id":"s","duration_ms":3,"session":{}})
        );
    }
}
