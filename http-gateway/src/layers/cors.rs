//! CORS as WIRE.md §3 asks (any origin; GET, POST, OPTIONS; the signed-GET headers), done by
//! tower-http where CORS happens: on requests that carry an `Origin` header and on every
//! `OPTIONS` (preflight). Other requests — curl, SDKs, servers — only get the constant
//! `Access-Control-Allow-Origin: *`. Preflights are answered 204, as ConnectOnion's host does.
//!
//! Why not tower-http's layer on every request: it builds a header map and a `Vary` value per
//! request, which measured as the largest single cost of `GET /health` (BENCHMARKS.md). With
//! `*` as the allowed origin a response does not depend on the request's `Origin`, so the
//! constant header keeps shared caches correct without `Vary`.

use std::{
    sync::LazyLock,
    task::{Context, Poll},
};

use axum::http::{header, HeaderName, HeaderValue, Method, Request, Response};
use futures::future::{Either, MapOk, TryFutureExt};
use tower::{Layer, Service};
use tower_http::cors::{Any, CorsLayer};

/// What WIRE.md §3 allows, the same for every gateway: built once, shared by every request
/// (axum clones a route's services for each request; this is not cloned with them).
static CORS: LazyLock<CorsLayer> = LazyLock::new(|| {
    CorsLayer::new()
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
        .expose_headers([header::RETRY_AFTER])
});

/// The gateway's CORS: tower-http's for CORS requests, a constant header for the rest.
#[derive(Clone, Default)]
pub(crate) struct GatewayCors;

impl<S> Layer<S> for GatewayCors {
    type Service = GatewayCorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GatewayCorsService { inner }
    }
}

#[derive(Clone)]
pub(crate) struct GatewayCorsService<S> {
    inner: S,
}

type AnyOrigin<B> = fn(Response<B>) -> Response<B>;
type Preflight<B> = fn(Response<B>) -> Response<B>;

/// A preflight answer is 204 No Content, as ConnectOnion's host gives (tower-http says 200).
/// Only preflight answers carry `Access-Control-Allow-Methods`.
fn no_content_preflight<B>(mut response: Response<B>) -> Response<B> {
    if response.status() == axum::http::StatusCode::OK
        && response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_METHODS)
    {
        *response.status_mut() = axum::http::StatusCode::NO_CONTENT;
    }
    response
}

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
    type Future = Either<
        MapOk<tower_http::cors::ResponseFuture<S::Future>, Preflight<ResBody>>,
        MapOk<S::Future, AnyOrigin<ResBody>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if request.method() == Method::OPTIONS || request.headers().contains_key(header::ORIGIN) {
            // tower's idiom: the service polled ready handles this request, a clone stays.
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            Either::Left(
                CORS.layer(ready)
                    .call(request)
                    .map_ok(no_content_preflight as Preflight<ResBody>),
            )
        } else {
            Either::Right(
                self.inner
                    .call(request)
                    .map_ok(any_origin as AnyOrigin<ResBody>),
            )
        }
    }
}
