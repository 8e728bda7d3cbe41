//! [`CommandAgent`]: hosts any executable as an agent, one process per request
//! (`agenthost host -- python3 agent.py`).
//!
//! The protocol (docs/command-agent.md has the author's view):
//! - the host starts the command, writes the request as one JSON line to its stdin and closes
//!   stdin;
//! - every stdout line that is a JSON object with a string `type` is an event: `STREAM` chunks,
//!   the `OUTPUT` result (the last one wins), an `ERROR` that fails the turn, or any other event
//!   (`tool_call`, `thinking`, ...) passed on as is;
//! - every other stdout line is plain output, buffered (not streamed) and used as the result when
//!   no `OUTPUT` came;
//! - stderr goes to the log, and its tail explains failures;
//! - a non-zero exit, the timeout, cancellation or too much output end the turn with an error,
//!   and the process is killed if it still runs.

use std::{
    io,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use serde_json::{json, Map, Value};
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStderr, ChildStdin, ChildStdout, Command},
};

use crate::{
    agent::{Agent, AgentError, AgentInfo, Input, Output},
    events::Context,
};

/// How long a request may run unless [`CommandAgent::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The most stdout a request may produce unless [`CommandAgent::max_output_bytes`] says
/// otherwise: the limit of one line, and of all plain (non-event) lines together.
pub(super) const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// How much of the end of stderr is kept to explain a failure.
const STDERR_TAIL_BYTES: usize = 4 * 1024;

/// Stderr lines longer than this are logged in pieces, so one endless line cannot grow memory.
const STDERR_LINE_BYTES: usize = 64 * 1024;

/// An agent that runs a command for every request.
///
/// ```no_run
/// use std::time::Duration;
/// use agenthost_node::CommandAgent;
///
/// let agent = CommandAgent::new("python3", vec!["agent.py".into()])
///     .timeout(Duration::from_secs(60))
///     .env("MODEL", "small");
/// ```
#[derive(Debug, Clone)]
pub struct CommandAgent {
    program: String,
    args: Vec<String>,
    name: String,
    timeout: Duration,
    current_dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    max_output_bytes: usize,
}

impl CommandAgent {
    /// Runs `program` with `args` per request. A program without a slash is looked up on `PATH`.
    pub fn new(program: impl Into<String>, args: Vec<String>) -> Self {
        let program = program.into();
        let name = Path::new(&program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.clone());
        CommandAgent {
            program,
            args,
            name,
            timeout: DEFAULT_TIMEOUT,
            current_dir: None,
            env: Vec::new(),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    /// How long one request may run before its process is killed (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The working directory of the process (default: the host's).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// An environment variable for the process, on top of the host's environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The agent's name for INFO and logs (default: the program's file name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The limit on one stdout line and on all plain stdout together (default 16 MiB).
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// The command as a shell would spell it, for INFO and messages.
    pub fn command_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|word| shell_quote(word))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn spawn(&self, cx: &Context) -> Result<Child, AgentError> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AGENTHOST_SESSION_ID", cx.session_id())
            .env("AGENTHOST_CALLER", caller_address(cx).unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The dispatcher drops a run when its caller goes away; dropping must not leave
            // the process running.
            .kill_on_drop(true);
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command.spawn().map_err(|e| self.spawn_error(e))
    }

    /// Names the program in the message: "No such file or directory" alone says nothing about
    /// what was missing, and a missing working directory fails with the same error code.
    fn spawn_error(&self, e: io::Error) -> AgentError {
        let program = &self.program;
        if e.kind() == io::ErrorKind::NotFound {
            if let Some(dir) = self.current_dir.as_ref().filter(|d| !d.is_dir()) {
                return AgentError::msg(format!(
                    "cannot start `{program}`: working directory {} does not exist",
                    dir.display()
                ));
            }
            return AgentError::msg(format!(
                "cannot start `{program}`: program not found (is it installed and on PATH?)"
            ));
        }
        AgentError::msg(format!("cannot start `{program}`: {e}"))
    }

    /// Feeds the request to the running process and reads it to the end: stdin, stdout and
    /// stderr are served together, because a child blocked on a full stderr pipe would never
    /// finish its stdout (and a large request would never fit into stdin before the child
    /// reads it).
    async fn exchange(
        &self,
        child: &mut Child,
        request: &[u8],
        cx: &Context,
        stdout: &mut StdoutCollector,
        stderr_tail: &mut TailBuffer,
    ) -> Result<ExitStatus, AgentError> {
        let pid = child.id().unwrap_or(0);
        let (Some(stdin), Some(out), Some(err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(AgentError::msg("the command's pipes were not set up"));
        };
        tokio::try_join!(
            write_request(stdin, request),
            stdout.read(out, cx),
            log_stderr(err, &self.name, pid, stderr_tail),
        )?;
        Ok(child.wait().await?)
    }
}

/// How a run ended, before the process is cleaned up.
enum Ending {
    Finished(Result<ExitStatus, AgentError>),
    TimedOut,
    Cancelled,
}

impl Agent for CommandAgent {
    async fn input(&mut self, input: Input, cx: &Context) -> Result<Output, AgentError> {
        let request = request_line(&input, cx);
        let mut child = self.spawn(cx)?;
        let pid = child.id().unwrap_or(0);
        tracing::debug!(command = %self.name, pid, "command started");

        // Both live out here, not in `exchange`, so a timeout still finds the stderr tail.
        let mut stdout = StdoutCollector::new(self.max_output_bytes);
        let mut stderr_tail = TailBuffer::new(STDERR_TAIL_BYTES);
        let ending = tokio::select! {
            result = self.exchange(&mut child, &request, cx, &mut stdout, &mut stderr_tail) => {
                Ending::Finished(result)
            }
            () = tokio::time::sleep(self.timeout) => Ending::TimedOut,
            () = cx.cancelled() => Ending::Cancelled,
        };

        let status = match ending {
            Ending::Finished(Ok(status)) => status,
            Ending::Finished(Err(e)) => {
                kill(&mut child, &self.name).await;
                return Err(e);
            }
            Ending::TimedOut => {
                // The child may have exited while something it started still holds its pipes.
                let exited = child.try_wait().ok().flatten();
                kill(&mut child, &self.name).await;
                let what = match exited {
                    Some(status) => format!(
                        "command {} but its output stayed open (a background process?); \
                         timed out after {:?}",
                        describe_exit(status),
                        self.timeout
                    ),
                    None => format!("command timed out after {:?}", self.timeout),
                };
                tracing::warn!(command = %self.name, pid, "{what}");
                return Err(with_tail(what, &stderr_tail));
            }
            Ending::Cancelled => {
                kill(&mut child, &self.name).await;
                tracing::info!(command = %self.name, pid, "command killed: run cancelled");
                return Err(AgentError::msg("cancelled"));
            }
        };

        tracing::debug!(command = %self.name, pid, %status, "command exited");
        if !status.success() {
            return Err(with_tail(
                format!("command {}", describe_exit(status)),
                &stderr_tail,
            ));
        }
        Ok(Output::new(stdout.into_result()))
    }

    fn info(&self) -> AgentInfo {
        AgentInfo::new(&self.name)
            .description(format!("Runs `{}` per request", self.command_line()))
    }
}

/// The request as the command reads it: one JSON line.
fn request_line(input: &Input, cx: &Context) -> Vec<u8> {
    let request = json!({
        "prompt": input.prompt,
        "session": cx.session().to_json(),
        "images": input.images,
        "files": input.files,
        "caller": caller_address(cx),
    });
    let mut line = serde_json::to_vec(&request).unwrap_or_default();
    line.push(b'\n');
    line
}

fn caller_address(cx: &Context) -> Option<String> {
    cx.caller().address.map(|a| a.to_string())
}

/// Writes the request and closes stdin, so the command sees end-of-input after one line.
async fn write_request(mut stdin: ChildStdin, request: &[u8]) -> Result<(), AgentError> {
    let written = async {
        stdin.write_all(request).await?;
        stdin.shutdown().await
    };
    // A command may answer without reading its input and exit; the broken pipe that leaves
    // is not a failure. Whether the turn failed is decided by the exit status.
    if let Err(e) = written.await {
        tracing::debug!(error = %e, "command did not read its whole request");
    }
    Ok(())
}

/// Logs stderr line by line and keeps its tail for error messages.
async fn log_stderr(
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
struct StdoutCollector {
    max_bytes: usize,
    output: Option<String>,
    plain: String,
    plain_lines: usize,
}

impl StdoutCollector {
    fn new(max_bytes: usize) -> Self {
        StdoutCollector {
            max_bytes,
            output: None,
            plain: String::new(),
            plain_lines: 0,
        }
    }

    async fn read(&mut self, stdout: ChildStdout, cx: &Context) -> Result<(), AgentError> {
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

    fn push_plain(&mut self, line: &str) -> Result<(), AgentError> {
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

    fn into_result(self) -> String {
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
enum LineRead {
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
async fn read_line<R: AsyncBufRead + Unpin>(
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
struct TailBuffer {
    bytes: Vec<u8>,
    capacity: usize,
    truncated: bool,
}

impl TailBuffer {
    fn new(capacity: usize) -> Self {
        TailBuffer {
            bytes: Vec::new(),
            capacity,
            truncated: false,
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > self.capacity {
            let excess = self.bytes.len() - self.capacity;
            self.bytes.drain(..excess);
            self.truncated = true;
        }
    }

    /// The tail as text; a cut-off start is marked with `...`.
    fn text(&self) -> String {
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
fn with_tail(message: String, tail: &TailBuffer) -> AgentError {
    let tail = tail.text();
    if tail.is_empty() {
        AgentError::msg(message)
    } else {
        AgentError::msg(format!("{message}: {tail}"))
    }
}

fn describe_exit(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        // Unix: killed by a signal.
        None => format!("ended abnormally ({status})"),
    }
}

/// Kills the process (if it still runs) and reaps it.
async fn kill(child: &mut Child, command: &str) {
    // An error here means the process is already gone, which is what we want.
    if let Err(e) = child.kill().await {
        tracing::debug!(command, error = %e, "kill failed; the command had exited");
    }
}

/// Quotes a word for display the way a POSIX shell would need it.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
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

    #[test]
    fn command_lines_are_quoted_for_display() {
        let agent = CommandAgent::new(
            "/usr/bin/python3",
            vec!["-c".into(), "print('hi there')".into()],
        );
        assert_eq!(
            agent.command_line(),
            r#"/usr/bin/python3 -c 'print('\''hi there'\'')'"#
        );
        assert_eq!(agent.info().name, "python3");
    }
}
