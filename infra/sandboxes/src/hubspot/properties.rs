//! Properties and property groups.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::values::{valid_pair, PropertyDef};
use super::{err, error_body, Shared};

fn known(object: &str) -> bool {
    matches!(object, "contacts" | "companies" | "deals" | "tasks")
}

async fn list(State(s): State<Shared>, Path(object): Path<String>) -> Response {
    let s = s.lock().unwrap();
    match s.properties.get(&object) {
        Some(p) => {
            Json(json!({"results": p.values().map(PropertyDef::to_json).collect::<Vec<_>>()}))
                .into_response()
        }
        None => err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "unknown object type",
        ),
    }
}

async fn get_one(
    State(s): State<Shared>,
    Path((object, name)): Path<(String, String)>,
) -> Response {
    let s = s.lock().unwrap();
    match s.properties.get(&object).and_then(|p| p.get(&name)) {
        Some(p) => Json(p.to_json()).into_response(),
        None => err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            &format!("Property {name} does not exist"),
        ),
    }
}

/// Validates and stores one property; `Err` is (status, body).
fn create_property(
    s: &mut super::HubSpotState,
    object: &str,
    input: &Value,
) -> Result<Value, (StatusCode, Value)> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, error_body("VALIDATION_ERROR", &m));
    let def: PropertyDef = serde_json::from_value(json!({
        "name": input["name"], "label": input["label"], "type": input["type"], "fieldType": input["fieldType"],
        "groupName": input["groupName"], "hasUniqueValue": input["hasUniqueValue"].as_bool().unwrap_or(false),
        "options": input["options"].as_array().cloned().unwrap_or_default(),
        "description": input["description"].as_str().unwrap_or_default(),
    }))
    .map_err(|e| bad(format!("Invalid input JSON: {e}")))?;
    let name_ok = def
        .name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
        && def
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        return Err(bad(format!("Property name {} is invalid", def.name)));
    }
    if !valid_pair(&def.kind, &def.field_type) {
        return Err(bad(format!(
            "fieldType {} is not valid for type {}",
            def.field_type, def.kind
        )));
    }
    if !s
        .groups
        .get(object)
        .is_some_and(|g| g.contains_key(&def.group_name))
    {
        return Err(bad(format!("group {} does not exist", def.group_name)));
    }
    let props = s.properties.entry(object.to_string()).or_default();
    if props.contains_key(&def.name) {
        return Err((
            StatusCode::CONFLICT,
            error_body(
                "OBJECT_ALREADY_EXISTS",
                &format!("A property named '{}' already exists.", def.name),
            ),
        ));
    }
    if def.has_unique_value && props.values().filter(|p| p.has_unique_value).count() >= 10 {
        return Err(bad("at most 10 unique value properties per object".into()));
    }
    let out = def.to_json();
    props.insert(def.name.clone(), def);
    Ok(out)
}

async fn create(
    State(s): State<Shared>,
    Path(object): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if !known(&object) {
        return err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "unknown object type",
        );
    }
    match create_property(&mut s.lock().unwrap(), &object, &body) {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err((st, b)) => (st, Json(b)).into_response(),
    }
}

async fn batch_create(
    State(s): State<Shared>,
    Path(object): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if !known(&object) {
        return err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "unknown object type",
        );
    }
    let mut s = s.lock().unwrap();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in body["inputs"].as_array().into_iter().flatten() {
        match create_property(&mut s, &object, input) {
            Ok(v) => results.push(v),
            Err((_, mut b)) => {
                b["context"] = json!({"name": [input["name"]]});
                b["links"] = json!({});
                // A 207 item is a StandardError: no correlationId of its own.
                if let Some(o) = b.as_object_mut() {
                    o.remove("correlationId");
                }
                b["errors"] = json!([{"message": b["message"], "code": b["category"]}]);
                errors.push(b);
            }
        }
    }
    let now = chrono::Utc::now().to_rfc3339();
    if errors.is_empty() {
        (StatusCode::CREATED, Json(json!({"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now})))
            .into_response()
    } else {
        (
            StatusCode::MULTI_STATUS,
            Json(json!({"status": "COMPLETE", "results": results, "numErrors": errors.len(), "errors": errors,
                        "startedAt": now, "completedAt": now})),
        )
            .into_response()
    }
}

async fn get_group(
    State(s): State<Shared>,
    Path((object, name)): Path<(String, String)>,
) -> Response {
    let s = s.lock().unwrap();
    match s.groups.get(&object).and_then(|g| g.get(&name)) {
        Some(g) => Json(g.clone()).into_response(),
        None => err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            &format!("group {name} does not exist"),
        ),
    }
}

async fn list_groups(State(s): State<Shared>, Path(object): Path<String>) -> Response {
    let s = s.lock().unwrap();
    Json(json!({"results": s.groups.get(&object).map(|g| g.values().cloned().collect::<Vec<_>>()).unwrap_or_default()}))
        .into_response()
}

async fn create_group(
    State(s): State<Shared>,
    Path(object): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let (Some(name), Some(label)) = (body["name"].as_str(), body["label"].as_str()) else {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "name and label are required",
        );
    };
    let mut s = s.lock().unwrap();
    let groups = s.groups.entry(object).or_default();
    if groups.contains_key(name) {
        return err(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            &format!("group {name} already exists"),
        );
    }
    let g = json!({"name": name, "label": label, "displayOrder": body["displayOrder"].as_i64().unwrap_or(-1), "archived": false});
    groups.insert(name.to_string(), g.clone());
    (StatusCode::CREATED, Json(g)).into_response()
}

pub fn routes() -> Router<Shared> {
    let routes = [
        ("/{object}", get(list).post(create)),
        ("/{object}/batch/create", post(batch_create)),
        ("/{object}/groups", get(list_groups).post(create_group)),
        ("/{object}/groups/{name}", get(get_group)),
        ("/{object}/{name}", get(get_one)),
    ];
    routes
        .into_iter()
        .fold(Router::new(), |r, (tail, handler)| {
            super::both(
                r,
                &format!("/crm/v3/properties{tail}"),
                &format!("/crm/properties/2026-03{tail}"),
                handler,
            )
        })
}
