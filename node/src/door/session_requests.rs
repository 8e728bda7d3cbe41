//! SESSION, SESSIONS and CANCEL: the session store as callers see it. A record is its owner's
//! alone; an anonymous record's id is its capability (WIRE.md §3). Listing never shows anyone
//! else's prompts or results.

use serde_json::{json, Value};

use super::{caller::Caller, state::DoorState};
use crate::{
    store::SessionRecord,
    wire::{ErrorCode, ErrorFrame, Frame},
};

/// Most records SESSIONS returns unless the caller asks for fewer.
const DEFAULT_LIST_LIMIT: usize = 100;

pub(crate) async fn session<A>(shared: &DoorState<A>, session_id: &str, caller: &Caller) -> Frame {
    match visible_record(shared, session_id, caller).await {
        Ok(record) => Frame::Response(record.to_json()),
        Err(error) => Frame::Error(error),
    }
}

pub(crate) async fn sessions<A>(
    shared: &DoorState<A>,
    limit: Option<usize>,
    caller: &Caller,
) -> Frame {
    if let Err(error) = refuse_blacklisted(shared, caller) {
        return Frame::Error(error);
    }
    // An anonymous caller sees the anonymous sessions only from the operator's own machine.
    if caller.is_anonymous() && !caller.is_local() {
        return Frame::Response(json!({"sessions": []}));
    }
    let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT).min(DEFAULT_LIST_LIMIT);
    match shared.store.list(caller.owner().as_deref(), limit).await {
        Ok(records) => {
            let sessions: Vec<Value> = records.iter().map(SessionRecord::to_json).collect();
            Frame::Response(json!({ "sessions": sessions }))
        }
        Err(e) => Frame::Error(store_error(e)),
    }
}

pub(crate) async fn cancel<A>(shared: &DoorState<A>, session_id: &str, caller: &Caller) -> Frame {
    let record = match visible_record(shared, session_id, caller).await {
        Ok(record) => record,
        Err(error) => return Frame::Error(error),
    };
    match shared.running.cancel(session_id) {
        true => {
            tracing::info!(%caller, session = %session_id, "cancel requested");
            Frame::Response(json!({"session_id": session_id, "status": "cancelled"}))
        }
        // Nothing running: report how it stands.
        false => Frame::Response(json!({
            "session_id": session_id,
            "status": record.status.as_str(),
        })),
    }
}

/// The record, if this caller may see it; unknown, expired and foreign all read as not found,
/// so probing ids tells nothing about other callers' sessions.
async fn visible_record<A>(
    shared: &DoorState<A>,
    session_id: &str,
    caller: &Caller,
) -> Result<SessionRecord, ErrorFrame> {
    refuse_blacklisted(shared, caller)?;
    let not_found =
        || ErrorFrame::new(ErrorCode::NotFound, format!("unknown session {session_id}"));
    let record = shared
        .store
        .get(session_id)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    match &record.owner {
        None => Ok(record),
        Some(owner) if Some(owner) == caller.owner().as_ref() => Ok(record),
        Some(_) => Err(not_found()),
    }
}

fn refuse_blacklisted<A>(shared: &DoorState<A>, caller: &Caller) -> Result<(), ErrorFrame> {
    match &caller.address {
        Some(address) if shared.gatekeeper.is_blacklisted(address) => Err(ErrorFrame::new(
            ErrorCode::Forbidden,
            "forbidden: blacklisted",
        )),
        _ => Ok(()),
    }
}

fn store_error(e: crate::store::StoreError) -> ErrorFrame {
    tracing::error!(error = %e, "session store unavailable");
    ErrorFrame::new(ErrorCode::Internal, "session store unavailable")
}
