//! The door's answers as MCP sees them, in one place. A turn that ran and did not finish
//! (the agent failed, the run was cancelled or interrupted) is a tool result with
//! `isError: true`, so the model reads why. A request the door refused before running it is
//! a JSON-RPC error: invalid params (`-32602`) for a bad request, otherwise a server error
//! (`-32000`) whose `data` holds our error code and, when a retry may succeed, `retry_after`
//! in seconds (docs/mcp.md).

use agenthost_node::{ErrorCode, ErrorFrame};
use rmcp::{
    model::{CallToolResult, ContentBlock},
    ErrorData as McpError,
};
use serde_json::{json, Value};

/// JSON-RPC's first implementation-defined server error: the door refused the call.
pub(crate) const REFUSED: rmcp::model::ErrorCode = rmcp::model::ErrorCode(-32000);

/// How a call that ended in `error` is answered.
pub(crate) fn call_error(
    error: &ErrorFrame,
    session_id: Option<&str>,
) -> Result<CallToolResult, McpError> {
    let code = error.error_code();
    let status = match code {
        Some(ErrorCode::AgentError | ErrorCode::Timeout) => "failed",
        Some(ErrorCode::Cancelled) => "cancelled",
        Some(ErrorCode::Interrupted) => "interrupted",
        Some(ErrorCode::BadRequest | ErrorCode::TooLarge | ErrorCode::NotFound) => {
            return Err(McpError::invalid_params(error.message.clone(), data(error)));
        }
        _ => return Err(McpError::new(REFUSED, error.message.clone(), data(error))),
    };
    Ok(failed_turn(status, &error.message, session_id))
}

/// A turn that ran and did not finish: `isError`, with the same structured shape as a result.
pub(crate) fn failed_turn(status: &str, message: &str, session_id: Option<&str>) -> CallToolResult {
    let mut result = CallToolResult::structured_error(json!({
        "result": null,
        "session_id": session_id,
        "status": status,
        "error": message,
    }));
    result.content = vec![ContentBlock::text(message.to_owned())];
    result
}

/// `{"code", "retry_after"?}` for a JSON-RPC error's `data`.
fn data(error: &ErrorFrame) -> Option<Value> {
    let mut data = json!({ "code": error.code.as_deref().unwrap_or("internal") });
    if let Some(seconds) = error.retry_after {
        data["retry_after"] = json!(seconds);
    }
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_that_ran_is_a_tool_error() {
        let failed = ErrorFrame::new(ErrorCode::AgentError, "boom");
        let result = call_error(&failed, Some("s1")).unwrap();
        assert_eq!(result.is_error, Some(true));
        let structured = result.structured_content.unwrap();
        assert_eq!(structured["status"], "failed");
        assert_eq!(structured["session_id"], "s1");
        let cancelled = ErrorFrame::new(ErrorCode::Cancelled, "cancelled");
        let result = call_error(&cancelled, None).unwrap();
        assert_eq!(result.structured_content.unwrap()["status"], "cancelled");
    }

    #[test]
    fn a_refusal_is_a_json_rpc_error_with_retry_advice() {
        let overloaded =
            ErrorFrame::new(ErrorCode::Overloaded, "overloaded: retry later").with_retry_after(1);
        let error = call_error(&overloaded, None).unwrap_err();
        assert_eq!(error.code, REFUSED);
        let data = error.data.unwrap();
        assert_eq!(data["code"], "overloaded");
        assert_eq!(data["retry_after"], 1);

        let forbidden = ErrorFrame::new(ErrorCode::Forbidden, "forbidden: blacklisted");
        let error = call_error(&forbidden, None).unwrap_err();
        assert_eq!(error.message, "forbidden: blacklisted");
        assert!(error.data.unwrap().get("retry_after").is_none());
    }

    #[test]
    fn a_bad_request_is_invalid_params() {
        let bad = ErrorFrame::new(ErrorCode::BadRequest, "missing prompt");
        let error = call_error(&bad, None).unwrap_err();
        assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS);
    }
}
