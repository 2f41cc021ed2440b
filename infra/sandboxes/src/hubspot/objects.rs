//! CRM objects: batch read/create/update/upsert (≤100 inputs, 207 per-record errors keyed by
//! `objectWriteTraceId`), single create, and search (filters, one sort, ≤200 per page, 10k cap).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

use super::refusals::refusal;
use super::values::{self, check, iso};
use super::{err, HubSpotState, Record, Shared};

const BATCH_MAX: usize = 100;

fn object_kind_name(object: &str) -> &'static str {
    match object {
        "contacts" => "CONTACT",
        "companies" => "COMPANY",
        "deals" => "DEAL",
        _ => "OBJECT",
    }
}

/// A record as HubSpot returns it. A requested property that never had a value comes back as
/// `null`, one cleared with `""` as `""`, and unrequested ones are absent (HubSpot's SDK issue
/// reports: hubspot-api-nodejs#323 (`null`), singer-io/tap-hubspot#300 (`""`); the client
/// reads all three as "no value").
pub(super) fn render(r: &Record, wanted: &[String]) -> Value {
    let mut props = serde_json::Map::new();
    for name in wanted {
        props.insert(
            name.clone(),
            r.properties.get(name).map_or(Value::Null, |v| json!(v)),
        );
    }
    for default in [
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
    ] {
        if let Some(v) = r.properties.get(default) {
            props.insert(default.into(), json!(v));
        }
    }
    json!({"id": r.id.to_string(), "properties": props, "createdAt": iso(r.created_ms),
           "updatedAt": iso(r.updated_ms), "archived": false})
}

pub(super) fn wanted_properties(body: &Value) -> Vec<String> {
    body["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn record_error(
    category: &str,
    message: &str,
    trace: Option<&str>,
    property: Option<&str>,
    code: &str,
) -> Value {
    let mut context = serde_json::Map::new();
    if let Some(t) = trace {
        context.insert("objectWriteTraceId".into(), json!([t]));
    }
    let mut detail = json!({"message": message, "code": code});
    if let Some(p) = property {
        detail["context"] = json!({"propertyName": [p]});
    }
    json!({"status": "error", "category": category, "message": message, "context": context, "errors": [detail], "links": {}})
}

/// HubSpot's per-record error for a property value it rejects.
fn invalid_values(trace: Option<&str>, property: &str, code: &str, message: &str) -> Value {
    record_error(
        "VALIDATION_ERROR",
        &format!("Property values were not valid: {message}"),
        trace,
        Some(property),
        code,
    )
}

fn batch_response(results: Vec<Value>, errors: Vec<Value>, created: bool) -> Response {
    let now = chrono::Utc::now().to_rfc3339();
    if errors.is_empty() {
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (status, Json(json!({"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now})))
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

/// Validates a property map for `object`; the first problem as (property, code, message).
fn validate(
    s: &HubSpotState,
    object: &str,
    props: &serde_json::Map<String, Value>,
    self_id: Option<u64>,
) -> Result<BTreeMap<String, String>, (String, &'static str, String)> {
    let defs = &s.properties[object];
    let mut out = BTreeMap::new();
    for (name, value) in props {
        let Some(def) = defs.get(name) else {
            return Err((
                name.clone(),
                "PROPERTY_DOESNT_EXIST",
                format!("Property \"{name}\" does not exist"),
            ));
        };
        let raw = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            _ => {
                return Err((
                    name.clone(),
                    "INVALID_TYPE",
                    format!("{name} must be a string"),
                ))
            }
        };
        let raw = if name == "email" {
            values::normalise_email(&raw)
        } else {
            raw
        };
        let v = check(def, &raw).map_err(|(code, m)| (name.clone(), code, m))?;
        if def.has_unique_value && !v.is_empty() {
            let clash = s
                .find_by(object, name, &v)
                .into_iter()
                .any(|r| Some(r.id) != self_id);
            if clash {
                return Err((
                    name.clone(),
                    "UNIQUE_VALUE_CONFLICT",
                    format!(
                        "A {} with {name}={v} already exists",
                        object_kind_name(object).to_lowercase()
                    ),
                ));
            }
        }
        out.insert(name.clone(), v);
    }
    Ok(out)
}

fn apply(s: &mut HubSpotState, object: &str, id: u64, props: BTreeMap<String, String>) {
    // A cleared value reads back as "", a never-set one as null (see `render`).
    s.edit(object, id, props);
}

fn inputs(body: &Value) -> Result<Vec<Value>, Box<Response>> {
    let Some(inputs) = body["inputs"].as_array() else {
        return Err(Box::new(err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Invalid input JSON: inputs is required",
        )));
    };
    if inputs.len() > BATCH_MAX {
        return Err(Box::new(err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!(
                "Batch input limit exceeded: {} inputs, the limit is {BATCH_MAX}",
                inputs.len()
            ),
        )));
    }
    Ok(inputs.clone())
}

/// Resolves a batch's keys through the sandbox's index of the property (built by one pass over
/// the records on first use, then kept up to date): batches against a million records stay
/// fast. Keys are matched exactly, `email` case-insensitively; a key the index does not know is
/// looked for once more in a fresh pass, so the index can only speed a lookup up.
struct Lookup {
    by_value: HashMap<String, u64>,
    by_id: bool,
}

impl Lookup {
    fn new(s: &mut HubSpotState, object: &str, id_property: Option<&str>, keys: &[&str]) -> Self {
        let Some(p) = id_property.filter(|p| *p != "hs_object_id") else {
            return Self {
                by_value: HashMap::new(),
                by_id: true,
            };
        };
        let wanted: HashSet<String> = keys.iter().map(|k| super::index_key(p, k)).collect();
        let key = (object.to_string(), p.to_string());
        let fresh = !s.unique_index.contains_key(&key);
        let missing = |s: &HubSpotState| {
            wanted
                .iter()
                .any(|k| !s.unique_index.get(&key).is_some_and(|i| i.contains_key(k)))
        };
        if fresh || missing(s) {
            let mut index: HashMap<String, u64> = HashMap::new();
            for r in s.objects[object].values() {
                if let Some(v) = r.properties.get(p).filter(|v| !v.is_empty()) {
                    index.entry(super::index_key(p, v)).or_insert(r.id);
                }
            }
            s.unique_index.insert(key.clone(), index);
        }
        let index = &s.unique_index[&key];
        Self {
            by_value: wanted
                .into_iter()
                .filter_map(|k| index.get(&k).map(|id| (k, *id)))
                .collect(),
            by_id: false,
        }
    }

    fn get(
        &self,
        s: &HubSpotState,
        object: &str,
        id_property: Option<&str>,
        key: &str,
    ) -> Option<u64> {
        if self.by_id {
            return key
                .parse::<u64>()
                .ok()
                .map(|id| s.survivor(object, id))
                .filter(|id| s.objects[object].contains_key(id));
        }
        self.by_value
            .get(&super::index_key(id_property.unwrap_or_default(), key))
            .copied()
    }
}

async fn batch(
    State(state): State<Shared>,
    Path((object, op)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    if !s.objects.contains_key(&object) {
        return err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            &format!("Unknown object type {object}"),
        );
    }
    let inputs = match inputs(&body) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let id_property = body["idProperty"].as_str().map(str::to_string);
    if let Some(refused) = refusal(&s, &object, &op, &inputs, id_property.as_deref()) {
        return refused;
    }
    match op.as_str() {
        "read" => {
            let wanted = wanted_properties(&body);
            let keys: Vec<&str> = inputs.iter().filter_map(|i| i["id"].as_str()).collect();
            let found = Lookup::new(&mut s, &object, id_property.as_deref(), &keys);
            let mut results = Vec::new();
            let mut missing = Vec::new();
            for i in &inputs {
                let key = i["id"].as_str().unwrap_or_default();
                match found.get(&s, &object, id_property.as_deref(), key) {
                    Some(id) => results.push(render(&s.objects[&object][&id], &wanted)),
                    None => missing.push(key.to_string()),
                }
            }
            let errors = if missing.is_empty() {
                vec![]
            } else {
                vec![json!({"status": "error", "category": "OBJECT_NOT_FOUND",
                            "message": format!("Could not get some {} objects, they may be deleted or not exist.", object_kind_name(&object)),
                            "context": {"ids": missing}, "links": {},
                            "errors": missing.iter().map(|id| json!({"message": format!("Object {id} not found"),
                                "code": "OBJECT_NOT_FOUND", "context": {"id": [id]}})).collect::<Vec<_>>()})]
            };
            batch_response(results, errors, false)
        }
        "update" | "upsert" => {
            s.inputs_written += inputs.len() as u64;
            let batch_property = inputs
                .first()
                .and_then(|i| i["idProperty"].as_str())
                .or(id_property.as_deref())
                .map(str::to_string);
            let keys: Vec<&str> = inputs.iter().filter_map(|i| i["id"].as_str()).collect();
            let batch_found = Lookup::new(&mut s, &object, batch_property.as_deref(), &keys);
            let mut results = Vec::new();
            let mut errors = Vec::new();
            for i in &inputs {
                let key = i["id"].as_str().unwrap_or_default();
                let trace = i["objectWriteTraceId"].as_str();
                let p = i["idProperty"].as_str().or(id_property.as_deref());
                let own;
                let found = if p == batch_property.as_deref() {
                    &batch_found
                } else {
                    own = Lookup::new(&mut s, &object, p, &[key]);
                    &own
                };
                let props = i["properties"].as_object().cloned().unwrap_or_default();
                let existing = found.get(&s, &object, p, key);
                let id = match (existing, op.as_str()) {
                    (Some(id), _) => Some(id),
                    (None, "update") => {
                        errors.push(record_error(
                            "OBJECT_NOT_FOUND",
                            &format!("Object not found. objectId are usually numeric. ({key})"),
                            trace,
                            None,
                            "OBJECT_NOT_FOUND",
                        ));
                        continue;
                    }
                    _ => None,
                };
                let rejected = id.is_some_and(|i| s.reject_writes.contains(&i));
                let checked = if rejected {
                    Err((
                        "hs_object_id".to_string(),
                        "INVALID_RECORD",
                        "record is locked by a sandbox fault".to_string(),
                    ))
                } else {
                    validate(&s, &object, &props, id)
                };
                match checked {
                    Err((prop, code, message)) => {
                        errors.push(invalid_values(trace, &prop, code, &message))
                    }
                    Ok(valid) => {
                        let (id, new) = match id {
                            Some(id) => (id, false),
                            None => {
                                let mut init = BTreeMap::new();
                                if let Some(p) = p {
                                    init.insert(p.to_string(), key.to_string());
                                }
                                (s.insert(&object, init), true)
                            }
                        };
                        apply(&mut s, &object, id, valid);
                        let mut v = render(
                            &s.objects[&object][&id],
                            &props
                                .keys()
                                .cloned()
                                .chain(p.map(str::to_string))
                                .collect::<Vec<_>>(),
                        );
                        if op == "upsert" {
                            v["new"] = json!(new);
                        }
                        if let Some(t) = trace {
                            v["objectWriteTraceId"] = json!(t);
                        }
                        results.push(v);
                    }
                }
            }
            batch_response(results, errors, false)
        }
        "create" => {
            let mut results = Vec::new();
            let mut errors = Vec::new();
            for i in &inputs {
                let trace = i["objectWriteTraceId"].as_str();
                let props = i["properties"].as_object().cloned().unwrap_or_default();
                match validate(&s, &object, &props, None) {
                    Err((prop, code, message)) => {
                        errors.push(invalid_values(trace, &prop, code, &message))
                    }
                    Ok(valid) => {
                        let id = s.insert(&object, valid);
                        let mut v = render(
                            &s.objects[&object][&id],
                            &props.keys().cloned().collect::<Vec<_>>(),
                        );
                        if let Some(t) = trace {
                            v["objectWriteTraceId"] = json!(t);
                        }
                        results.push(v);
                    }
                }
            }
            batch_response(results, errors, true)
        }
        _ => err(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "unknown batch operation",
        ),
    }
}

pub fn routes() -> Router<Shared> {
    super::both(
        Router::new(),
        "/crm/v3/objects/{object}/batch/{op}",
        "/crm/objects/2026-03/{object}/batch/{op}",
        post(batch),
    )
}
