//! Single-record create/update (tasks, deals), deal pipelines, and associations v4.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;

use super::values::{check, iso};
use super::{err, HubSpotState, Shared};

/// A stored association (both directions are answered from it).
#[derive(Clone, Debug, PartialEq)]
pub struct Association {
    pub from: (String, u64),
    pub to: (String, u64),
    pub type_id: u64,
}

/// Fixed creation time of the seeded pipelines (HubSpot's defaults predate any portal use).
const PIPELINES_CREATED: &str = "2024-01-01T00:00:00Z";

/// Deal pipelines as `GET /crm/v3/pipelines/deals` answers: pipelines and stages carry
/// `createdAt`, `updatedAt` and `archived`.
pub fn pipelines() -> Value {
    let stage = |id: &str, label: &str, order: u64| {
        let closed = matches!(
            id,
            "closedwon" | "closedlost" | "trialconverted" | "triallost"
        );
        json!({"id": id, "label": label, "displayOrder": order, "archived": false,
               "createdAt": PIPELINES_CREATED, "updatedAt": PIPELINES_CREATED,
               "metadata": {"isClosed": if closed { "true" } else { "false" }}})
    };
    let pipeline = |id: &str, label: &str, order: u64, stages: Vec<Value>| {
        json!({"id": id, "label": label, "displayOrder": order, "archived": false,
               "createdAt": PIPELINES_CREATED, "updatedAt": PIPELINES_CREATED, "stages": stages})
    };
    json!({"results": [
        pipeline("default", "Sales Pipeline", 0, vec![
            stage("appointmentscheduled", "Appointment Scheduled", 0), stage("qualifiedtobuy", "Qualified To Buy", 1),
            stage("presentationscheduled", "Presentation Scheduled", 2), stage("closedwon", "Closed Won", 3),
            stage("closedlost", "Closed Lost", 4)]),
        pipeline("trial", "Trial Pipeline", 1, vec![
            stage("trialstarted", "Trial Started", 0), stage("trialengaged", "Trial Engaged", 1),
            stage("trialconverted", "Converted", 2), stage("triallost", "Lost", 3)])
    ]})
}

/// HUBSPOT_DEFINED association types: (forward id, from, to, reverse id, label). Reading an
/// association from its `to` side answers the reverse id (reference/hubspot.md §5).
const ASSOCIATION_TYPES: &[(u64, &str, &str, u64, Option<&str>)] = &[
    (204, "tasks", "contacts", 203, None),
    (192, "tasks", "companies", 191, None),
    (216, "tasks", "deals", 215, None),
    (3, "deals", "contacts", 4, None),
    (341, "deals", "companies", 342, None),
    (5, "deals", "companies", 6, Some("Primary")),
    (279, "contacts", "companies", 280, None),
    (1, "contacts", "companies", 2, Some("Primary")),
];

/// (from object, to object) of a HUBSPOT_DEFINED association type id.
fn association_type(id: u64) -> Option<(&'static str, &'static str)> {
    ASSOCIATION_TYPES
        .iter()
        .find_map(|(fwd, from, to, rev, _)| {
            if *fwd == id {
                Some((*from, *to))
            } else if *rev == id {
                Some((*to, *from))
            } else {
                None
            }
        })
}

/// The unlabelled type HubSpot uses for a default association from `from` to `to`.
fn default_type(from: &str, to: &str) -> Option<u64> {
    ASSOCIATION_TYPES
        .iter()
        .filter(|(.., label)| label.is_none())
        .find_map(|(fwd, f, t, rev, _)| {
            if (*f, *t) == (from, to) {
                Some(*fwd)
            } else if (*t, *f) == (from, to) {
                Some(*rev)
            } else {
                None
            }
        })
}

/// The `associationTypes[]` entry of a stored association read from its `from` side (or its
/// `to` side): the real type id of that direction, category and label.
fn association_spec(type_id: u64, from_side: bool) -> Value {
    let row = ASSOCIATION_TYPES
        .iter()
        .find(|(fwd, _, _, rev, _)| *fwd == type_id || *rev == type_id);
    let (id, label) = match row {
        Some((fwd, _, _, rev, label)) => {
            let stored_forward = *fwd == type_id;
            (
                if stored_forward == from_side {
                    *fwd
                } else {
                    *rev
                },
                *label,
            )
        }
        None => (type_id, None),
    };
    json!({"category": "HUBSPOT_DEFINED", "typeId": id, "label": label})
}

fn validate_deal(props: &serde_json::Map<String, Value>, creating: bool) -> Result<(), String> {
    let p = pipelines();
    let pipeline = props.get("pipeline").and_then(|v| v.as_str());
    if creating {
        for f in ["dealname", "dealstage", "pipeline"] {
            if props
                .get(f)
                .and_then(|v| v.as_str())
                .is_none_or(str::is_empty)
            {
                return Err(format!("{f} is required to create a deal"));
            }
        }
    }
    if let Some(stage) = props.get("dealstage").and_then(|v| v.as_str()) {
        let ok = p["results"].as_array().into_iter().flatten().any(|pl| {
            pipeline.is_none_or(|want| pl["id"] == want)
                && pl["stages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["id"] == stage)
        });
        if !ok {
            return Err(format!("dealstage {stage} is not a stage of the pipeline"));
        }
    }
    Ok(())
}

fn validated(
    s: &HubSpotState,
    object: &str,
    props: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, String)>, String> {
    let defs = &s.properties[object];
    let mut out = Vec::new();
    for (name, v) in props {
        let Some(def) = defs.get(name) else {
            return Err(format!("Property \"{name}\" does not exist"));
        };
        let raw = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        match check(def, &raw) {
            Ok(v) => out.push((name.clone(), v)),
            Err((_, m)) => return Err(format!("Property values were not valid: {m}")),
        }
    }
    Ok(out)
}

async fn create(
    State(state): State<Shared>,
    Path(object): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    if !s.objects.contains_key(&object) {
        return err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "unknown object type",
        );
    }
    let props = body["properties"].as_object().cloned().unwrap_or_default();
    if object == "tasks" && props.get("hs_timestamp").is_none() {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "hs_timestamp is required to create a task",
        );
    }
    if object == "deals" {
        if let Err(m) = validate_deal(&props, true) {
            return err(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &m);
        }
    }
    let values = match validated(&s, &object, &props) {
        Ok(v) => v,
        Err(m) => return err(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &m),
    };
    let mut links = Vec::new();
    for a in body["associations"].as_array().into_iter().flatten() {
        let to = a["to"]["id"]
            .as_str()
            .and_then(|i| i.parse::<u64>().ok())
            .or(a["to"]["id"].as_u64());
        let type_id = a["types"][0]["associationTypeId"].as_u64();
        let (Some(to), Some(type_id)) = (to, type_id) else {
            return err(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "association needs to.id and types[0].associationTypeId",
            );
        };
        let Some((from_obj, to_obj)) = association_type(type_id).filter(|(f, _)| *f == object)
        else {
            return err(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("association type {type_id} is not valid from {object}"),
            );
        };
        if !s.objects.get(to_obj).is_some_and(|m| m.contains_key(&to)) {
            return err(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("{to_obj} {to} does not exist"),
            );
        }
        links.push((from_obj, to_obj, to, type_id));
    }
    let id = s.insert(&object, values.into_iter().collect());
    for (from_obj, to_obj, to, type_id) in links {
        s.associations.push(Association {
            from: (from_obj.to_string(), id),
            to: (to_obj.to_string(), to),
            type_id,
        });
    }
    let r = &s.objects[&object][&id];
    (
        StatusCode::CREATED,
        Json(json!({"id": id.to_string(), "properties": r.properties, "createdAt": iso(r.created_ms), "updatedAt": iso(r.updated_ms), "archived": false})),
    )
        .into_response()
}

async fn update(
    State(state): State<Shared>,
    Path((object, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    let Some(id) = id
        .parse::<u64>()
        .ok()
        .filter(|i| s.objects.get(&object).is_some_and(|m| m.contains_key(i)))
    else {
        return err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "Object not found",
        );
    };
    let props = body["properties"].as_object().cloned().unwrap_or_default();
    if object == "deals" {
        let mut merged = props.clone();
        if !merged.contains_key("pipeline") {
            if let Some(p) = s.objects["deals"][&id].properties.get("pipeline") {
                merged.insert("pipeline".into(), json!(p));
            }
        }
        if let Err(m) = validate_deal(&merged, false) {
            return err(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &m);
        }
    }
    let values = match validated(&s, &object, &props) {
        Ok(v) => v,
        Err(m) => return err(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &m),
    };
    let now = s.now_ms();
    let modified = super::values::modified_property(&object);
    let r = s
        .objects
        .get_mut(&object)
        .and_then(|m| m.get_mut(&id))
        .expect("checked");
    for (k, v) in values {
        r.properties.insert(k, v);
    }
    r.updated_ms = now;
    r.properties.insert(modified.into(), iso(now));
    Json(
        json!({"id": id.to_string(), "properties": r.properties, "createdAt": iso(r.created_ms),
                "updatedAt": iso(now), "archived": false}),
    )
    .into_response()
}

async fn list_associations(
    State(state): State<Shared>,
    Path((from, id, to)): Path<(String, String, String)>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    let s = state.lock().unwrap();
    let Ok(id) = id.parse::<u64>() else {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "id must be numeric",
        );
    };
    let results: Vec<Value> = s
        .associations
        .iter()
        .filter_map(|a| {
            if a.from == (from.clone(), id) && a.to.0 == to {
                Some((a.to.1, association_spec(a.type_id, true)))
            } else if a.to == (from.clone(), id) && a.from.0 == to {
                Some((a.from.1, association_spec(a.type_id, false)))
            } else {
                None
            }
        })
        // v4 sends the id as a string (MultiAssociatedObjectWithLabel.toObjectId).
        .map(|(other, spec)| json!({"toObjectId": other.to_string(), "associationTypes": [spec]}))
        .collect();
    Json(json!({"results": results})).into_response()
}

async fn associate_default(
    State(state): State<Shared>,
    Path((from, from_id, to, to_id)): Path<(String, u64, String, u64)>,
) -> Response {
    let mut s = state.lock().unwrap();
    let exists =
        |s: &HubSpotState, o: &str, i: u64| s.objects.get(o).is_some_and(|m| m.contains_key(&i));
    if !exists(&s, &from, from_id) || !exists(&s, &to, to_id) {
        return err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "one of the records does not exist",
        );
    }
    let Some(type_id) = default_type(&from, &to) else {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!("no default association type from {from} to {to}"),
        );
    };
    s.associations.push(Association {
        from: (from, from_id),
        to: (to, to_id),
        type_id,
    });
    Json(json!({"status": "COMPLETE"})).into_response()
}

pub fn routes() -> Router<Shared> {
    let r = super::both(
        Router::new(),
        "/crm/v3/objects/{object}",
        "/crm/objects/2026-03/{object}",
        post(create),
    );
    let r = super::both(
        r,
        "/crm/v3/objects/{object}/{id}",
        "/crm/objects/2026-03/{object}/{id}",
        axum::routing::patch(update),
    );
    // Record associations: v4 in the legacy family, under the objects path in 2026-03.
    let r = super::both(
        r,
        "/crm/v4/objects/{object}/{id}/associations/{to}",
        "/crm/objects/2026-03/{object}/{id}/associations/{to}",
        get(list_associations),
    );
    let r = super::both(
        r,
        "/crm/v4/objects/{object}/{id}/associations/default/{to}/{to_id}",
        "/crm/objects/2026-03/{object}/{id}/associations/default/{to}/{to_id}",
        put(associate_default),
    );
    // HubSpot publishes no date-versioned pipelines path: legacy only.
    r.route(
        "/crm/v3/pipelines/deals",
        get(|| async { Json(pipelines()) }),
    )
    .route("/crm/v3/owners", get(list_owners))
}

/// The portal's owners (three people, one archived), as `GET /crm/v3/owners` answers: pages of
/// `limit` (default 100, at most 500) with `paging.next.after`; archived owners only when
/// `archived=true` (HubSpot's owners guide).
pub fn owners() -> Vec<Value> {
    let owner = |id: &str, first: &str, last: &str, archived: bool| {
        json!({"id": id, "email": format!("{}@example.com", first.to_lowercase()),
               "type": "PERSON", "firstName": first, "lastName": last, "userId": id.parse::<u64>().unwrap() + 1000,
               "createdAt": "2024-01-05T10:00:00.000Z", "updatedAt": "2025-06-01T10:00:00.000Z", "archived": archived})
    };
    vec![
        owner("41629779", "Holly", "Flax", false),
        owner("41629780", "Dwight", "Schrute", false),
        owner("41629781", "Jim", "Halpert", false),
        owner("41629782", "Ryan", "Howard", true),
    ]
}

async fn list_owners(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 500);
    let archived = q.get("archived").is_some_and(|a| a == "true");
    let all: Vec<Value> = owners()
        .into_iter()
        .filter(|o| o["archived"].as_bool() == Some(archived))
        .collect();
    let start = q
        .get("after")
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(0)
        .min(all.len());
    let end = (start + limit).min(all.len());
    let mut body = json!({"results": all[start..end]});
    if end < all.len() {
        body["paging"] = json!({"next": {"after": end.to_string()}});
    }
    Json(body).into_response()
}
