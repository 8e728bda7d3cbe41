//! `agenthost call <ADDRESS> <PROMPT>`: prints the result as it streams, or every frame as JSON.

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use agenthost::{
    node::{InputRequest, StreamPath},
    Frame,
};
use clap::Args;
use serde_json::Value;

use super::target::Target;

#[derive(Args)]
pub(super) struct CallArgs {
    #[command(flatten)]
    target: Target,
    prompt: String,
    /// Print every frame as one JSON object per line, the terminal frame last.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds (connection and reply together); exit code 2.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Continue the conversation saved in FILE (if it exists) and save the new session there.
    #[arg(long, value_name = "FILE")]
    session: Option<PathBuf>,
    /// Start the run detached: print its session id and return at once; fetch the result later
    /// with `agenthost session` (needs --key-file: the session belongs to the caller's key).
    #[arg(long, requires = "key_file")]
    detach: bool,
}

pub(super) async fn run(args: CallArgs) -> ExitCode {
    match args.timeout {
        None => call(args).await,
        Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), call(args)).await {
            Ok(code) => code,
            Err(_) => super::fail(anyhow::anyhow!("no answer within {secs} s")),
        },
    }
}

async fn call(args: CallArgs) -> ExitCode {
    let session = match args.session.as_deref().map(read_session).transpose() {
        Ok(session) => session.flatten(),
        Err(e) => return super::fail(e),
    };
    let connection = match args.target.connect().await {
        Ok(connection) => connection,
        Err(e) => return super::fail(e),
    };
    let request = InputRequest {
        prompt: Some(args.prompt.clone()),
        session,
        detached: args.detach,
        ..InputRequest::default()
    };
    let (mut reply, path) = match connection.input_request_traced(request).await {
        Ok(traced) => traced,
        Err(e) => return super::fail(e),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(out, "{}", connection_line(&path));
    }
    let mut streamed = false;
    while let Some(frame) = reply.next_frame().await {
        if args.json {
            let _ = writeln!(out, "{}", frame.to_json());
            let _ = out.flush();
        }
        match frame {
            Frame::Detached { session_id } if args.detach => {
                if !args.json {
                    let _ = writeln!(out, "{session_id}");
                }
                return ExitCode::SUCCESS;
            }
            Frame::Stream { content } if !args.json => {
                streamed = true;
                let _ = write!(out, "{content}");
                let _ = out.flush();
            }
            Frame::Event(event) if !args.json => eprintln!("[{}]", Value::Object(event)),
            Frame::Output(output) => {
                if !args.json {
                    if !streamed {
                        let _ = write!(out, "{}", output.result);
                    }
                    let _ = writeln!(out);
                }
                if let Some(path) = &args.session {
                    if let Err(e) = write_session(path, &output.session) {
                        return super::fail(e);
                    }
                }
                return ExitCode::SUCCESS;
            }
            Frame::Error(error) => {
                if streamed && !args.json {
                    let _ = writeln!(out);
                }
                eprintln!("error: {error}");
                return ExitCode::from(1);
            }
            Frame::Response(_) => {
                eprintln!("error: the agent answered an INPUT with a response body");
                return ExitCode::from(1);
            }
            _ => {}
        }
    }
    ExitCode::from(1)
}

/// The `CONNECTION` line of `--json`: the connection the request went over.
fn connection_line(path: &StreamPath) -> Value {
    serde_json::json!({
        "type": "CONNECTION",
        "path": if path.relayed { "relayed" } else { "direct" },
        "relay": path.relay().map(|relay| relay.to_string()),
        "remote_addr": path.remote.to_string(),
    })
}

/// The saved session object, or `None` when the file does not exist yet (a first turn).
fn read_session(path: &std::path::Path) -> anyhow::Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("{} is not a session object: {e}", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

/// Saves the session atomically: a crash mid-write must not lose the conversation.
fn write_session(path: &std::path::Path, session: &Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(session)?)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("saving {}: {e}", path.display()))
}
