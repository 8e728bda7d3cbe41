//! The ERROR frames of WIRE.md §4, as every socket sends them: a session's, or a standalone
//! gateway's tunnel refusing a frame.

use serde_json::{json, Map, Value};

use crate::error::ApiError;

pub(crate) fn error_text(message: &str, code: Option<&str>) -> String {
    let mut map = Map::new();
    map.insert("type".into(), json!("ERROR"));
    map.insert("message".into(), json!(message));
    if let Some(code) = code {
        map.insert("code".into(), json!(code));
    }
    Value::Object(map).to_string()
}

pub(crate) fn api_error_text(e: ApiError) -> String {
    let mut map = Map::new();
    map.insert("type".into(), json!("ERROR"));
    map.insert("message".into(), json!(e.message));
    if let Some(code) = e.code {
        map.insert("code".into(), json!(code));
    }
    if let Some(retry) = e.retry_after {
        map.insert("retry_after".into(), json!(retry));
    }
    Value::Object(map).to_string()
}
