//! What a command says: stdout read line by line into events and a result, stderr logged
//! with its tail kept to explain failures, and no line allowed to grow memory without bound.

use std::io;

use serde_json::{Map, Value};
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, BufReader},
    process::{ChildStderr, ChildStdout},
};

use crate::{agent::AgentError, events::Context};

/// Stderr lines longer than this are logged in pieces, so one endless line cannot grow memory.
const STDERR_LINE_BYTES: usize = 64 * 1024;

/// Logs stderr line by line and keeps its tail for error messages.
pub(super) async fn log_stderr(
    stderr: ChildStderr,
    command: &str,
    pid: u32,
    tail: &mut TailBuffer,
) -> Result<(), AgentError> {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        // A read error on stderr must not fail the turn: stderr is for humans.
        match read_line(&mut reader, &mut line, STDERR_LINE_BYTES).await {
            Ok(LineRead::Eof) => return Ok(()),
            Ok(LineRead::Line | LineRead::Partial) => {
                let text = String::from_utf8_lossy(&line);
                tracing::info!(command, pid, "stderr: {}", text.trim_end_matches('\r'));
                tail.push(&line);
                tail.push(b"\n");
            }
            Err(e) => {
                tracing::debug!(command, pid, error = %e, "reading stderr failed");
                return Ok(());
            }
        }
    }
}

/// What the command's stdout amounts to: its events are forwarded as they arrive, and the
/// result is the last OUTPUT or else the plain text.
pub(super) struct StdoutCollector {
    max_bytes: usize,
    output: Option<String>,
    plain: String,
    plain_lines: usize,
}

impl StdoutCollector {
    pub(super) fn new(max_bytes: usize) -> Self {
        StdoutCollector {
            max_bytes,
            output: None,
            plain: String::new(),
            plain_lines: 0,
        }
    }

    pub(super) async fn read(
        &mut self,
        stdout: ChildStdout,
        cx: &Context,
    ) -> Result<(), AgentError> {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            match read_line(&mut reader, &mut line, self.max_bytes).await? {
                LineRead::Eof => return Ok(()),
                LineRead::Partial => {
                    return Err(AgentError::msg(format!(
                        "command wrote a stdout line longer than {} bytes",
                        self.max_bytes
                    )))
                }
                LineRead::Line => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.strip_suffix('\r').unwrap_or(&text);
            match parse_event(text) {
                Some(event) => self.handle_event(event, cx).await?,
                None => self.push_plain(text)?,
            }
        }
    }

    async fn handle_event(
        &mut self,
        mut event: Map<String, Value>,
        cx: &Context,
    ) -> Result<(), AgentError> {
        match event.get("type").and_then(Value::as_str) {
            Some("STREAM") => match event.remove("content") {
                Some(content) if !content.is_null() => cx.stream(as_text(content)).await,
                _ => tracing::warn!("STREAM line without content; ignored"),
            },
            Some("OUTPUT") => {
                // A missing result is an empty one: the author said the turn is done.
                self.output = Some(event.remove("result").map(as_text).unwrap_or_default());
            }
            Some("ERROR") => {
                let message = event
                    .remove("message")
                    .map(as_text)
                    .unwrap_or_else(|| "the command reported an error".into());
                return Err(AgentError::msg(message));
            }
            _ => cx.emit(Value::Object(event)).await,
        }
        Ok(())
    }

    pub(super) fn push_plain(&mut self, line: &str) -> Result<(), AgentError> {
        let separator = usize::from(self.plain_lines > 0);
        if self.plain.len() + separator + line.len() > self.max_bytes {
            return Err(AgentError::msg(format!(
                "command wrote more than {} bytes of plain output",
                self.max_bytes
            )));
        }
        if separator == 1 {
            self.plain.push('\n');
        }
        self.plain.push_str(line);
        self.plain_lines += 1;
        Ok(())
    }

    pub(super) fn into_result(self) -> String {
        self.output.unwrap_or(self.plain)
    }
}

/// A stdout line is an event when it is a JSON object with a string `type`. Anything else,
/// including JSON that is not such an object, is plain output.
fn parse_event(line: &str) -> Option<Map<String, Value>> {
    // Most plain lines are not JSON at all; skip the parser for them.
    if !line.trim_start().starts_with('{') {
        return None;
    }
    match serde_json::from_str(line) {
        Ok(Value::Object(map)) if map.get("type").is_some_and(Value::is_string) => Some(map),
        _ => None,
    }
}

/// A string as is; any other JSON value as its JSON text.
fn as_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LineRead {
    /// A whole line (the last one may lack its newline).
    Line,
    /// `max` bytes of a line that goes on.
    Partial,
    /// The end of the stream, with nothing read.
    Eof,
}

/// Reads one line into `line` (cleared first, newline not included), never holding more than
/// `max` bytes: unlike `read_until`, a child writing endlessly without a newline cannot grow
/// memory without bound.
pub(super) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    line.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if line.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let content = newline.unwrap_or(available.len());
        let room = max - line.len();
        if content > room {
            line.extend_from_slice(&available[..room]);
            reader.consume(room);
            return Ok(LineRead::Partial);
        }
        line.extend_from_slice(&available[..content]);
        match newline {
            Some(_) => {
                reader.consume(content + 1);
                return Ok(LineRead::Line);
            }
            None => reader.consume(content),
        }
    }
}

/// The last `capacity` bytes written to it.
pub(super) struct TailBuffer {
    bytes: Vec<u8>,
    capacity: usize,
    truncated: bool,
}

impl TailBuffer {
    pub(super) fn new(capacity: usize) -> Self {
        TailBuffer {
            bytes: Vec::new(),
            capacity,
            truncated: false,
        }
    }

    pub(super) fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > self.capacity {
            let excess = self.bytes.len() - self.capacity;
            self.bytes.drain(..excess);
            self.truncated = true;
        }
    }

    /// The tail as text; a cut-off start is marked with `...`.
    pub(super) fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        let text = text.trim();
        if self.truncated && !text.is_empty() {
            // The cut may have split a character; drop the replacement char it left.
            format!("...{}", text.trim_start_matches('\u{FFFD}'))
        } else {
            text.to_owned()
        }
    }
}

/// `message: <stderr tail>`, or just `message` when stderr was empty.
pub(super) fn with_tail(message: String, tail: &TailBuffer) -> AgentError {
    let tail = tail.text();
    if tail.is_empty() {
        AgentError::msg(message)
    } else {
        AgentError::msg(format!("{message}: {tail}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<(Vec<u8>, LineRead)> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            let read = read_line(&mut reader, &mut line, max).await.unwrap();
            if read == LineRead::Eof {
                return out;
            }
            out.push((line.clone(), read));
        }
    }

    #[tokio::test]
    async fn lines_are_split_and_bounded() {
        let got = lines(b"ab\n\ncdefghij\nxy", 5).await;
        assert_eq!(
            got,
            vec![
                (b"ab".to_vec(), LineRead::Line),
                (b"".to_vec(), LineRead::Line),
                (b"cdefg".to_vec(), LineRead::Partial),
                (b"hij".to_vec(), LineRead::Line),
                (b"xy".to_vec(), LineRead::Line),
            ]
        );
    }

    #[test]
    fn only_objects_with_a_string_type_are_events() {
        assert!(parse_event(r#"{"type":"STREAM","content":"x"}"#).is_some());
        assert!(parse_event(r#"  {"type":"tool_call"}"#).is_some());
        assert!(parse_event(r#"{"type":3}"#).is_none());
        assert!(parse_event(r#"{"content":"x"}"#).is_none());
        assert!(parse_event(r#"["type"]"#).is_none());
        assert!(parse_event("{not json").is_none());
        assert!(parse_event("hello").is_none());
    }

    #[test]
    fn the_tail_keeps_the_end() {
        let mut tail = TailBuffer::new(8);
        tail.push(b"0123456789\n");
        tail.push(b"abc\n");
        assert_eq!(tail.text(), "...789\nabc");
        assert_eq!(TailBuffer::new(8).text(), "");
    }
}
