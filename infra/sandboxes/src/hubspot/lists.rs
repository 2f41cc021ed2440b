//! Lists API (HubSpot 2026-03 reference "crm/lists"; legacy `/crm/v3/lists`): create a list,
//! find one by name, add and remove members of a MANUAL list in one call. Ids that are not
//! records of the list's object type come back in `recordIdsMissing` and are not added.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeSet;

use super::{err, HubSpotState, Shared};

#[derive(Clone, Debug)]
pub struct SandboxList {
    pub id: u64,
    pub name: String,
    pub object_type_id: String,
    pub processing_type: String,
    pub members: BTreeSet<u64>,
}

fn object_of(type_id: &str) -> &'static str {
    match type_id {
        "0-1" => "contacts",
        "0-2" => "companies",
        _ => "",
    }
}

fn render(s: &HubSpotState, l: &SandboxList) -> Value {
    let now = super::values::iso(s.now_ms());
    json!({"listId": l.id.to_string(), "name": l.name, "objectTypeId": l.object_type_id,
           "processingType": l.processing_type, "processingStatus": "COMPLETE",
           "listVersion": 1, "createdAt": now, "updatedAt": now, "size": l.members.len()})
}

async fn create(State(s): State<Shared>, Json(b): Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    let name = b["name"].as_str().unwrap_or_default().trim().to_string();
    let type_id = b["objectTypeId"].as_str().unwrap_or_default().to_string();
    let processing = b["processingType"].as_str().unwrap_or_default().to_string();
    if name.is_empty() || object_of(&type_id).is_empty() {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "name and a known objectTypeId are required",
        );
    }
    if !["MANUAL", "SNAPSHOT", "DYNAMIC"].contains(&processing.as_str()) {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "processingType must be MANUAL, SNAPSHOT or DYNAMIC",
        );
    }
    if s.lists.values().any(|l| l.name.eq_ignore_ascii_case(&name)) {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!("A list named '{name}' already exists"),
        );
    }
    let id = s.next_id;
    s.next_id += 1;
    let list = SandboxList {
        id,
        name,
        object_type_id: type_id,
        processing_type: processing,
        members: BTreeSet::new(),
    };
    let body = json!({"list": render(&s, &list)});
    s.lists.insert(id, list);
    Json(body).into_response()
}

async fn by_name(
    State(s): State<Shared>,
    Path((type_id, name)): Path<(String, String)>,
) -> Response {
    let s = s.lock().unwrap();
    match s
        .lists
        .values()
        .find(|l| l.object_type_id == type_id && l.name.eq_ignore_ascii_case(&name))
    {
        Some(l) => Json(json!({"list": render(&s, l)})).into_response(),
        None => err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            &format!("List with name {name} does not exist"),
        ),
    }
}

async fn add_and_remove(
    State(s): State<Shared>,
    Path(list_id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    let mut s = s.lock().unwrap();
    let Some(l) = list_id
        .parse::<u64>()
        .ok()
        .and_then(|id| s.lists.get(&id))
        .cloned()
    else {
        return err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            &format!("List {list_id} does not exist"),
        );
    };
    if l.processing_type == "DYNAMIC" {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "memberships of a DYNAMIC list cannot be changed",
        );
    }
    let ids = |k: &str| -> Vec<String> {
        b[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .collect()
    };
    let object = object_of(&l.object_type_id);
    let (mut added, mut removed, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    let mut members = l.members.clone();
    for id in ids("recordIdsToAdd") {
        match id
            .parse::<u64>()
            .ok()
            .filter(|n| s.objects[object].contains_key(n))
        {
            Some(n) => {
                if members.insert(n) {
                    added.push(id);
                }
            }
            None => missing.push(id),
        }
    }
    for id in ids("recordIdsToRemove") {
        if id.parse::<u64>().ok().is_some_and(|n| members.remove(&n)) {
            removed.push(id);
        }
    }
    s.lists.get_mut(&l.id).expect("list").members = members;
    // `recordsIdsAdded` is HubSpot's own spelling (its SDK's MembershipsUpdateResponse).
    Json(
        json!({"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing}),
    )
    .into_response()
}

pub fn routes() -> Router<Shared> {
    let r = super::both(
        Router::new(),
        "/crm/v3/lists",
        "/crm/lists/2026-03",
        post(create),
    );
    let r = super::both(
        r,
        "/crm/v3/lists/object-type-id/{type_id}/name/{name}",
        "/crm/lists/2026-03/object-type-id/{type_id}/name/{name}",
        get(by_name),
    );
    super::both(
        r,
        "/crm/v3/lists/{list_id}/memberships/add-and-remove",
        "/crm/lists/2026-03/{list_id}/memberships/add-and-remove",
        put(add_and_remove),
    )
}
