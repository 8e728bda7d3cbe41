//! What wraps every request, once, around the whole router (`server.rs`), whatever front-end
//! serves it: [`cors`] (CORS where it applies) and [`metrics`] (requests counted and timed
//! by route; the `/metrics` handler).

pub(crate) mod cors;
pub(crate) mod metrics;
