//! The admin API (`/v1`): tenants, credentials, HubSpot connect, sync configuration,
//! enable/disable, run now, dry run, run history and status.

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::error::{ApiError, JsonBody};
use super::{oauth_state, AppState, MAX_BODY};
use crate::domain::{
    Job, ObjectKind, PendoRegion, RuleKind, RuleSet, RunId, RunStatus, SyncConfig, SyncConfigInput,
    Tenant, TenantId, TenantStatus, Trigger,
};
use crate::hubspot::oauth::{self, OAuthApp};
use crate::secret::SecretString;
use crate::sync::{SyncEngine, SyncOptions};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tenants", post(create_tenant).get(list_tenants))
        .route(
            "/v1/tenants/{id}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route("/v1/tenants/{id}/pendo", put(put_pendo))
        .route("/v1/tenants/{id}/hubspot/connect", post(connect_hubspot))
        .route("/v1/tenants/{id}/config", put(put_config).get(get_config))
        .route("/v1/tenants/{id}/rules", put(put_rules).get(get_rules))
        .route("/v1/tenants/{id}/enable", post(enable))
        .route("/v1/tenants/{id}/disable", post(disable))
        .route("/v1/tenants/{id}/runs", post(run_now).get(list_runs))
        .route("/v1/tenants/{id}/dry-run", post(dry_run))
        .route("/v1/tenants/{id}/runs/{run_id}", get(get_run))
        .route("/v1/tenants/{id}/status", get(status))
        .route("/v1/tenants/{id}/webhook", get(webhook_url))
        .route("/v1/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    // A malformed id cannot exist: answer like any unknown tenant.
    TenantId::parse(raw).map_err(|_| ApiError::not_found("tenant"))
}

async fn load(state: &AppState, caller: &Caller, raw: &str) -> Result<Tenant, ApiError> {
    let id = tenant_id(raw)?;
    caller.tenant(&id)?;
    state
        .repo
        .get_tenant(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    id: String,
    display_name: String,
    pendo_region: PendoRegion,
}

/// The tenant as the API shows it (no secrets, connection flags instead).
#[derive(Serialize)]
struct TenantView {
    #[serde(flatten)]
    tenant: Tenant,
}

async fn create_tenant(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<CreateTenant>,
) -> Result<Response, ApiError> {
    caller.operator()?;
    let id = TenantId::parse(&b.id).map_err(|e| ApiError::invalid("id", e.message))?;
    let tenant = Tenant::new(id.clone(), &b.display_name, b.pendo_region, Utc::now())?;
    let created = s.repo.create_tenant(&tenant).await.map_err(|e| {
        if e.is_condition_failed() {
            ApiError::conflict(format!("tenant {id} already exists")).field("id")
        } else {
            e.into()
        }
    })?;
    // Each tenant gets its own unguessable webhook token.
    let mut secrets = s.secrets.tenant(&id).await?;
    secrets.webhook_token = Some(SecretString::new(format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )));
    s.secrets.put_tenant(&id, &secrets).await?;
    s.repo.put_config(&id, &SyncConfig::default()).await?;
    Ok((StatusCode::CREATED, Json(TenantView { tenant: created })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

fn limit(q: &PageQuery) -> Result<usize, ApiError> {
    match q.limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "must be 1-200")),
    }
}

fn page_query(
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<PageQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))
}

async fn list_tenants(
    State(s): State<AppState>,
    caller: Caller,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.operator()?;
    let q = page_query(q)?;
    let page = s.repo.list_tenants(q.after.as_deref(), limit(&q)?).await?;
    Ok(Json(json!({"items": page.items, "next": page.next})))
}

async fn get_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(load(&s, &caller, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTenant {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    pendo_region: Option<PendoRegion>,
}

async fn update_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<UpdateTenant>,
) -> Result<Json<Tenant>, ApiError> {
    let mut t = load(&s, &caller, &id).await?;
    if b.display_name.is_none() && b.pendo_region.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "nothing to update: give display_name and/or pendo_region",
        ));
    }
    if let Some(name) = b.display_name {
        let checked = Tenant::new(t.id.clone(), &name, t.pendo_region, t.created_at)?;
        t.display_name = checked.display_name;
    }
    if let Some(r) = b.pendo_region {
        t.pendo_region = r;
    }
    Ok(Json(s.repo.update_tenant(&t, Utc::now()).await?))
}

async fn app(s: &AppState) -> Result<(OAuthApp, SecretString), ApiError> {
    let app = s.secrets.app().await?;
    Ok((
        OAuthApp {
            client_id: app.hubspot_client_id,
            client_secret: app.hubspot_client_secret,
            redirect_uri: s.redirect_uri.clone(),
        },
        app.state_signing_key,
    ))
}

async fn delete_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let secrets = s.secrets.tenant(&t.id).await?;
    if let Some(refresh) = &secrets.hubspot_refresh_token {
        let (app, _) = app(&s).await?;
        if let Err(e) = oauth::revoke(&s.hubspot_api_base, &app, refresh).await {
            tracing::warn!(tenant_id = %t.id, error = %e, "HubSpot token revocation failed; deleting anyway");
        }
    }
    s.secrets.delete_tenant(&t.id).await?;
    s.repo.delete_tenant(&t.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PendoCredentials {
    region: PendoRegion,
    integration_key: String,
}

async fn put_pendo(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PendoCredentials>,
) -> Result<StatusCode, ApiError> {
    let mut t = load(&s, &caller, &id).await?;
    let key = b.integration_key.trim();
    if key.is_empty() || key.len() > 512 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "integration_key",
            "must be 1-512 printable characters",
        ));
    }
    let key = SecretString::new(key);
    let client = s.connectors.pendo_client(b.region, key.clone());
    match client.verify_key().await {
        Ok(check) if check.write_access => {}
        Ok(_) => {
            return Err(ApiError::invalid(
                "integration_key",
                "the key has no write access; create it with \"Allow Write Access\"",
            ))
        }
        Err(crate::pendo::PendoError::InvalidKey) => {
            return Err(ApiError::invalid(
                "integration_key",
                "Pendo rejected the key: wrong key, or a key of another region than the one given",
            ))
        }
        Err(e) => {
            return Err(ApiError::upstream(format!(
                "could not verify the key with Pendo: {e}"
            )))
        }
    }
    let mut secrets = s.secrets.tenant(&t.id).await?;
    secrets.pendo_integration_key = Some(key);
    s.secrets.put_tenant(&t.id, &secrets).await?;
    if t.pendo_region != b.region {
        t.pendo_region = b.region;
        s.repo.update_tenant(&t, Utc::now()).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    #[serde(default)]
    reconnect: bool,
}

async fn connect_hubspot(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    // The body is optional: none means a first connection; one given must be JSON.
    let reconnect = if req.headers().contains_key("content-type") {
        use axum::extract::FromRequest;
        let JsonBody(b) = JsonBody::<ConnectBody>::from_request(req, &()).await?;
        b.reconnect
    } else {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "request body too large",
                )
            })?;
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Content-Type must be application/json",
            ));
        }
        false
    };
    let (app, key) = app(&s).await?;
    let (state, payload) = oauth_state::sign(&key, &t.id, reconnect, Utc::now().timestamp());
    Ok(Json(json!({
        "authorize_url": oauth::authorize_url(&s.hubspot_authorize_url, &app, &state),
        "expires_at": payload.expires_at,
    })))
}

async fn get_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SyncConfig>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    Ok(Json(s.repo.get_config(&t.id).await?.unwrap_or_default()))
}

async fn put_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<SyncConfigInput>,
) -> Result<Json<SyncConfig>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let config = SyncConfig::validate(input)?;
    validate_against_schemas(&s, &t, &config).await?;
    s.repo.put_config(&t.id, &config).await?;
    Ok(Json(config))
}

/// Every named HubSpot property and Pendo field must exist, with a compatible type.
async fn validate_against_schemas(
    s: &AppState,
    t: &Tenant,
    config: &SyncConfig,
) -> Result<(), ApiError> {
    let hubspot = s
        .connectors
        .hubspot(t)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot before configuring the sync"))?;
    let pendo = s.connectors.pendo(t).await.map_err(|_| {
        ApiError::conflict("save the Pendo integration key before configuring the sync")
    })?;
    for kind in ObjectKind::ALL {
        let props = hubspot
            .list_properties(kind)
            .await
            .map_err(|e| ApiError::upstream(format!("could not read HubSpot properties: {e}")))?;
        let join = config.join_property(kind);
        let ours = [
            crate::domain::VISITOR_ID_PROPERTY,
            crate::domain::ACCOUNT_ID_PROPERTY,
        ];
        if !ours.contains(&join) && !props.iter().any(|p| p.name == join) {
            let field = match kind {
                ObjectKind::Visitor => "join.contact_property",
                ObjectKind::Account => "join.company_property",
            };
            return Err(ApiError::invalid(
                field,
                format!("HubSpot {} has no property '{join}'", kind.hubspot_object()),
            ));
        }
        let mappings: Vec<(usize, &crate::domain::PullMapping)> = config
            .pull
            .iter()
            .enumerate()
            .filter(|(_, m)| m.object == kind)
            .collect();
        if mappings.is_empty() {
            continue;
        }
        let fields = pendo.custom_fields(kind).await.map_err(|e| {
            ApiError::upstream(format!("could not read Pendo metadata schema: {e}"))
        })?;
        for (i, m) in mappings {
            let Some(p) = props.iter().find(|p| p.name == m.hubspot_property) else {
                return Err(ApiError::invalid(
                    format!("pull[{i}].hubspot_property"),
                    format!(
                        "HubSpot {} has no property '{}'",
                        kind.hubspot_object(),
                        m.hubspot_property
                    ),
                ));
            };
            let Some(ty) = fields.get(&m.pendo_field) else {
                return Err(ApiError::invalid(
                    format!("pull[{i}].pendo_field"),
                    format!(
                        "Pendo {} custom field '{}' does not exist; create it under Settings → Data Mappings",
                        kind.pendo_kind(),
                        m.pendo_field
                    ),
                ));
            };
            let compatible = match ty.as_str() {
                "float" | "integer" => p.kind == "number",
                "boolean" => p.kind == "bool" || p.kind == "enumeration",
                "time" => p.kind == "date" || p.kind == "datetime",
                _ => true,
            };
            if !compatible {
                return Err(ApiError::invalid(
                    format!("pull[{i}].pendo_field"),
                    format!(
                        "Pendo field '{}' is {ty} but HubSpot property '{}' is {}",
                        m.pendo_field, p.name, p.kind
                    ),
                ));
            }
        }
    }
    Ok(())
}

async fn get_rules(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RuleSet>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    Ok(Json(s.repo.get_rules(&t.id).await?))
}

async fn put_rules(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(rules): JsonBody<RuleSet>,
) -> Result<Json<RuleSet>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    validate_rules(&s, &t, &rules).await?;
    s.repo.put_rules(&t.id, &rules).await?;
    Ok(Json(rules))
}

/// Every pipeline, stage, property, option and segment a rule names must exist.
async fn validate_rules(s: &AppState, t: &Tenant, rules: &RuleSet) -> Result<(), ApiError> {
    if rules.rules.is_empty() {
        return Ok(());
    }
    let hubspot = s
        .connectors
        .hubspot(t)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot before configuring rules"))?;
    let upstream =
        |e: &dyn std::fmt::Display| ApiError::upstream(format!("could not read HubSpot: {e}"));
    let pipelines = hubspot.deal_pipelines().await.map_err(|e| upstream(&e))?;
    let contact_props = hubspot
        .list_properties(ObjectKind::Visitor)
        .await
        .map_err(|e| upstream(&e))?;
    let stage_ok = |i: usize, field: &str, pipeline: &str, stage: &str| -> Result<(), ApiError> {
        let Some(p) = pipelines.iter().find(|p| p.id == pipeline) else {
            return Err(ApiError::invalid(
                format!("rules[{i}].pipeline"),
                format!("HubSpot has no deal pipeline '{pipeline}'"),
            ));
        };
        if p.stages.iter().any(|s| s.id == stage) {
            Ok(())
        } else {
            Err(ApiError::invalid(
                format!("rules[{i}].{field}"),
                format!("pipeline '{pipeline}' has no stage '{stage}'"),
            ))
        }
    };
    for (i, r) in rules.rules.iter().enumerate() {
        match &r.kind {
            RuleKind::TrialToPaid {
                pipeline,
                from_stage,
                to_stage,
                ..
            } => {
                stage_ok(i, "from_stage", pipeline, from_stage)?;
                stage_ok(i, "to_stage", pipeline, to_stage)?;
            }
            RuleKind::Expansion {
                pipeline, stage, ..
            } => stage_ok(i, "stage", pipeline, stage)?,
            RuleKind::NpsFollowUp {
                promoter_property: Some(p),
                ..
            } if !contact_props.iter().any(|c| &c.name == p) => {
                return Err(ApiError::invalid(
                    format!("rules[{i}].promoter_property"),
                    format!("HubSpot contacts have no property '{p}'"),
                ));
            }
            RuleKind::PqlRouting {
                segment_id,
                lifecycle_stage,
                ..
            } => {
                let lifecycle = contact_props.iter().find(|c| c.name == "lifecyclestage");
                if !lifecycle.is_some_and(|l| l.options.iter().any(|o| &o.value == lifecycle_stage))
                {
                    return Err(ApiError::invalid(
                        format!("rules[{i}].lifecycle_stage"),
                        format!("'{lifecycle_stage}' is not a lifecycle stage of this portal"),
                    ));
                }
                let pendo = s.connectors.pendo(t).await.map_err(|_| {
                    ApiError::conflict("save the Pendo key before configuring rules")
                })?;
                let segments = pendo.segments().await.map_err(|e| {
                    ApiError::upstream(format!("could not read Pendo segments: {e}"))
                })?;
                if !segments.iter().any(|(id, _)| id == segment_id) {
                    return Err(ApiError::invalid(
                        format!("rules[{i}].segment_id"),
                        format!("Pendo has no segment '{segment_id}'"),
                    ));
                }
            }
            RuleKind::FeatureAdoption {
                counts, milestones, ..
            } => {
                let pendo = s.connectors.pendo(t).await.map_err(|_| {
                    ApiError::conflict("save the Pendo key before configuring rules")
                })?;
                let features = pendo.features().await.map_err(|e| {
                    ApiError::upstream(format!("could not read Pendo features: {e}"))
                })?;
                let known = |f: &str| features.iter().any(|(id, _)| id == f);
                let prop = |name: &str, types: &[&str]| {
                    contact_props
                        .iter()
                        .any(|c| c.name == name && types.contains(&c.kind.as_str()))
                };
                for (j, c) in counts.iter().enumerate() {
                    if !known(&c.feature_id) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].counts[{j}].feature_id"),
                            format!("Pendo has no feature '{}'", c.feature_id),
                        ));
                    }
                    if !prop(&c.property, &["number"]) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].counts[{j}].property"),
                            format!("HubSpot contacts have no number property '{}'", c.property),
                        ));
                    }
                }
                if let Some(m) = milestones {
                    if let Some((k, f)) = m.steps.iter().enumerate().find(|(_, f)| !known(f)) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].milestones.steps[{k}]"),
                            format!("Pendo has no feature '{f}'"),
                        ));
                    }
                    if !prop(&m.property, &["string", "enumeration"]) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].milestones.property"),
                            format!("HubSpot contacts have no text property '{}'", m.property),
                        ));
                    }
                    if !prop(&m.completed_property, &["date", "datetime"]) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].milestones.completed_property"),
                            format!(
                                "HubSpot contacts have no date property '{}'",
                                m.completed_property
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

async fn enqueue(s: &AppState, t: &Tenant, trigger: Trigger) -> Result<Job, ApiError> {
    let job = Job::full(t.id.clone(), trigger, Utc::now());
    s.queue
        .send(std::slice::from_ref(&job), std::time::Duration::ZERO)
        .await?;
    Ok(job)
}

async fn enable(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut t = load(&s, &caller, &id).await?;
    let hubspot = s
        .connectors
        .hubspot(&t)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot before enabling"))?;
    s.connectors
        .pendo(&t)
        .await
        .map_err(|_| ApiError::conflict("save the Pendo integration key before enabling"))?;
    for kind in ObjectKind::ALL {
        hubspot.ensure_schema(kind).await.map_err(|e| {
            ApiError::upstream(format!("could not set up the HubSpot properties: {e}"))
        })?;
    }
    t.status = TenantStatus::Enabled;
    t.attention_reason = None;
    let t = s.repo.update_tenant(&t, Utc::now()).await?;
    // As Pendo's own integration does: sync immediately on enable, then daily.
    let job = enqueue(&s, &t, Trigger::Enable).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"tenant": t, "job_id": job.job_id})),
    )
        .into_response())
}

async fn disable(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    let mut t = load(&s, &caller, &id).await?;
    t.status = TenantStatus::Disabled;
    Ok(Json(s.repo.update_tenant(&t, Utc::now()).await?))
}

async fn run_now(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = load(&s, &caller, &id).await?;
    if t.status != TenantStatus::Enabled {
        return Err(ApiError::conflict(format!(
            "tenant is {:?}; enable it first",
            t.status
        )));
    }
    let job = enqueue(&s, &t, Trigger::RunNow).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"job_id": job.job_id}))).into_response())
}

async fn dry_run(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let config = s.repo.get_config(&t.id).await?.unwrap_or_default();
    let hubspot = s
        .connectors
        .hubspot(&t)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot first"))?;
    let pendo = s
        .connectors
        .pendo(&t)
        .await
        .map_err(|_| ApiError::conflict("save the Pendo key first"))?;
    let mut opts = SyncOptions::new(crate::domain::day_number(Utc::now().date_naive()) - 1);
    opts.dry_run = true;
    let result = SyncEngine::new(s.repo.clone())
        .run(
            &t,
            &config,
            hubspot.as_ref(),
            pendo.as_ref(),
            Trigger::DryRun,
            "dry-run",
            None,
            &opts,
            None,
        )
        .await
        .map_err(|e| ApiError::upstream(format!("dry run failed: {e}")))?;
    Ok(Json(
        json!({"counts": result.run.counts, "api_calls": result.run.api_calls, "would_write": result.planned}),
    ))
}

async fn list_runs(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let q = page_query(q)?;
    let page = s
        .repo
        .list_runs(&t.id, q.after.as_deref(), limit(&q)?)
        .await?;
    Ok(Json(json!({"items": page.items, "next": page.next})))
}

async fn get_run(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, run_id)): Path<(String, String)>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let q = page_query(q)?;
    let run_id = RunId(run_id);
    let run = s
        .repo
        .get_run(&t.id, &run_id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    let errors = s
        .repo
        .list_run_errors(&t.id, &run_id, q.after.as_deref(), limit(&q)?)
        .await?;
    Ok(Json(
        json!({"run": run, "errors": errors.items, "next": errors.next}),
    ))
}

async fn status(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let secrets = s.secrets.tenant(&t.id).await?;
    let config = s.repo.get_config(&t.id).await?.unwrap_or_default();
    let runs = s.repo.list_runs(&t.id, None, 20).await?.items;
    let last = runs.first();
    let last_success = runs
        .iter()
        .find(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Partial))
        .and_then(|r| r.finished_at);
    let now = Utc::now();
    let today_slot = now
        .date_naive()
        .and_hms_opt(config.schedule.hour_utc as u32, 0, 0)
        .expect("valid hour")
        .and_utc();
    let next = if t.status != TenantStatus::Enabled {
        None
    } else if now.hour() < config.schedule.hour_utc as u32 {
        Some(today_slot)
    } else {
        Some(today_slot + Duration::days(1))
    };
    Ok(Json(json!({
        "tenant_id": t.id,
        "status": t.status,
        "attention_reason": t.attention_reason,
        "pendo_connected": secrets.pendo_integration_key.is_some(),
        "hubspot_connected": secrets.hubspot_refresh_token.is_some(),
        "hubspot_portal_id": t.hubspot_portal_id,
        "last_run": last.map(|r| json!({"run_id": r.run_id, "status": r.status, "started_at": r.started_at})),
        "last_success": last_success,
        "lag_seconds": last_success.map(|f| (now - f).num_seconds()),
        "next_scheduled": next,
        "failing_records": last.map_or(0, |r| r.counts.failed),
    })))
}

async fn webhook_url(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let token = s
        .secrets
        .tenant(&t.id)
        .await?
        .webhook_token
        .ok_or_else(|| ApiError::conflict("tenant has no webhook token"))?;
    // Pendo URL webhooks send no custom headers, so the token is part of the URL.
    Ok(Json(
        json!({"url": format!("{}/webhooks/pendo/{}/{}", s.public_base_url, t.id, token.expose())}),
    ))
}

async fn openapi() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}
