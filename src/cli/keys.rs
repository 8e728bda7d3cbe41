//! `agenthost keys new|show`.

use std::{path::PathBuf, process::ExitCode};

use agenthost::{identity, AgentKey, DEFAULT_KEY_FILE};
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Generate a new key file (refuses to overwrite an existing one).
    New {
        #[arg(long, default_value = DEFAULT_KEY_FILE)]
        key_file: PathBuf,
    },
    /// Print the address and PeerId of a key file.
    Show {
        #[arg(long, default_value = DEFAULT_KEY_FILE)]
        key_file: PathBuf,
    },
}

pub(super) fn run(command: KeysCommand) -> ExitCode {
    let key = match command {
        KeysCommand::New { key_file } => identity::create_key(&key_file),
        KeysCommand::Show { key_file } => identity::load_key(&key_file),
    };
    match key {
        Ok(key) => {
            print_identity(&key);
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

fn print_identity(key: &AgentKey) {
    println!("address: {}", key.address());
    println!("peer_id: {}", key.peer_id());
}
