//! Enable/disable, run now, dry run, run history, the OpenAPI document.

use super::*;

pub(super) async fn enqueue(s: &AppState, t: &Tenant, trigger: Trigger) -> Result<Job, ApiError> {
    let job = Job::full(t.id.clone(), trigger, Utc::now());
    s.queue
        .send(std::slice::from_ref(&job), std::time::Duration::ZERO)
        .await?;
    Ok(job)
}

/// Ensure the HubSpot schema, enable the daily sync and queue the immediate first sync.
#[utoipa::path(post, path = "/v1/tenants/{id}/enable", tag = "sync", params(("id" = TenantId, Path)),
    responses((status = 202, description = "Enabled; the first sync is queued", body = Enabled),
              (status = 409, description = "Pendo or HubSpot not connected, or its credentials refused", body = ApiError),
              (status = 502, description = "HubSpot schema could not be set up", body = ApiError)))]
pub(super) async fn enable(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut t = load(&s, &caller, &id).await?;
    let config = s.repo.get_config(&t.id).await?.unwrap_or_default();
    let hubspot = s
        .connectors
        .hubspot(&t, config.hubspot_api_version)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot before enabling"))?;
    s.connectors
        .pendo(&t)
        .await
        .map_err(|_| ApiError::conflict("save the Pendo integration key before enabling"))?;
    for kind in ObjectKind::ALL {
        if let Err(e) = hubspot.ensure_schema(kind).await {
            let Some(kind) = e.attention_kind() else {
                return Err(upstream_err("could not set up the HubSpot properties", e));
            };
            // Enabling cannot help until an admin acts: say what to do, and show it in status.
            let attention = crate::domain::Attention::new(kind, e.to_string());
            t.needs_attention(attention.clone());
            s.repo.update_tenant(&t, Utc::now()).await?;
            return Err(ApiError::needs_attention(&attention));
        }
    }
    t.status = TenantStatus::Enabled;
    t.clear_attention();
    let t = s.repo.update_tenant(&t, Utc::now()).await?;
    // As Pendo's own integration does: sync immediately on enable, then daily.
    let job = enqueue(&s, &t, Trigger::Enable).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Enabled {
            tenant: t,
            job_id: job.job_id,
        }),
    )
        .into_response())
}

/// Disable the daily sync.
#[utoipa::path(post, path = "/v1/tenants/{id}/disable", tag = "sync", params(("id" = TenantId, Path)),
    responses((status = 200, description = "Disabled", body = Tenant)))]
pub(super) async fn disable(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    let mut t = load(&s, &caller, &id).await?;
    t.status = TenantStatus::Disabled;
    Ok(Json(s.repo.update_tenant(&t, Utc::now()).await?))
}

/// Run a sync now; requests coalesce while one is queued or running.
#[utoipa::path(post, path = "/v1/tenants/{id}/runs", tag = "sync", params(("id" = TenantId, Path)),
    responses((status = 202, description = "Queued, or joined the pending run", body = RunNowAccepted),
              (status = 409, description = "The tenant is not enabled", body = ApiError)))]
pub(super) async fn run_now(
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
    // Twenty clicks are one run: while a run-now job is queued or running, later requests
    // join it (the marker is a conditional write, so concurrent requests cannot both win).
    let marker = crate::domain::RUN_NOW_MARKER;
    let ttl = Duration::hours(crate::domain::RUN_NOW_MARKER_TTL_HOURS);
    if !s.repo.mark_once(&t.id, marker, ttl).await? {
        return Ok((
            StatusCode::ACCEPTED,
            Json(RunNowAccepted {
                job_id: None,
                coalesced: true,
                message: Some(
                    "a run requested earlier is still queued or running; this request joins it"
                        .into(),
                ),
            }),
        )
            .into_response());
    }
    let job = match enqueue(&s, &t, Trigger::RunNow).await {
        Ok(job) => job,
        Err(e) => {
            s.repo.unmark(&t.id, marker).await?;
            return Err(e);
        }
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(RunNowAccepted {
            job_id: Some(job.job_id),
            coalesced: false,
            message: None,
        }),
    )
        .into_response())
}

/// What a sync would write, without writing.
#[utoipa::path(post, path = "/v1/tenants/{id}/dry-run", tag = "sync", params(("id" = TenantId, Path)),
    responses((status = 200, description = "The writes a sync would make", body = DryRunReport),
              (status = 409, description = "Pendo or HubSpot not connected, or its credentials refused", body = ApiError),
              (status = 502, description = "HubSpot or Pendo failed", body = ApiError)))]
pub(super) async fn dry_run(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DryRunReport>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let config = s.repo.get_config(&t.id).await?.unwrap_or_default();
    let hubspot = s
        .connectors
        .hubspot(&t, config.hubspot_api_version)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot first"))?;
    let pendo = s
        .connectors
        .pendo(&t)
        .await
        .map_err(|_| ApiError::conflict("save the Pendo key first"))?;
    let today = crate::domain::day_number(Utc::now().date_naive()) - 1;
    let result = SyncEngine::new(s.repo.clone())
        .dry_run(&t, &config, hubspot.as_ref(), pendo.as_ref(), today)
        .await
        .map_err(|e| upstream_err("dry run failed", e))?;
    let mut would_write = result.planned;
    show_current_values(hubspot.as_ref(), &mut would_write).await;
    Ok(Json(DryRunReport {
        counts: result.run.counts,
        api_calls: result.run.api_calls,
        would_write,
    }))
}

/// Rows of a dry run report that get the target's current values beside the new ones.
const SIDE_BY_SIDE_ROWS: usize = 20;

/// Reads what HubSpot holds now for the first pushed contacts and companies of a dry run
/// report (one batch read per object), so the review shows current and new values side by
/// side. A failed read leaves the rows without `current`: the report stands without it.
async fn show_current_values(
    hubspot: &dyn crate::hubspot::HubSpotApi,
    rows: &mut [crate::sync::PlannedWrite],
) {
    for kind in ObjectKind::ALL {
        let picked: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                w.direction == crate::domain::Direction::Push
                    && w.object == kind
                    && w.hubspot_id.is_some()
            })
            .map(|(i, _)| i)
            .take(SIDE_BY_SIDE_ROWS)
            .collect();
        if picked.is_empty() {
            continue;
        }
        let ids: Vec<String> = picked
            .iter()
            .filter_map(|i| rows[*i].hubspot_id.clone())
            .collect();
        let mut properties: Vec<String> = picked
            .iter()
            .flat_map(|i| rows[*i].values.keys().cloned())
            .collect();
        properties.sort();
        properties.dedup();
        let Ok(records) = hubspot
            .read_records(kind.hubspot_object(), &ids, &properties)
            .await
        else {
            continue;
        };
        for i in picked {
            let w = &mut rows[i];
            let Some(r) = records
                .iter()
                .find(|r| Some(&r.id) == w.hubspot_id.as_ref())
            else {
                continue;
            };
            w.current = Some(
                w.values
                    .keys()
                    .map(|k| {
                        let v = r.prop(k).filter(|v| !v.is_empty());
                        (k.clone(), v.map_or(serde_json::Value::Null, |v| v.into()))
                    })
                    .collect(),
            );
        }
    }
}

/// Run history, newest first, paged.
#[utoipa::path(get, path = "/v1/tenants/{id}/runs", tag = "runs",
    params(("id" = TenantId, Path), PageQuery),
    responses((status = 200, description = "One page of runs", body = RunPage)))]
pub(super) async fn list_runs(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Paging,
) -> Result<Json<RunPage>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let page = s.repo.list_runs(&t.id, q.after.as_deref(), q.limit).await?;
    Ok(Json(RunPage {
        items: page.items,
        next: page.next,
    }))
}

/// One run with its per-record errors (paged).
#[utoipa::path(get, path = "/v1/tenants/{id}/runs/{run_id}", tag = "runs",
    params(("id" = TenantId, Path), ("run_id" = String, Path, max_length = 100), PageQuery),
    responses((status = 200, description = "The run and a page of its record errors", body = RunDetail)))]
pub(super) async fn get_run(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, run_id)): Path<(String, String)>,
    q: Paging,
) -> Result<Json<RunDetail>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let run_id = RunId(run_id);
    let run = s
        .repo
        .get_run(&t.id, &run_id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    let errors = s
        .repo
        .list_run_errors(&t.id, &run_id, q.after.as_deref(), q.limit)
        .await?;
    Ok(Json(RunDetail {
        run,
        errors: errors.items,
        next: errors.next,
    }))
}

/// This document (public).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object, content_type = "application/json")))]
pub(super) async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::api::openapi::SERVED,
    )
        .into_response()
}
