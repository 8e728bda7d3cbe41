//! The tool an agent is over MCP: named after the agent, described by it, taking a prompt and
//! optionally the session to continue (and images and files where the agent accepts them),
//! answering `{result, session_id, status}`. Built from the agent's INFO, so it says what the
//! agent says about itself.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest tool name MCP allows (revision 2025-11-25).
const MAX_NAME_LEN: usize = 128;

/// The tool's name for an agent called `agent_name`: MCP allows `A-Z a-z 0-9 _ - .`, 1 to 128
/// of them; anything else becomes `_`, and a name with nothing left is `agent`.
pub(crate) fn tool_name(agent_name: &str) -> String {
    let name: String = agent_name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_LEN)
        .collect();
    if name.trim_matches('_').is_empty() {
        "agent".to_owned()
    } else {
        name
    }
}

/// What the tool needs of INFO (`GET /info`'s body).
#[derive(Debug, Default, Deserialize)]
struct Info {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    accepted_inputs: AcceptedInputs,
}

#[derive(Debug, Default, Deserialize)]
struct AcceptedInputs {
    #[serde(default)]
    images: bool,
    #[serde(default)]
    files: Option<FileLimits>,
}

#[derive(Debug, Deserialize)]
struct FileLimits {
    #[serde(default)]
    max_file_size_mb: Option<f64>,
    #[serde(default)]
    max_files_per_request: Option<u64>,
}

/// The tool of the agent whose INFO body is `info`.
pub(crate) fn agent_tool(info: &Value) -> Tool {
    let info: Info = serde_json::from_value(info.clone()).unwrap_or_default();
    let description = match info.description.as_deref().map(str::trim) {
        Some(d) if !d.is_empty() => d.to_owned(),
        _ => format!(
            "Ask the agent {:?}. Pass session_id from an earlier result to continue that \
             conversation.",
            info.name
        ),
    };
    let mut properties = json!({
        "prompt": {
            "type": "string",
            "description": "What to ask the agent."
        },
        "session_id": {
            "type": "string",
            "description": "The session_id of an earlier result, to continue that \
                            conversation; omit it to start a new one."
        }
    });
    if info.accepted_inputs.images {
        properties["images"] = json!({
            "type": "array",
            "items": {"type": "string"},
            "description": "Images as data URLs (data:image/png;base64,...)."
        });
    }
    if let Some(limits) = &info.accepted_inputs.files {
        let mut files = json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "data": {"type": "string", "description": "The file as a data URL."}
                },
                "required": ["name", "data"]
            },
            "description": format!(
                "Files for the agent, each at most {} MB.",
                limits.max_file_size_mb.unwrap_or(10.0)
            )
        });
        if let Some(max) = limits.max_files_per_request {
            files["maxItems"] = json!(max);
        }
        properties["files"] = files;
    }
    let input = json!({
        "type": "object",
        "properties": properties,
        "required": ["prompt"],
    });
    let output = json!({
        "type": "object",
        "properties": {
            "result": {
                "type": ["string", "null"],
                "description": "The agent's answer; null when the turn did not finish."
            },
            "session_id": {
                "type": ["string", "null"],
                "description": "Pass it back to continue the conversation; the turn is \
                                fetchable by it (GET /sessions/{id}) until it expires."
            },
            "status": {
                "type": "string",
                "enum": ["done", "failed", "cancelled", "interrupted"]
            },
            "error": {"type": "string"}
        },
        "required": ["result", "session_id", "status"]
    });
    let mut tool = Tool::new(tool_name(&info.name), description, object(input))
        .with_raw_output_schema(Arc::new(object(output)))
        .with_annotations(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .open_world(true),
        );
    if !info.name.trim().is_empty() {
        tool = tool.with_title(info.name.trim());
    }
    tool
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_what_mcp_allows_and_replace_the_rest() {
        assert_eq!(tool_name("demo-agent.v2"), "demo-agent.v2");
        assert_eq!(tool_name("my agent ✓"), "my_agent__");
        assert_eq!(tool_name("  "), "agent");
        assert_eq!(tool_name("✓✓"), "agent");
        assert_eq!(tool_name(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn the_tool_says_what_the_agent_accepts() {
        let tool = agent_tool(&json!({
            "name": "helper",
            "description": "Answers questions.",
            "accepted_inputs": {
                "text": true,
                "images": true,
                "files": {"max_file_size_mb": 10, "max_files_per_request": 3}
            }
        }));
        assert_eq!(tool.name, "helper");
        assert_eq!(tool.description.as_deref(), Some("Answers questions."));
        let properties = &tool.input_schema["properties"];
        assert_eq!(properties["prompt"]["type"], "string");
        assert_eq!(properties["files"]["maxItems"], 3);
        assert_eq!(properties["images"]["type"], "array");
        assert_eq!(tool.input_schema["required"], json!(["prompt"]));
        let output = tool.output_schema.as_ref().map(|s| s["required"].clone());
        assert_eq!(output, Some(json!(["result", "session_id", "status"])));
    }

    #[test]
    fn an_agent_without_attachments_takes_only_text() {
        let tool = agent_tool(&json!({"name": "plain", "accepted_inputs": {"text": true}}));
        let properties = tool.input_schema["properties"].as_object().map(|p| p.len());
        assert_eq!(properties, Some(2));
        assert!(tool.description.is_some_and(|d| d.contains("plain")));
    }
}
