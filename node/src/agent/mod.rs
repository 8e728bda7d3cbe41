//! The agent API: the [`Agent`] trait an author implements, what it receives ([`Input`]),
//! returns ([`Output`], [`AgentError`]) and describes ([`AgentInfo`]), and [`agent_fn`] for
//! closures. Two agents come with the host: [`CommandAgent`] (`command/`: any executable, one
//! process per request) and [`DemoAgent`] (`demo.rs`: the echo of `agenthost host --demo`).

mod command;
mod demo;

pub use command::{CommandAgent, DEFAULT_TIMEOUT as DEFAULT_COMMAND_TIMEOUT};
pub use demo::DemoAgent;

use std::{fmt, future::Future, sync::Arc};

use serde::{Deserialize, Serialize};

use crate::{events::Context, inputs::SavedFile};

/// An agent that can be hosted.
///
/// `Clone` is the per-request copy: every request runs on a fresh clone of the agent as it was
/// handed to the host, so concurrent requests share nothing unless the author puts state behind
/// an `Arc` on purpose.
///
/// ```
/// use agenthost_node::{Agent, AgentError, AgentInfo, Context, Input, Output};
///
/// /// Streams a word, then answers with the prompt.
/// #[derive(Clone)]
/// struct Echo;
///
/// impl Agent for Echo {
///     async fn input(&mut self, input: Input, cx: &Context) -> Result<Output, AgentError> {
///         cx.stream("echo: ").await;
///         Ok(input.prompt.into())
///     }
///
///     fn info(&self) -> AgentInfo {
///         AgentInfo::new("echo").description("repeats what it is told")
///     }
/// }
/// ```
pub trait Agent: Clone + Send + Sync + 'static {
    /// Handles one input. Stream chunks and events through `cx` as they happen; the returned
    /// [`Output`] is the result of the turn.
    fn input(
        &mut self,
        input: Input,
        cx: &Context,
    ) -> impl Future<Output = Result<Output, AgentError>> + Send;

    /// What the agent is, for INFO and `/info`.
    fn info(&self) -> AgentInfo {
        AgentInfo::new(short_type_name::<Self>())
    }
}

fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

/// What an agent receives for one turn. The conversation so far is in [`Context::session`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    /// The caller's prompt: the text of this turn.
    pub prompt: String,
    /// Images as data URLs.
    pub images: Vec<String>,
    /// Attached files, decoded and saved under `<data_dir>/uploads/<session>/` with safe names.
    pub files: Vec<SavedFile>,
}

impl Input {
    /// An input with only a prompt: no images, no files.
    pub fn new(prompt: impl Into<String>) -> Self {
        Input {
            prompt: prompt.into(),
            ..Input::default()
        }
    }
}

/// The result of one turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// The turn's answer, sent to the caller in the OUTPUT frame and kept in the session history.
    pub result: String,
}

impl Output {
    /// An output whose result is `result`.
    pub fn new(result: impl Into<String>) -> Self {
        Output {
            result: result.into(),
        }
    }
}

impl From<String> for Output {
    fn from(result: String) -> Self {
        Output { result }
    }
}

impl From<&str> for Output {
    fn from(result: &str) -> Self {
        Output::new(result)
    }
}

/// An agent's failure. Anything that converts into a boxed error converts into it, so `?`
/// works on io, serde, `anyhow` and string errors alike.
pub struct AgentError {
    inner: Box<dyn std::error::Error + Send + Sync>,
}

impl AgentError {
    /// An error that carries only `message` (what the caller's ERROR frame shows).
    pub fn msg(message: impl fmt::Display) -> Self {
        AgentError {
            inner: message.to_string().into(),
        }
    }
}

// No `std::error::Error` impl on purpose: it would make this blanket impl overlap with
// `From<T> for T` (the same trick as `anyhow::Error`).
impl<E> From<E> for AgentError
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn from(e: E) -> Self {
        AgentError { inner: e.into() }
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Debug for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// What an agent is: its name, description, model and tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// The agent's name (by default, the short name of the agent's type).
    pub name: String,
    /// A one-sentence account of what the agent does; `None` when the author gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The model the agent runs on; `None` when it does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Names of the tools the agent can call.
    #[serde(default)]
    pub tools: Vec<String>,
}

impl AgentInfo {
    /// An info with only a name; the builder methods below add the rest.
    pub fn new(name: impl Into<String>) -> Self {
        AgentInfo {
            name: name.into(),
            ..AgentInfo::default()
        }
    }

    /// Sets the description shown in INFO and `/info`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the name of the model the agent runs on.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Adds `name` to the tools the agent can call.
    pub fn tool(mut self, name: impl Into<String>) -> Self {
        self.tools.push(name.into());
        self
    }
}

/// An agent made of an async closure over the [`Input`]:
/// `agent_fn("echo", |input| async move { Ok(input.prompt) })`.
pub fn agent_fn<F, Fut, O>(name: impl Into<String>, f: F) -> FnAgent<impl HandleFn>
where
    F: Fn(Input) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, AgentError>> + Send + 'static,
    O: Into<Output>,
{
    FnAgent {
        info: AgentInfo::new(name),
        f: Arc::new(move |input: Input, _cx: Context| {
            let fut = f(input);
            async move { fut.await.map(Into::into) }
        }),
    }
}

/// Like [`agent_fn`], with the [`Context`] too, for closures that stream or emit events:
/// `agent_fn_with_context("t", |input, cx| async move { cx.stream("hi").await; Ok("hi") })`.
pub fn agent_fn_with_context<F, Fut, O>(name: impl Into<String>, f: F) -> FnAgent<impl HandleFn>
where
    F: Fn(Input, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, AgentError>> + Send + 'static,
    O: Into<Output>,
{
    FnAgent {
        info: AgentInfo::new(name),
        f: Arc::new(move |input: Input, cx: Context| {
            let fut = f(input, cx);
            async move { fut.await.map(Into::into) }
        }),
    }
}

/// The closure shape [`FnAgent`] stores (named so the type can be spelled).
pub trait HandleFn: Send + Sync + 'static {
    type Fut: Future<Output = Result<Output, AgentError>> + Send + 'static;
    fn call(&self, input: Input, cx: Context) -> Self::Fut;
}

impl<F, Fut> HandleFn for F
where
    F: Fn(Input, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Output, AgentError>> + Send + 'static,
{
    type Fut = Fut;
    fn call(&self, input: Input, cx: Context) -> Fut {
        self(input, cx)
    }
}

/// An agent built from a closure by [`agent_fn`] or [`agent_fn_with_context`]. The closure is
/// shared between clones (it cannot mutate its captures, being `Fn`).
pub struct FnAgent<F> {
    info: AgentInfo,
    f: Arc<F>,
}

impl<F> Clone for FnAgent<F> {
    fn clone(&self) -> Self {
        FnAgent {
            info: self.info.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<F> FnAgent<F> {
    /// Replaces the description shown by INFO.
    pub fn with_info(mut self, info: AgentInfo) -> Self {
        self.info = info;
        self
    }
}

impl<F: HandleFn> Agent for FnAgent<F> {
    fn input(
        &mut self,
        input: Input,
        cx: &Context,
    ) -> impl Future<Output = Result<Output, AgentError>> + Send {
        self.f.call(input, cx.clone())
    }

    fn info(&self) -> AgentInfo {
        self.info.clone()
    }
}
