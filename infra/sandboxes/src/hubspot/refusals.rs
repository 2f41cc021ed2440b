//! Problems HubSpot answers for a whole batch (400/409), not per input with a 207: looking
//! records up by a property without unique values, duplicate ids, an invalid e-mail, and
//! creating a contact whose e-mail another contact already has (primary or additional).
//! Sources: hubspot.md §3 (upsert idProperty), §6 (error body), §8 pitfalls 3-5.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashSet;

use super::values::valid_email;
use super::{err, HubSpotState};

/// The whole-batch refusal for `op` on `object`, if any. Nothing has been written when it is
/// returned (HubSpot applies none of a refused batch).
pub(super) fn refusal(
    s: &HubSpotState,
    object: &str,
    op: &str,
    inputs: &[Value],
    id_property: Option<&str>,
) -> Option<Response> {
    let by = |i: &Value| {
        i["idProperty"]
            .as_str()
            .or(id_property)
            .unwrap_or("hs_object_id")
            .to_string()
    };
    let looks_up = op == "upsert"
        || (matches!(op, "update" | "read") && id_property.is_some())
        || inputs.iter().any(|i| i["idProperty"].is_string());
    if looks_up && op != "create" {
        for i in inputs {
            let p = by(i);
            let def = s.properties[object].get(&p);
            // A read by a property that does not exist (yet) simply finds nothing.
            let unique = p == "hs_object_id"
                || p == "email" && object == "contacts"
                || def.is_some_and(|d| d.has_unique_value)
                || (op == "read" && def.is_none());
            if !unique {
                let verb = if op == "read" {
                    "read"
                } else {
                    "update/upsert"
                };
                return Some(err(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    &format!("Unable to perform {verb} by non-unique {object} property {p}"),
                ));
            }
        }
    }
    if op == "read" {
        return None;
    }
    if op != "create" {
        let mut seen = HashSet::new();
        if !inputs
            .iter()
            .all(|i| seen.insert(i["id"].as_str().unwrap_or_default().to_string()))
        {
            return Some(err(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "Duplicate IDs found in batch input",
            ));
        }
    }
    if object != "contacts" {
        return None;
    }
    for i in inputs {
        let Some(email) = i["properties"]["email"].as_str().filter(|e| !e.is_empty()) else {
            continue;
        };
        if !valid_email(email) {
            let mut body = super::error_body("VALIDATION_ERROR", "Property values were not valid");
            body["errors"] = json!([{"message": format!("Email address {email} is invalid"),
                                     "code": "INVALID_EMAIL", "context": {"propertyName": ["email"]}}]);
            return Some((StatusCode::BAD_REQUEST, Json(body)).into_response());
        }
        let creates = op == "create"
            || op == "upsert"
                && s.lookup_one(object, &by(i), i["id"].as_str().unwrap_or(""))
                    .is_none();
        if creates {
            if let Some(existing) = s.contact_with_email(email) {
                return Some(err(
                    StatusCode::CONFLICT,
                    "CONFLICT",
                    &format!("Contact already exists. Existing ID: {existing}"),
                ));
            }
        }
    }
    None
}
