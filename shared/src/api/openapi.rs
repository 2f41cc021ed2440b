//! The OpenAPI 3 document, built from the route table below (the one list of admin routes the
//! router test checks against the router itself).

use serde_json::{json, Map, Value};

/// (method, path, summary, operator only)
pub const ROUTES: &[(&str, &str, &str, bool)] = &[
    ("post", "/v1/tenants", "Create a tenant", true),
    ("get", "/v1/tenants", "List tenants (paged)", true),
    ("get", "/v1/tenants/{id}", "Get a tenant", false),
    (
        "patch",
        "/v1/tenants/{id}",
        "Update display name or Pendo region",
        false,
    ),
    (
        "delete",
        "/v1/tenants/{id}",
        "Delete: stop any running sync, revoke the HubSpot token, delete secrets and all data (204; 202 while a running sync stops)",
        false,
    ),
    (
        "put",
        "/v1/tenants/{id}/pendo",
        "Save the Pendo region and integration key (verified first)",
        false,
    ),
    (
        "post",
        "/v1/tenants/{id}/hubspot/connect",
        "Get the HubSpot authorize URL (signed state)",
        false,
    ),
    (
        "get",
        "/v1/tenants/{id}/config",
        "Get the sync configuration",
        false,
    ),
    (
        "put",
        "/v1/tenants/{id}/config",
        "Set the sync configuration (validated against both schemas; `hubspot_api_version`: \"2026-03\" (default) or \"legacy\" picks the tenant's HubSpot path family)",
        false,
    ),
    (
        "get",
        "/v1/tenants/{id}/rules",
        "Get the lifecycle rules",
        false,
    ),
    (
        "put",
        "/v1/tenants/{id}/rules",
        "Set the lifecycle rules (names validated against HubSpot and Pendo)",
        false,
    ),
    (
        "post",
        "/v1/tenants/{id}/enable",
        "Ensure the HubSpot schema, enable, sync immediately; 409 {code: needs_attention, message: reason and action} when only an admin can fix the schema",
        false,
    ),
    (
        "post",
        "/v1/tenants/{id}/disable",
        "Disable the daily sync",
        false,
    ),
    ("post", "/v1/tenants/{id}/runs", "Run a sync now", false),
    (
        "get",
        "/v1/tenants/{id}/runs",
        "Run history (paged, newest first)",
        false,
    ),
    (
        "post",
        "/v1/tenants/{id}/dry-run",
        "What a sync would write, without writing",
        false,
    ),
    (
        "get",
        "/v1/tenants/{id}/runs/{run_id}",
        "One run with its per-record errors (paged)",
        false,
    ),
    (
        "get",
        "/v1/tenants/{id}/status",
        "Connection, last success, next run, lag; health (ok|degraded|failing|needs_attention), attention {kind, reason, action}, consecutive_failed_runs, failures_by_reason [{direction, object, field, reason, count, examples}]",
        false,
    ),
    (
        "get",
        "/v1/tenants/{id}/webhook",
        "The tenant's Pendo webhook URL",
        false,
    ),
    ("get", "/v1/openapi.json", "This document", false),
    (
        "get",
        "/oauth/callback",
        "HubSpot OAuth callback (public)",
        false,
    ),
    (
        "post",
        "/webhooks/pendo/{tenant}/{token}",
        "Pendo webhook intake (public)",
        false,
    ),
];

pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (method, path, summary, operator) in ROUTES {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let public = path.starts_with("/oauth")
            || path.starts_with("/webhooks")
            || *path == "/v1/openapi.json";
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "2XX": {"description": "Success"},
                "4XX": {"description": "Client error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if !public {
            op["security"] = json!([{"bearer": []}]);
        }
        if *operator {
            op["description"] = json!("Requires the operator role.");
        }
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(method.to_string(), op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Pendo ↔ HubSpot sync admin API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}, "action": {"type": "string"}}}}
        }
    })
}
