//! What the HTTP handlers read of the request besides its body: [`RequestMeta`] (who sent it
//! from where, and what a signed GET was signed over) and path parameters.

use std::{net::SocketAddr, sync::Arc};

use agenthost_node::SignedFields;
use axum::{
    extract::{FromRef, FromRequestParts, OriginalUri, RawPathParams},
    http::{HeaderMap, Method},
};

use crate::{
    client_addr::ClientAddr, config::GatewayConfig, error::ApiError, signed_headers::signed_fields,
};

/// What a route needs of the request itself: who sent it from where, and what a signed GET
/// was signed over (the URI as the client sent it, before any nesting stripped a prefix).
pub(super) struct RequestMeta {
    pub remote: SocketAddr,
    pub uri: axum::http::Uri,
    pub method: Method,
    pub headers: HeaderMap,
}

impl<S> FromRequestParts<S> for RequestMeta
where
    Arc<GatewayConfig>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ClientAddr(remote) = ClientAddr::from_request_parts(parts, state).await?;
        let OriginalUri(uri) = OriginalUri::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::internal("no request URI"))?;
        Ok(RequestMeta {
            remote,
            uri,
            method: parts.method.clone(),
            headers: parts.headers.clone(),
        })
    }
}

impl RequestMeta {
    /// The signed GET of the headers, over `body`.
    pub(super) fn signed(&self, body: &[u8]) -> Result<SignedFields, ApiError> {
        signed_fields(&self.method, &self.uri, &self.headers, body)
    }
}

pub(super) fn path_param(params: &RawPathParams, name: &str) -> Option<String> {
    params
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}
