//! Where things are: `GET /` (every route of this gateway) and `GET /api/agents/{address}`
//! (where a ConnectOnion client finds an agent).

use std::sync::Arc;

use agenthost_node::{Frame, Request};
use axum::{
    extract::{RawPathParams, State},
    http::HeaderMap,
    Json,
};

use super::{
    info::endpoint,
    request::path_param,
    schemas::{DiscoveryBody, RouteIndexBody},
};
use crate::{
    client_addr::{http_caller, ClientAddr},
    error::{ApiError, ErrorBody},
    target::Agents,
};

/// The routes of this gateway, as ConnectOnion's host lists them at `GET /` (its keys
/// `docs`, `info`, `health`, `input`, `websocket`), with ours beside them.
#[utoipa::path(
    get, path = "/",
    responses((status = 200, description = "where each route is", body = RouteIndexBody))
)]
pub(crate) async fn get_index(State(agents): State<Arc<Agents>>) -> Json<RouteIndexBody> {
    let index = match &*agents {
        Agents::Local(_) => RouteIndexBody {
            docs: "/docs",
            info: "/info",
            health: "/health",
            input: "POST /input",
            websocket: "/ws",
            sessions: "/sessions",
            openapi: "/openapi.json",
            agents: None,
            discovery: "/api/agents/{address}",
        },
        Agents::Remote(_) => RouteIndexBody {
            docs: "/agents/{address}/docs",
            info: "/agents/{address}/info",
            health: "/health",
            input: "POST /agents/{address}/input",
            websocket: "/agents/{address}/ws",
            sessions: "/agents/{address}/sessions",
            openapi: "/openapi.json",
            agents: Some("/agents/{address}/"),
            discovery: "/api/agents/{address}",
        },
    };
    Json(index)
}

/// Discovery for ConnectOnion clients: where the agent with this address is served.
#[utoipa::path(
    get, path = "/api/agents/{address}",
    params(("address" = String, Path, description = "the agent's 0x address or PeerId")),
    responses(
        (status = 200, description = "where to reach the agent", body = DiscoveryBody),
        (status = 403, description = "this gateway does not serve that agent", body = ErrorBody),
        (status = 404, description = "not an agent this gateway serves", body = ErrorBody),
    )
)]
pub(crate) async fn discover_agent(
    State(agents): State<Arc<Agents>>,
    params: RawPathParams,
    ClientAddr(remote): ClientAddr,
    headers: HeaderMap,
) -> Result<Json<DiscoveryBody>, ApiError> {
    let text = path_param(&params, "address").unwrap_or_default();
    let address = agenthost_identity::Address::parse(&text)
        .map_err(|e| ApiError::not_found(format!("{text} is not an agent address: {e}")))?;
    let (base, service) = match &*agents {
        Agents::Local(local) => {
            if local.address != address {
                return Err(ApiError::not_found(format!(
                    "agent {address} is not served here"
                )));
            }
            (String::new(), std::sync::Arc::clone(&local.service))
        }
        Agents::Remote(remote) => {
            let target = remote.target(address)?;
            (target.base_path, target.service)
        }
    };
    let health = service.call(Request::Health {}, http_caller(remote));
    let online = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(5), health.terminal()).await,
        Ok(Frame::Response(_))
    );
    Ok(Json(DiscoveryBody {
        address: address.to_string(),
        online,
        endpoints: vec![endpoint(&headers, &base)],
    }))
}
