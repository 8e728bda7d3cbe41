//! `GET /docs`: the interactive page (`assets/docs.html`), served from the binary.

use axum::{
    http::header,
    response::{Html, IntoResponse, Response},
};

/// The page of `GET /docs`, served from the binary (no CDN).
const DOCS_PAGE: &str = include_str!("../../assets/docs.html");

/// The interactive page: chat over /ws, identity, sessions, snippets.
#[utoipa::path(
    get, path = "/docs",
    responses((status = 200, description = "the page", content_type = "text/html"))
)]
pub(crate) async fn get_docs() -> Response {
    ([(header::CACHE_CONTROL, "no-cache")], Html(DOCS_PAGE)).into_response()
}
