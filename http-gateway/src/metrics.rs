//! Prometheus metrics of the gateway (`GET /metrics`): requests by route and status, their
//! latency, and open WebSockets.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, RwLock},
    task::{ready, Context, Poll},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tower::{Layer, Service};

use crate::state::GatewayState;

// Labels are `&'static str`: building them allocates nothing per request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    route: &'static str,
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The gateway's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteOnly, Histogram>,
    websockets: Gauge,
    /// Each route template's label and latency histogram, found with one lookup per request.
    routes: RwLock<HashMap<String, Arc<RouteMetrics>>>,
}

/// What a request of one route records into.
struct RouteMetrics {
    /// The template, leaked once per route (the set comes from the router, never from
    /// requests, so it is small and fixed) so labels are `&'static str`.
    route: &'static str,
    latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agenthost_gateway");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            // 100 µs to ~100 s.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0001, 4.0, 11,
            ))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route",
            latency.clone(),
        );
        let websockets = Gauge::default();
        registry.register(
            "websockets_open",
            "WebSocket connections open now",
            websockets.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            websockets,
            routes: RwLock::default(),
        }
    }

    fn route(&self, template: &str) -> Arc<RouteMetrics> {
        if let Some(found) = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(template)
        {
            return Arc::clone(found);
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let entry = routes.entry(template.to_owned()).or_insert_with(|| {
            let route: &'static str = Box::leak(template.to_owned().into_boxed_str());
            Arc::new(RouteMetrics {
                route,
                latency: self.latency.get_or_create(&RouteOnly { route }).clone(),
            })
        });
        Arc::clone(entry)
    }

    pub fn ws_opened(&self) {
        self.websockets.inc();
    }

    pub fn ws_closed(&self) {
        self.websockets.dec();
    }

    fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Counts and times every request by its route template (never the raw path: ids and
/// addresses would make unbounded label sets). A tower layer rather than `from_fn`: no boxed
/// future and no service clone per request.
#[derive(Clone)]
pub struct TrackLayer {
    state: GatewayState,
}

impl TrackLayer {
    pub fn new(state: GatewayState) -> Self {
        TrackLayer { state }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    state: GatewayState,
}

impl<S, B, RB> Service<Request<B>> for Track<S>
where
    S: Service<Request<B>, Response = axum::http::Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| self.state.metrics.route(p.as_str()));
        TrackFuture {
            inner: self.inner.call(request),
            started,
            method,
            route,
            state: self.state.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: &'static str,
        route: Option<Arc<RouteMetrics>>,
        state: GatewayState,
    }
}

impl<F, RB, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<axum::http::Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        if let Ok(response) = &output {
            let metrics = &this.state.metrics;
            let route = this.route.as_ref().map_or("unmatched", |r| r.route);
            metrics
                .requests
                .get_or_create(&RouteLabels {
                    method: this.method,
                    route,
                    status: response.status().as_u16(),
                })
                .inc();
            let elapsed = this.started.elapsed().as_secs_f64();
            match this.route {
                Some(r) => r.latency.observe(elapsed),
                None => metrics
                    .latency
                    .get_or_create(&RouteOnly { route })
                    .observe(elapsed),
            }
        }
        Poll::Ready(output)
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get, path = "/metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub async fn get_metrics(State(state): State<GatewayState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
