//! `agenthost host [--demo | -- CMD ARGS...]`.

use std::{path::PathBuf, process::ExitCode};

use agenthost::{CommandAgent, DemoAgent, Host, Multiaddr, DEFAULT_KEY_FILE};
use clap::Args;

#[derive(Args)]
pub struct HostArgs {
    /// The agent's key file (created on first run).
    #[arg(long, default_value = DEFAULT_KEY_FILE)]
    key_file: PathBuf,
    /// Listen multiaddr (repeatable). Default: TCP and QUIC on every interface, any port.
    #[arg(long = "listen", value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// Agent runs executing at once.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Requests waiting for a worker before new ones are refused as overloaded.
    #[arg(long, default_value_t = 128)]
    queue: usize,
    /// Disable LAN discovery (mDNS).
    #[arg(long)]
    no_mdns: bool,
    /// Host the built-in demo agent (answers `echo: <prompt>`, streamed word by word).
    #[arg(long, conflicts_with = "command")]
    demo: bool,
    /// Per-request timeout of a hosted command, in seconds.
    #[arg(long, default_value_t = 300)]
    command_timeout: u64,
    /// The command to host: one process per request (see docs/command-agent.md).
    #[arg(last = true, value_name = "CMD ARGS")]
    command: Vec<String>,
}

pub async fn run(args: HostArgs) -> ExitCode {
    let result = if args.demo {
        configure(Host::new(DemoAgent), &args).run().await
    } else if let Some((program, rest)) = args.command.split_first() {
        let agent = CommandAgent::new(program, rest.to_vec())
            .timeout(std::time::Duration::from_secs(args.command_timeout));
        configure(Host::new(agent), &args).run().await
    } else {
        return super::fail(anyhow::anyhow!(
            "nothing to host: pass --demo, or a command after `--` (agenthost host -- python3 agent.py)"
        ));
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(e),
    }
}

fn configure<A: agenthost::Agent>(host: Host<A>, args: &HostArgs) -> Host<A> {
    let mut host = host
        .key_file(&args.key_file)
        .workers(args.workers)
        .queue(args.queue)
        .mdns(!args.no_mdns);
    for addr in &args.listen {
        host = host.listen(addr.clone());
    }
    host
}
