//! `agenthost session|sessions|cancel`: the caller's sessions on an agent, printed as JSON.

use std::process::ExitCode;

use agenthost::{AgentConnection, ClientError};
use clap::Args;
use serde_json::Value;

use super::target::Target;

#[derive(Args)]
pub(super) struct SessionArgs {
    #[command(flatten)]
    target: Target,
    /// The session id (from an OUTPUT, or printed by `call --detach`).
    session_id: String,
}

#[derive(Args)]
pub(super) struct SessionsArgs {
    #[command(flatten)]
    target: Target,
}

pub(super) async fn session(args: SessionArgs) -> ExitCode {
    let id = args.session_id;
    run(&args.target, |c| {
        Box::pin(async move { c.session(&id).await })
    })
    .await
}

pub(super) async fn sessions(args: SessionsArgs) -> ExitCode {
    run(&args.target, |c| {
        Box::pin(async move { c.sessions().await })
    })
    .await
}

pub(super) async fn cancel(args: SessionArgs) -> ExitCode {
    let id = args.session_id;
    run(&args.target, |c| {
        Box::pin(async move { c.cancel(&id).await })
    })
    .await
}

async fn run<F>(target: &Target, query: F) -> ExitCode
where
    F: FnOnce(
        AgentConnection,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Value, ClientError>> + Send>,
    >,
{
    let connection = match target.connect().await {
        Ok(connection) => connection,
        Err(e) => return super::fail(e),
    };
    match query(connection).await {
        Ok(body) => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Err(ClientError::Agent(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
        Err(e) => super::fail(e),
    }
}
