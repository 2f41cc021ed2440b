//! The OpenAPI 3.1 document, generated with utoipa from the handlers' `#[utoipa::path]`
//! attributes and the request/response types' `ToSchema` derives (beside their serde
//! derives), so it describes what the code accepts and answers. Served at
//! `GET /v1/openapi.json` and written by `pendo-hubspot openapi`.
//!
//! What the attributes do not say per route is added here once, from the code's own rules:
//! the bearer security of every `/v1` route but this document, and the error answers every
//! route can give (bad query or path, missing token, unknown tenant, bad body, internal error).

use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Doc, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pendo ↔ HubSpot sync admin API",
        version = "1",
        description = "Tenants, credentials, HubSpot connection, sync configuration, lifecycle rules, runs. \
                       Every error has the body `Error`. Admins reach only their own tenant (others are 404); \
                       operators reach all."
    ),
    paths(oauth_callback, pendo_webhook, super::console::config),
    components(schemas(ApiError)),
    tags(
        (name = "tenants", description = "Tenants (create and list: operator)"),
        (name = "setup", description = "Credentials, HubSpot connection, configuration, rules"),
        (name = "sync", description = "Enable, disable, run now, dry run, status"),
        (name = "runs", description = "Run history"),
        (name = "public", description = "Called by HubSpot and Pendo, not by admins"),
        (name = "meta", description = "This document"),
        (name = "console", description = "The web console at /console/ (public files; data calls use /v1 with a bearer token)"),
    )
)]
pub struct ApiDoc;

/// HubSpot redirects the admin's browser here after consent (public). Answers JSON, or an HTML
/// page with the same message when `Accept` ranks `text/html` above JSON (browsers do).
#[utoipa::path(get, path = "/oauth/callback", tag = "public",
    params(
        ("code" = Option<String>, Query, description = "Authorization code"),
        ("state" = Option<String>, Query, description = "The signed state of the authorize URL"),
        ("error" = Option<String>, Query, description = "Set by HubSpot when consent was refused"),
    ),
    responses(
        (status = 200, description = "Connected", content(
            (super::oauth_callback::Connected = "application/json"), (String = "text/html"))),
        (status = 400, description = "Refused consent, missing parameter, expired, used or tampered state, or a code HubSpot refused (4xx)", content(
            (ApiError = "application/json"), (String = "text/html"))),
        (status = 409, description = "Another portal; reconnect explicitly", content(
            (ApiError = "application/json"), (String = "text/html"))),
        (status = 500, description = "Internal error", content(
            (ApiError = "application/json"), (String = "text/html"))),
        (status = 502, description = "HubSpot answered something unexpected", content(
            (ApiError = "application/json"), (String = "text/html"))),
        (status = 503, description = "HubSpot temporarily unavailable; the same link works again later (Retry-After)", content(
            (ApiError = "application/json"), (String = "text/html"))),
    ))]
#[allow(dead_code)]
fn oauth_callback() {}

/// Accepted webhook events, with what was deduplicated or ignored.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct WebhookAccepted {
    accepted: u32,
    duplicates: u32,
    ignored: u32,
    /// The coalesced incremental job, when this delivery created one.
    job_id: Option<String>,
}

/// Pendo URL webhook intake (public; the per-tenant token in the URL is the credential).
/// Body: one Pendo webhook event or an array of 1-1000.
#[utoipa::path(post, path = "/webhooks/pendo/{tenant}/{token}", tag = "public",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("token" = String, Path, description = "The tenant's webhook token"),
    ),
    request_body(content = Object, content_type = "application/json",
                 description = "A Pendo webhook event (`event`, `uniqueId`, …) or an array of them"),
    responses(
        (status = 202, description = "Accepted", body = WebhookAccepted),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 401, description = "Unknown tenant or wrong token (one answer for both)", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "Not JSON", body = ApiError),
        (status = 422, description = "Not a Pendo webhook event, or an impossible timestamp (before 2010 or over a day ahead); `field` names it", body = ApiError),
        (status = 500, description = "Internal error", body = ApiError),
    ))]
#[allow(dead_code)]
fn pendo_webhook() {}

struct Conventions;

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("Error"))),
        )
        .build()
        .into()
}

/// Operator-only operations (403 for admins).
pub const OPERATOR_ONLY: &[(&str, &str)] = &[("post", "/v1/tenants"), ("get", "/v1/tenants")];

impl Modify for Conventions {
    fn modify(&self, doc: &mut Doc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "In AWS: an OpenID Connect ID/access token of the issuer the JWT authorizer trusts, \
                         with `role` (admin|operator) and, for admins, `tenant_id` claims. Locally: a token given to `serve`.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let admin = path.starts_with("/v1/") && path != "/v1/openapi.json";
            for (method, op) in [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("put", item.put.as_mut()),
                ("patch", item.patch.as_mut()),
                ("delete", item.delete.as_mut()),
            ] {
                let Some(op) = op else { continue };
                if admin {
                    conventions(path, method, op);
                }
            }
        }
    }
}

fn conventions(path: &str, method: &str, op: &mut Operation) {
    op.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    let has_body = op.request_body.is_some();
    let has_query = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
    });
    let mut add = |code: &str, description: &str| {
        op.responses
            .responses
            .entry(code.to_string())
            .or_insert_with(|| error_response(description));
    };
    add("400", "Malformed request (query string, path, JSON)");
    add("401", "No valid bearer token");
    if OPERATOR_ONLY.contains(&(method, path)) {
        add("403", "Needs the operator role");
    }
    if path.contains("{id}") {
        add("404", "No such tenant (or not yours)");
    }
    if has_body {
        add("413", "Body larger than 256 KiB");
        add("415", "Content-Type is not application/json");
    }
    if has_body || has_query || method == "patch" {
        add("422", "A field is invalid; `field` names it");
    }
    if method != "get" {
        add(
            "409",
            "Conflict: the resource changed concurrently or is not ready for this",
        );
    }
    add("500", "Internal error (logged)");
}

/// The whole document: the admin operations, then the public ones, with the conventions.
pub fn build() -> Doc {
    let public = ApiDoc::openapi();
    let mut doc = super::admin::doc::AdminDoc::openapi();
    doc.info = public.info.clone();
    doc.merge(public);
    Conventions.modify(&mut doc);
    doc
}

/// The document as JSON.
/// The document as the admin API serves it: [`document_pretty`]'s output, committed as
/// `shared/src/api/openapi.json` and embedded. Serving the committed text keeps utoipa's schema
/// building out of the Lambda binary (it fits under 6 MB with that); the API suite checks it
/// equals [`document`] byte for byte, so it cannot drift from the types. After changing a
/// request or response type: `cargo run -p local --bin pendo-hubspot -- openapi >
/// shared/src/api/openapi.json`.
pub const SERVED: &str = include_str!("openapi.json");

pub fn document() -> Value {
    serde_json::to_value(build()).expect("the OpenAPI document serialises")
}

/// The document, pretty-printed (what `pendo-hubspot openapi` writes).
pub fn document_pretty() -> String {
    build()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}
