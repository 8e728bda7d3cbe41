//! CORS as WIRE.md §3 asks (any origin; GET, POST, OPTIONS; the signed-GET headers), done by
//! tower-http where CORS happens: on requests that carry an `Origin` header and on every
//! `OPTIONS` (preflight). Other requests — curl, SDKs, servers — only get the constant
//! `Access-Control-Allow-Origin: *`.
//!
//! Why not tower-http's layer on every request: it builds a header map and a `Vary` value per
//! request, which measured as the largest single cost of `GET /health` (BENCHMARKS.md). With
//! `*` as the allowed origin a response does not depend on the request's `Origin`, so the
//! constant header keeps shared caches correct without `Vary`.

use std::task::{Context, Poll};

use axum::http::{header, HeaderName, HeaderValue, Method, Request, Response};
use futures::future::{Either, MapOk, TryFutureExt};
use tower::{Layer, Service};
use tower_http::cors::{Any, Cors, CorsLayer};

/// The gateway's CORS: tower-http's for CORS requests, a constant header for the rest.
#[derive(Clone)]
pub struct GatewayCors {
    cors: CorsLayer,
}

impl GatewayCors {
    pub fn new() -> Self {
        GatewayCors {
            cors: CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    HeaderName::from_static("x-co-from"),
                    HeaderName::from_static("x-co-signature"),
                    HeaderName::from_static("x-co-timestamp"),
                    HeaderName::from_static("x-co-to"),
                    HeaderName::from_static("x-co-request-id"),
                ])
                .expose_headers([header::RETRY_AFTER]),
        }
    }
}

impl Default for GatewayCors {
    fn default() -> Self {
        GatewayCors::new()
    }
}

impl<S: Clone> Layer<S> for GatewayCors {
    type Service = GatewayCorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GatewayCorsService {
            cors: self.cors.layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub struct GatewayCorsService<S> {
    plain: S,
    cors: Cors<S>,
}

type AnyOrigin<B> = fn(Response<B>) -> Response<B>;

fn any_origin<B>(mut response: Response<B>) -> Response<B> {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GatewayCorsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future =
        Either<tower_http::cors::ResponseFuture<S::Future>, MapOk<S::Future, AnyOrigin<ResBody>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Either may be called next; both wrap clones of the same (always ready) router.
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.cors.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if request.method() == Method::OPTIONS || request.headers().contains_key(header::ORIGIN) {
            Either::Left(self.cors.call(request))
        } else {
            Either::Right(
                self.plain
                    .call(request)
                    .map_ok(any_origin as AnyOrigin<ResBody>),
            )
        }
    }
}
