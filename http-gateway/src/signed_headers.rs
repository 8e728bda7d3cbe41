//! Signed HTTP requests (WIRE.md §2.5, §2.6): the `X-Co-*` headers turned back into the payload
//! the client signed, so it can travel to the agent as an envelope and be verified there, end
//! to end. ConnectOnion's signed GETs and MCP's signed POSTs use the same headers.

use agenthost_node::SignedFields;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const FROM: &str = "x-co-from";
const SIGNATURE: &str = "x-co-signature";
const TIMESTAMP: &str = "x-co-timestamp";
const TO: &str = "x-co-to";
const REQUEST_ID: &str = "x-co-request-id";

/// The signed GET carried by `headers`, if any. `uri` must be the URI as the client sent it
/// (the gateway's own prefix included: that is the path the client signed).
pub(crate) fn signed_fields(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<SignedFields, ApiError> {
    let header = |name: &str| -> Result<Option<&str>, ApiError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str().map_err(|_| {
                    ApiError::unauthorized(format!("unauthorized: {name} is not text"))
                })
            })
            .transpose()
    };
    let (from, signature, timestamp) = (header(FROM)?, header(SIGNATURE)?, header(TIMESTAMP)?);
    if from.is_none() && signature.is_none() && timestamp.is_none() {
        return Ok(SignedFields::default());
    }
    let missing = |name: &str| ApiError::unauthorized(format!("unauthorized: missing {name}"));
    let from = from.ok_or_else(|| missing("X-Co-From"))?;
    let signature = signature.ok_or_else(|| missing("X-Co-Signature"))?;
    let timestamp = parse_timestamp(timestamp.ok_or_else(|| missing("X-Co-Timestamp"))?)?;

    let mut payload = Map::new();
    payload.insert("method".into(), json!(method.as_str()));
    payload.insert("path".into(), json!(uri.path()));
    payload.insert("timestamp".into(), timestamp);
    if let Some(request_id) = header(REQUEST_ID)? {
        // The full form binds the query, the body and the recipient too.
        payload.insert("request_id".into(), json!(request_id));
        payload.insert("query".into(), json!(sorted_query(uri.query())));
        payload.insert(
            "body_sha256".into(),
            json!(hex::encode(Sha256::digest(body))),
        );
        if let Some(to) = header(TO)? {
            payload.insert("to".into(), json!(to));
        }
    }
    Ok(SignedFields {
        payload: Some(Value::Object(payload)),
        from: Some(from.to_owned()),
        signature: Some(signature.to_owned()),
    })
}

/// The signer named by the headers, before any check (for the gateway's deny list).
pub(crate) fn claimed_signer(headers: &HeaderMap) -> Option<&str> {
    headers.get(FROM).and_then(|v| v.to_str().ok())
}

fn parse_timestamp(text: &str) -> Result<Value, ApiError> {
    let text = text.trim();
    if let Ok(int) = text.parse::<i64>() {
        return Ok(json!(int));
    }
    match text.parse::<f64>() {
        Ok(float) if float.is_finite() => Ok(json!(float)),
        _ => Err(ApiError::unauthorized(
            "unauthorized: X-Co-Timestamp must be seconds since the epoch",
        )),
    }
}

/// The query's pairs decoded, sorted, and encoded again: one spelling whatever order or
/// escaping the client's HTTP library used.
fn sorted_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn no_headers_is_unsigned() {
        let fields = signed_fields(
            &Method::GET,
            &"/sessions".parse().unwrap(),
            &HeaderMap::new(),
            b"",
        )
        .unwrap();
        assert!(!fields.is_signed());
    }

    #[test]
    fn short_form_rebuilds_the_wire_vector_payload() {
        let h = headers(&[
            (
                "x-co-from",
                "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            ),
            ("x-co-signature", "aa"),
            ("x-co-timestamp", "1700000000"),
        ]);
        let fields =
            signed_fields(&Method::GET, &"/sessions?x=1".parse().unwrap(), &h, b"").unwrap();
        assert_eq!(
            agenthost_identity::canonical_json(&fields.payload.unwrap()),
            r#"{"method":"GET","path":"/sessions","timestamp":1700000000}"#
        );
    }

    #[test]
    fn full_form_binds_query_body_and_recipient() {
        let h = headers(&[
            ("x-co-from", "0xabc"),
            ("x-co-signature", "aa"),
            ("x-co-timestamp", "1700000000"),
            ("x-co-request-id", "r1"),
            ("x-co-to", "0x3d"),
        ]);
        let uri = "/agents/0x3d/sessions?b=2&a=x%20y".parse().unwrap();
        let payload = signed_fields(&Method::GET, &uri, &h, b"")
            .unwrap()
            .payload
            .unwrap();
        assert_eq!(payload["query"], "a=x+y&b=2");
        assert_eq!(payload["path"], "/agents/0x3d/sessions");
        assert_eq!(
            payload["body_sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(payload["to"], "0x3d");
        assert_eq!(payload["request_id"], "r1");
    }

    #[test]
    fn partial_headers_are_unauthorized() {
        let h = headers(&[("x-co-from", "0xabc")]);
        let err = signed_fields(&Method::GET, &"/sessions".parse().unwrap(), &h, b"").unwrap_err();
        assert_eq!(err.status, 401);
        let h = headers(&[
            ("x-co-from", "0xabc"),
            ("x-co-signature", "aa"),
            ("x-co-timestamp", "soon"),
        ]);
        let err = signed_fields(&Method::GET, &"/sessions".parse().unwrap(), &h, b"").unwrap_err();
        assert_eq!(err.status, 401);
    }
}
