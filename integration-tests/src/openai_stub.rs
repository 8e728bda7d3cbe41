//! A small OpenAI-compatible chat-completions server on loopback, for agents that call an LLM
//! (the `llm` example, policy judges): real HTTP over a real socket, answering
//! `POST {base}/chat/completions` with the shape OpenAI's API returns, and recording every
//! request so a test can check what the agent sent.
//!
//! It runs on its own thread and runtime, so it keeps answering while a test blocks (on a child
//! process, say).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// What the server answers to a request body: the assistant's message content.
pub type Answer = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    pub body: Value,
}

/// The running server; stops on drop.
pub struct OpenAiStub {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct Shared {
    answer: Answer,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl OpenAiStub {
    /// Serves `/v1/chat/completions`, answering each request with `answer(body)`.
    pub fn start(answer: impl Fn(&Value) -> String + Send + Sync + 'static) -> OpenAiStub {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            answer: Arc::new(answer),
            seen: Arc::clone(&seen),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the stub");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("the stub's address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the stub's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = Router::new()
                    .route("/v1/chat/completions", post(chat_completions))
                    .with_state(shared);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("the stub serves");
            });
        });
        OpenAiStub {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The base URL clients are given (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for OpenAiStub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn chat_completions(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    shared
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(SeenRequest {
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: body.clone(),
        });
    if !body["messages"].is_array() {
        let error = json!({"error": {"message": "`messages` must be an array"}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    let content = (shared.answer)(&body);
    Json(json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    }))
    .into_response()
}
