//! Custom events (reference/hubspot.md §7b): event definitions (list, create) and batch send,
//! with HubSpot's limits: internal names start with a letter, lowercase a–z, 0–9 and `_`,
//! ≤ 50 chars; ≤ 50 properties per occurrence; values ≤ 50 chars (URL/referrer ≤ 200); a
//! request over a limit fails as a whole with an error naming it; an occurrence's `uuid` is
//! counted once. A portal without Enterprise (`custom_events: false`) refuses every call.
//! `GET /_sandbox/events` reads back the completions.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;

use super::{err, Shared};

/// Occurrences per batch request.
pub const SEND_BATCH_MAX: usize = 500;

/// One recorded completion.
#[derive(Clone, Debug)]
pub struct Completion {
    pub event_name: String,
    pub object_id: u64,
    pub occurred_at: String,
    pub properties: HashMap<String, String>,
    pub uuid: String,
}

fn valid_name(n: &str) -> bool {
    n.len() <= 50
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn refused_tier() -> Response {
    err(
        StatusCode::FORBIDDEN,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Custom events require a Marketing, Sales, Service or Content Hub Enterprise subscription.",
    )
}

fn definition_json(portal: u64, d: &Value) -> Value {
    let name = d["name"].as_str().unwrap_or_default();
    json!({"name": name, "fullyQualifiedName": format!("pe{portal}_{name}"),
           "labels": {"singular": d["label"], "plural": null}, "description": d["description"],
           "primaryObject": "CONTACT", "objectTypeId": "0-1", "trackingType": "MANUAL",
           "archived": false, "id": d["id"], "createdAt": d["createdAt"],
           "properties": d["propertyDefinitions"]})
}

async fn list(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = s.lock().unwrap();
    if !s.custom_events {
        return refused_tier();
    }
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let start: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let all: Vec<Value> = s
        .event_definitions
        .values()
        .map(|d| definition_json(s.cfg.portal_id, d))
        .collect();
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let mut body = json!({"results": page});
    if start + limit < all.len() {
        body["paging"] = json!({"next": {"after": (start + limit).to_string()}});
    }
    Json(body).into_response()
}

async fn create(State(s): State<Shared>, Json(b): Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    if !s.custom_events {
        return refused_tier();
    }
    let name = b["name"].as_str().unwrap_or_default().to_string();
    if !valid_name(&name) {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!("Event name '{name}' must start with a letter and contain only lowercase letters, numbers and underscores, at most 50 characters"),
        );
    }
    if b["label"]
        .as_str()
        .is_none_or(|l| l.is_empty() || l.chars().count() > 50)
    {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "label is required, at most 50 characters",
        );
    }
    let props = b["propertyDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for p in &props {
        let pn = p["name"].as_str().unwrap_or_default();
        if !valid_name(pn) {
            return err(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("Property name '{pn}' is invalid"),
            );
        }
    }
    if s.event_definitions.contains_key(&name) {
        return err(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            &format!("An event with name {name} already exists"),
        );
    }
    let id = s.next_id;
    s.next_id += 1;
    let now = super::values::iso(s.now_ms());
    let mut d = b.clone();
    d["id"] = json!(id.to_string());
    d["createdAt"] = json!(now);
    d["propertyDefinitions"] = json!(props);
    let out = definition_json(s.cfg.portal_id, &d);
    s.event_definitions.insert(name, d);
    (StatusCode::CREATED, Json(out)).into_response()
}

fn invalid(message: String) -> Response {
    err(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &message)
}

async fn send_batch(State(s): State<Shared>, Json(b): Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    if !s.custom_events {
        return refused_tier();
    }
    let inputs = b["inputs"].as_array().cloned().unwrap_or_default();
    if inputs.is_empty() || inputs.len() > SEND_BATCH_MAX {
        return invalid(format!(
            "inputs must hold 1 to {SEND_BATCH_MAX} events, got {}",
            inputs.len()
        ));
    }
    // Validate everything first: one bad occurrence fails the whole request.
    let prefix = format!("pe{}_", s.cfg.portal_id);
    let mut accepted = Vec::new();
    for (i, e) in inputs.iter().enumerate() {
        let fq = e["eventName"].as_str().unwrap_or_default();
        let Some(def) = fq
            .strip_prefix(&prefix)
            .and_then(|n| s.event_definitions.get(n))
        else {
            return invalid(format!("inputs[{i}]: event {fq} does not exist"));
        };
        let Some(uuid) = e["uuid"]
            .as_str()
            .filter(|u| uuid::Uuid::parse_str(u).is_ok())
        else {
            return invalid(format!("inputs[{i}]: uuid must be a UUID"));
        };
        let Some(occurred) = e["occurredAt"]
            .as_str()
            .filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
        else {
            return invalid(format!(
                "inputs[{i}]: occurredAt must be an ISO 8601 timestamp"
            ));
        };
        let props = e["properties"].as_object().cloned().unwrap_or_default();
        if props.len() > 50 {
            return invalid(format!(
                "inputs[{i}]: {} properties, at most 50 per event",
                props.len()
            ));
        }
        let defined: Vec<&str> = def["propertyDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        let mut values = HashMap::new();
        for (k, v) in &props {
            if !defined.contains(&k.as_str()) {
                return invalid(format!(
                    "inputs[{i}]: property {k} is not defined on event {fq}"
                ));
            }
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            let max = if ["url", "referrer", "href"].iter().any(|u| k.contains(u)) {
                200
            } else {
                50
            };
            if text.chars().count() > max {
                return invalid(format!(
                    "inputs[{i}]: value of property {k} is longer than {max} characters"
                ));
            }
            values.insert(k.clone(), text);
        }
        // `None`: an e-mail no contact has yet (HubSpot creates the contact).
        let object = match (e["objectId"].as_str(), e["email"].as_str()) {
            (Some(id), _) => match id
                .parse::<u64>()
                .ok()
                .filter(|id| s.objects["contacts"].contains_key(id))
            {
                Some(id) => Some(id),
                None => return invalid(format!("inputs[{i}]: contact {id} does not exist")),
            },
            (None, Some(email)) => s.contact_with_email(&email.to_lowercase()),
            _ => {
                return invalid(format!(
                    "inputs[{i}]: one of objectId, email or utk is required"
                ))
            }
        };
        accepted.push((
            fq.to_string(),
            object,
            e["email"].as_str().map(str::to_lowercase),
            occurred.to_string(),
            values,
            uuid.to_string(),
        ));
    }
    for (event_name, object, email, occurred_at, properties, uuid) in accepted {
        if !s.event_uuids.insert(uuid.clone()) {
            continue; // already counted: a resend changes nothing
        }
        let object_id = match (object, email) {
            (Some(id), _) => id,
            (None, Some(email)) => s.insert(
                "contacts",
                std::collections::BTreeMap::from([("email".to_string(), email)]),
            ),
            (None, None) => continue,
        };
        s.event_completions.push(Completion {
            event_name,
            object_id,
            occurred_at,
            properties,
            uuid,
        });
    }
    StatusCode::NO_CONTENT.into_response()
}

pub fn routes() -> Router<Shared> {
    let r = super::both(
        Router::new(),
        "/events/v3/event-definitions",
        "/events/2026-03/event-definitions",
        get(list).post(create),
    );
    super::both(
        r,
        "/events/v3/send/batch",
        "/events/2026-03/send/batch",
        axum::routing::post(send_batch),
    )
}

/// `GET /_sandbox/events`: every counted completion, for tests.
pub fn readback_route() -> axum::routing::MethodRouter<Shared> {
    get(|State(s): State<Shared>| async move {
        let s = s.lock().unwrap();
        Json(
            json!({"completions": s.event_completions.iter().map(|c| json!({
            "eventName": c.event_name, "objectId": c.object_id.to_string(),
            "occurredAt": c.occurred_at, "properties": c.properties, "uuid": c.uuid})).collect::<Vec<_>>()}),
        )
    })
}
