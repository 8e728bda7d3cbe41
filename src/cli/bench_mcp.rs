//! `agenthost bench mcp --url URL`: `tools/call` throughput and latency of any MCP server over
//! streamable HTTP (protocol 2025-11-25), so agenthost's `/mcp` and another server (FastMCP in
//! `bench/mcp.sh`) are measured by the same client. Each of `--sessions` sessions initializes
//! once, then calls in a loop, one call in flight per session, over its own connection; the
//! whole SSE or JSON answer is read and checked to hold the call's result.

use std::time::{Duration, Instant};

use clap::Args;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::{json, Value};

#[derive(Args)]
pub(super) struct McpBenchArgs {
    /// The MCP endpoint, e.g. http://127.0.0.1:8000/mcp.
    #[arg(long)]
    url: String,
    /// The tool to call.
    #[arg(long, default_value = "demo")]
    tool: String,
    /// The tool's arguments, as JSON.
    #[arg(long, default_value = r#"{"prompt":"hello"}"#)]
    arguments: String,
    /// Sessions calling at once, each with one call in flight.
    #[arg(long, default_value_t = 16)]
    sessions: usize,
    /// Measured calls in all (after warm-up).
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Unmeasured calls per session first.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
}

const PROTOCOL: &str = "2025-11-25";

/// One MCP session over its own HTTP/1.1 connection.
struct Session {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    next_id: u64,
}

impl Session {
    async fn open(url: &str) -> anyhow::Result<Session> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .http1_only()
            .build()?;
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("mcp-protocol-version", HeaderValue::from_static(PROTOCOL));
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "agenthost-bench", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let response = http
            .post(url)
            .headers(headers.clone())
            .body(init.to_string())
            .send()
            .await?;
        if let Some(id) = response.headers().get("mcp-session-id").cloned() {
            headers.insert("mcp-session-id", id);
        }
        let body = response.text().await?;
        anyhow::ensure!(body.contains("\"result\""), "initialize failed: {body}");
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        http.post(url)
            .headers(headers.clone())
            .body(initialized.to_string())
            .send()
            .await?
            .error_for_status()?;
        Ok(Session {
            http,
            url: url.to_owned(),
            headers,
            next_id: 1,
        })
    }

    /// Ends the session (DELETE), as a client that is done does.
    async fn close(self) -> anyhow::Result<()> {
        if self.headers.contains_key("mcp-session-id") {
            self.http
                .delete(&self.url)
                .headers(self.headers.clone())
                .send()
                .await?;
        }
        Ok(())
    }

    async fn call(&mut self, tool: &str, arguments: &Value) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}
        });
        let body = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(request.to_string())
            .send()
            .await?
            .text()
            .await?;
        let answered = body.contains("\"result\"") && body.contains(&format!("\"id\":{id}"));
        anyhow::ensure!(
            answered && !body.contains("\"isError\":true"),
            "call {id} failed: {body}"
        );
        Ok(())
    }
}

pub(super) async fn bench_mcp(args: McpBenchArgs) -> anyhow::Result<Value> {
    let arguments: Value = serde_json::from_str(&args.arguments)?;
    let sessions = args.sessions.max(1);
    let per_session = args.calls.div_ceil(sessions);
    let mut opened = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let mut session = Session::open(&args.url).await?;
        for _ in 0..args.warmup {
            session.call(&args.tool, &arguments).await?;
        }
        opened.push(session);
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(sessions);
    for mut session in opened {
        let (tool, arguments) = (args.tool.clone(), arguments.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_session);
            for _ in 0..per_session {
                let sent = Instant::now();
                session.call(&tool, &arguments).await?;
                latencies.push(sent.elapsed());
            }
            session.close().await?;
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(per_session * sessions);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
        latencies[i.min(latencies.len() - 1)].as_micros() as u64
    };
    Ok(json!({
        "url": args.url,
        "sessions": sessions,
        "calls": latencies.len(),
        "calls_per_s": (latencies.len() as f64 / elapsed.as_secs_f64()).round(),
        "p50_us": at(0.50),
        "p99_us": at(0.99),
    }))
}
