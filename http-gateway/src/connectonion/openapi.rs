//! The OpenAPI 3.1 document of `GET /openapi.json`, collected from the handlers' own
//! annotations as the route table is built (`mod.rs`), so it cannot drift from the routes.

use utoipa::{
    openapi::{
        path::{Parameter, ParameterBuilder, ParameterIn},
        OpenApi as OpenApiDoc, Required,
    },
    OpenApi,
};

use super::schemas::{
    CancelBody, DiscoveryBody, FileBody, HealthBody, InfoBody, InputBody, InputResponse,
    SessionRecordBody, SessionsBody,
};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "agenthost gateway",
        description = "An AI agent over HTTP: run it on a prompt, read your sessions, and stream \
                       over WebSocket at /ws (not described here: see WIRE.md §4). Signed \
                       requests and signed GETs follow WIRE.md §2.",
    ),
    components(schemas(
        ErrorBody,
        InputBody,
        FileBody,
        InputResponse,
        SessionRecordBody,
        SessionsBody,
        HealthBody,
        InfoBody,
        DiscoveryBody,
        CancelBody
    ))
)]
pub(crate) struct ApiDoc;

/// Declares the `{address}` path parameter on every operation under `/agents/{address}` (the
/// nested routes do not know they are nested).
pub(crate) fn declare_address_param(doc: &mut OpenApiDoc) {
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/agents/{address}") {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let params = operation.parameters.get_or_insert_with(Vec::new);
            if !params.iter().any(|p| p.name == "address") {
                params.insert(0, address_param());
            }
        }
    }
}

fn address_param() -> Parameter {
    ParameterBuilder::new()
        .name("address")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("the agent's 0x address or PeerId"))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String),
        ))
        .build()
}
