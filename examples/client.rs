//! A Rust client: calls an agent by its address over P2P and prints the answer as it streams.
//!
//!     cargo run --example client -- 0x<address> /ip4/127.0.0.1/tcp/<port>/p2p/12D3KooW... "hello"
//!
//! Arguments: the agent's address (`0x…` or its PeerId), then any multiaddrs to dial (the
//! `listen:` lines of the host's banner; without any, the agent is looked for on the LAN by
//! mDNS), then the prompt. STREAM chunks are printed to stdout as they arrive and events
//! (`tool_call`, ...) to stderr; stdout ends up holding exactly the result. Exits 1 when the
//! agent answers with an error.

use std::io::Write as _;

use agenthost::{Frame, Multiaddr};
use anyhow::{bail, Context as _};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(address) = args.next() else {
        bail!("usage: client <ADDRESS> [MULTIADDR...] <PROMPT...>");
    };
    // Multiaddrs always start with `/`; everything else is the prompt.
    let (addrs, words): (Vec<String>, Vec<String>) = args.partition(|a| a.starts_with('/'));
    let addrs = addrs
        .iter()
        .map(|a| {
            a.parse::<Multiaddr>()
                .with_context(|| format!("bad multiaddr {a}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let prompt = words.join(" ");

    let agent = if addrs.is_empty() {
        agenthost::connect(&address).await
    } else {
        agenthost::connect_with(&address, addrs).await
    }
    .with_context(|| format!("connecting to {address}"))?;

    let mut reply = agent.input_stream(&prompt).await?;
    let mut streamed = String::new();
    let mut stdout = std::io::stdout();
    while let Some(frame) = reply.next_frame().await {
        match frame {
            Frame::Stream { content } => {
                print!("{content}");
                // Flushed per chunk, or the stream would show only when the line ends.
                stdout.flush()?;
                streamed.push_str(&content);
            }
            Frame::Event(event) => eprintln!("{}", serde_json::Value::Object(event)),
            // Only a detached INPUT gets one; this client waits for the result.
            Frame::Detached { .. } => {}
            Frame::Output(output) => {
                // Agents that do not stream send their whole answer in OUTPUT only.
                if streamed != output.result {
                    if !streamed.is_empty() {
                        println!();
                    }
                    print!("{}", output.result);
                }
                println!();
                return Ok(());
            }
            Frame::Error(error) => {
                if !streamed.is_empty() {
                    println!();
                }
                eprintln!("error: {error}");
                std::process::exit(1);
            }
            Frame::Response(body) => bail!("unexpected reply: {body}"),
        }
    }
    bail!("the reply ended without a result")
}
