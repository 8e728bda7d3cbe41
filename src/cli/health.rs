//! `agenthost health [--url URL]`: exit 0 when the URL answers 200, 1 otherwise. A container's
//! HEALTHCHECK needs no curl in the image.

use std::{process::ExitCode, time::Duration};

use clap::Args;

#[derive(Args)]
pub(super) struct HealthArgs {
    /// The URL to check.
    #[arg(long, default_value = "http://127.0.0.1:8000/health")]
    url: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

pub(super) async fn run(args: HealthArgs) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(args.timeout.clamp(0.1, 3600.0)))
        .build()
    {
        Ok(client) => client,
        Err(e) => return super::fail(e),
    };
    match client.get(&args.url).send().await {
        Ok(response) if response.status() == reqwest::StatusCode::OK => {
            let body = response.text().await.unwrap_or_default();
            println!("{}", body.trim());
            ExitCode::SUCCESS
        }
        Ok(response) => {
            eprintln!("unhealthy: {} answered {}", args.url, response.status());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("unhealthy: {}: {e}", args.url);
            ExitCode::from(1)
        }
    }
}
