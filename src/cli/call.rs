//! `agenthost call <ADDRESS> <PROMPT>`: prints the result as it streams, or every frame as JSON.

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use agenthost::{identity, AgentKey, Client, Frame, Multiaddr};
use clap::Args;

#[derive(Args)]
pub struct CallArgs {
    /// The agent's address (`0x…`) or PeerId.
    address: String,
    prompt: String,
    /// A multiaddr where the agent listens (repeatable); without one, the agent is looked up
    /// on the LAN.
    #[arg(long = "addr", value_name = "MULTIADDR")]
    addr: Vec<Multiaddr>,
    /// Call with this identity; default: a fresh ephemeral one.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Print every frame as one JSON object per line, the terminal frame last.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds (connection and reply together); exit code 2.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

pub async fn run(args: CallArgs) -> ExitCode {
    match args.timeout {
        None => call(args).await,
        Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), call(args)).await {
            Ok(code) => code,
            Err(_) => super::fail(anyhow::anyhow!("no answer within {secs} s")),
        },
    }
}

async fn call(args: CallArgs) -> ExitCode {
    let key = match &args.key_file {
        Some(path) => match identity::load_key(path) {
            Ok(key) => key,
            Err(e) => return super::fail(e),
        },
        None => AgentKey::generate(),
    };
    let client = match Client::with_key(key).await {
        Ok(client) => client,
        Err(e) => return super::fail(e),
    };
    let connection = match client.connect(&args.address, args.addr.clone()).await {
        Ok(connection) => connection,
        Err(e) => return super::fail(e),
    };
    let mut reply = match connection.input_stream(&args.prompt).await {
        Ok(reply) => reply,
        Err(e) => return super::fail(e),
    };
    let mut out = std::io::stdout().lock();
    let mut streamed = false;
    while let Some(frame) = reply.next_frame().await {
        if args.json {
            let _ = writeln!(out, "{}", frame.to_json());
            let _ = out.flush();
        }
        match frame {
            Frame::Stream { content } if !args.json => {
                streamed = true;
                let _ = write!(out, "{content}");
                let _ = out.flush();
            }
            Frame::Event(event) if !args.json => {
                eprintln!("[{}]", serde_json::Value::Object(event))
            }
            Frame::Output(output) => {
                if !args.json {
                    if !streamed {
                        let _ = write!(out, "{}", output.result);
                    }
                    let _ = writeln!(out);
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
