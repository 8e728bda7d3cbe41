//! Prometheus metrics of the gateway (`GET /metrics`): requests by route and status, their
//! latency, and open WebSockets.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{ready, Context, Poll},
    time::Instant,
};

use axum::{
    extract::{Request, State},
    http::header,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tower::{Layer, Service};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    route: String,
}

/// Methods with a counter slot of their own in [`RouteMetrics`]; the last is every other.
const METHODS: [&str; 8] = [
    "GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", "other",
];

/// The statuses the gateway answers with (WIRE.md §3, plus 101 for WebSocket upgrades): each
/// has a counter slot in [`RouteMetrics`]. Any other status is counted through the family.
const STATUSES: [u16; 14] = [
    200, 101, 400, 401, 403, 404, 405, 409, 413, 429, 500, 502, 503, 504,
];

fn method_index(method: &axum::http::Method) -> usize {
    use axum::http::Method;
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::OPTIONS => 2,
        Method::HEAD => 3,
        Method::PUT => 4,
        Method::DELETE => 5,
        Method::PATCH => 6,
        _ => 7,
    }
}

/// The label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// The gateway's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteOnly, Histogram>,
    websockets: Gauge,
    /// TCP connections the gateway holds now (`listener.rs`).
    connections: Gauge,
    /// Connections closed at once, by the cap they were over: `total`, `per_ip`,
    /// `websockets`.
    connections_refused: Family<RefusedLabels, Counter>,
    /// Connections closed because a request's headers did not arrive in time.
    header_timeouts: Counter,
    /// The router's route templates, announced once when it is built ([`Metrics::announce`]),
    /// then only read: every request is classified here, without a lock.
    routes: OnceLock<RouteTable>,
    /// Where requests of no known route are counted.
    unmatched: RouteMetrics,
}

/// The label of a refused connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    cap: &'static str,
}

/// The router's templates, matched the way axum matches them (the same `matchit`), so a
/// request gets the label of the route that serves it.
struct RouteTable {
    matcher: matchit::Router<usize>,
    routes: Vec<RouteMetrics>,
}

/// What the requests of one route record into.
struct RouteMetrics {
    route: String,
    latency: Histogram,
    /// This route's request counters by method and status, each taken from the family on first
    /// use: a request then finds its counter by two indexes instead of hashing its labels.
    counters: [[OnceLock<Counter>; STATUSES.len()]; METHODS.len()],
}

impl RouteMetrics {
    fn new(route: &str, latency: &Family<RouteOnly, Histogram>) -> Self {
        RouteMetrics {
            route: route.to_owned(),
            latency: latency
                .get_or_create(&RouteOnly {
                    route: route.to_owned(),
                })
                .clone(),
            counters: Default::default(),
        }
    }
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
        let connections = Gauge::default();
        registry.register(
            "connections_open",
            "TCP connections held now",
            connections.clone(),
        );
        let connections_refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections closed on arrival, by the cap they were over (total, per_ip, websockets)",
            connections_refused.clone(),
        );
        let header_timeouts = Counter::default();
        registry.register(
            "header_timeouts",
            "Connections closed because a request's headers did not arrive in time",
            header_timeouts.clone(),
        );
        Metrics {
            registry,
            unmatched: RouteMetrics::new(UNMATCHED, &latency),
            requests,
            latency,
            websockets,
            connections,
            connections_refused,
            header_timeouts,
            routes: OnceLock::new(),
        }
    }

    /// Declares the router's route templates (once; later calls change nothing). Until then,
    /// every request counts as unmatched.
    pub fn announce<'a>(&self, templates: impl IntoIterator<Item = &'a str>) {
        let mut table = RouteTable {
            matcher: matchit::Router::new(),
            routes: Vec::new(),
        };
        for template in templates {
            let index = table.routes.len();
            match table.matcher.insert(template, index) {
                Ok(()) => table
                    .routes
                    .push(RouteMetrics::new(template, &self.latency)),
                // The router would not have taken it either (or it is listed twice).
                Err(e) => tracing::warn!(template, error = %e, "route template not counted"),
            }
        }
        let _ = self.routes.set(table);
    }

    /// Which route serves `path` (`None`: none does).
    fn route_of(&self, path: &str) -> Option<usize> {
        let table = self.routes.get()?;
        table.matcher.at(path).ok().map(|found| *found.value)
    }

    fn route(&self, index: Option<usize>) -> &RouteMetrics {
        index
            .and_then(|i| self.routes.get()?.routes.get(i))
            .unwrap_or(&self.unmatched)
    }

    /// Counts one answered request of `route` and records its latency.
    fn record(&self, route: Option<usize>, method: usize, status: u16, seconds: f64) {
        let route = self.route(route);
        route.latency.observe(seconds);
        let labels = || RouteLabels {
            method: METHODS[method],
            route: route.route.clone(),
            status,
        };
        match STATUSES.iter().position(|s| *s == status) {
            Some(s) => route.counters[method][s]
                .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                .inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.inc();
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.dec();
    }

    /// A connection closed on arrival: over the `total` or the `per_ip` cap.
    pub(crate) fn connection_refused(&self, cap: &'static str) {
        self.connections_refused
            .get_or_create(&RefusedLabels { cap })
            .inc();
    }

    pub(crate) fn header_timed_out(&self) {
        self.header_timeouts.inc();
    }

    pub fn ws_opened(&self) {
        self.websockets.inc();
    }

    pub fn ws_closed(&self) {
        self.websockets.dec();
    }

    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Counts and times every request by its route template (never the raw path: ids and
/// addresses would make unbounded label sets). It wraps the whole router, once: a layer
/// inside it (`Router::layer`) would box every route again, and axum clones a route's box
/// for each request. It holds only the metrics: one `Arc`, cloned once per request.
#[derive(Clone)]
pub(crate) struct TrackLayer {
    metrics: Arc<Metrics>,
}

impl TrackLayer {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        TrackLayer { metrics }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Track<S> {
    inner: S,
    metrics: Arc<Metrics>,
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
        let method = method_index(request.method());
        let route = self.metrics.route_of(request.uri().path());
        TrackFuture {
            inner: self.inner.call(request),
            started,
            method,
            route,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: usize,
        route: Option<usize>,
        metrics: Arc<Metrics>,
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
            this.metrics.record(
                *this.route,
                *this.method,
                response.status().as_u16(),
                this.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(output)
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get, path = "/metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub(crate) async fn get_metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}
