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
//!
//! This file starts the process and runs the turn; `output.rs` reads what the process says.

use std::{
    io,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use serde_json::json;
use tokio::{
    io::AsyncWriteExt,
    process::{Child, ChildStdin, Command},
};

use crate::{
    agent::{Agent, AgentError, AgentInfo, Input, Output},
    events::Context,
};

mod output;

use output::{log_stderr, with_tail, StdoutCollector, TailBuffer};

/// How long a request may run unless [`CommandAgent::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The most stdout a request may produce unless [`CommandAgent::max_output_bytes`] says
/// otherwise: the limit of one line, and of all plain (non-event) lines together.
pub(super) const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// How much of the end of stderr is kept to explain a failure.
const STDERR_TAIL_BYTES: usize = 4 * 1024;

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
