//! The baseline of the HTTP benchmark: a bare axum hello-world on the same runtime settings,
//! so `GET /health` through the gateway can be compared with the least an axum server does.
//!   cargo run --release -p agenthost-gateway --example hello_axum -- 127.0.0.1:18100

use axum::{routing::get, Json, Router};
use serde_json::json;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18100".into());
    let app = Router::new().route(
        "/health",
        get(|| async { Json(json!({"status": "healthy"})) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}");
    axum::serve(listener, app).await
}
