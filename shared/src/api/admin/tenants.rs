//! Tenants, credentials, HubSpot connect, the webhook URL.

use super::*;
use crate::domain::AttentionKind;

/// Create a tenant (operator).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, description = "Created", body = Tenant),
              (status = 409, description = "A tenant with this id exists", body = ApiError)))]
pub(super) async fn create_tenant(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<CreateTenant>,
) -> Result<Response, ApiError> {
    caller.operator()?;
    let id = TenantId::parse(&b.id).map_err(|e| ApiError::invalid("id", e.message))?;
    let tenant = Tenant::new(id.clone(), &b.display_name, b.pendo_region, Utc::now())?;
    if s.repo.is_tombstoned(&id).await? && s.repo.get_tenant(&id).await?.is_some() {
        return Err(ApiError::conflict(format!("tenant {id} is still being deleted")).field("id"));
    }
    s.repo.clear_tombstone(&id).await?;
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
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// List tenants, paged (operator).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(PageQuery,
        ("status" = Option<crate::domain::TenantStatus>, Query, description = "Only tenants in this status")),
    responses((status = 200, description = "One page of tenants", body = TenantPage)))]
pub(super) async fn list_tenants(
    State(s): State<AppState>,
    caller: Caller,
    q: TenantListQuery,
) -> Result<Json<TenantPage>, ApiError> {
    caller.operator()?;
    let Some(status) = q.status else {
        let page = s
            .repo
            .list_tenants(q.page.after.as_deref(), q.page.limit)
            .await?;
        return Ok(Json(TenantPage {
            items: page.items,
            next: page.next,
        }));
    };
    // Filtered: read pages until `limit` match, but never more than a bounded number of
    // tenants per request; `next` then resumes the scan where it stopped.
    let mut items = Vec::new();
    let mut after = q.page.after.clone();
    let mut scanned = 0;
    loop {
        let page = s.repo.list_tenants(after.as_deref(), 200).await?;
        for t in page.items {
            scanned += 1;
            after = Some(t.id.to_string());
            if t.status == status {
                items.push(t);
            }
            if items.len() == q.page.limit || scanned == FILTER_SCAN_LIMIT {
                return Ok(Json(TenantPage { items, next: after }));
            }
        }
        if page.next.is_none() {
            return Ok(Json(TenantPage { items, next: None }));
        }
    }
}

/// Tenants a filtered list request reads at most before answering with a `next` cursor.
const FILTER_SCAN_LIMIT: usize = 2000;

/// Get a tenant.
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants", params(("id" = TenantId, Path)),
    responses((status = 200, description = "The tenant", body = Tenant)))]
pub(super) async fn get_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(load(&s, &caller, &id).await?))
}

/// Update the display name or Pendo region.
#[utoipa::path(patch, path = "/v1/tenants/{id}", tag = "tenants", params(("id" = TenantId, Path)),
    request_body = UpdateTenant,
    responses((status = 200, description = "The updated tenant", body = Tenant)))]
pub(super) async fn update_tenant(
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
        )
        .field("display_name"));
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

/// How long a delete waits for a running sync to stop (under API Gateway's 29 s limit; a
/// live run stops at its next request, a killed one's lease expires within `LEASE_TTL`).
const DELETE_WAIT: std::time::Duration = std::time::Duration::from_secs(25);
/// Held by the delete while it purges; long enough for any partition.
const DELETE_LEASE: std::time::Duration = std::time::Duration::from_secs(600);

/// Deleted means gone: a tombstone stops any running sync at its next request or batch and
/// refuses its store writes; the secrets go at once; the data is purged under the tenant's
/// lease, so nothing of the tenant is sent or stored after the 204. If a run cannot be waited
/// for, the answer is 202 and the worker holding the lease finishes the purge.
#[utoipa::path(delete, path = "/v1/tenants/{id}", tag = "tenants", params(("id" = TenantId, Path)),
    responses((status = 204, description = "Deleted: nothing of the tenant is sent or stored any more"),
              (status = 202, description = "A running sync could not be stopped in time; the worker holding it finishes the purge")))]
pub(super) async fn delete_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = load(&s, &caller, &id).await?;
    s.repo.tombstone_tenant(&t.id).await?;
    let secrets = s.secrets.tenant(&t.id).await?;
    if let Some(refresh) = &secrets.hubspot_refresh_token {
        let (app, _) = app(&s, String::new()).await?;
        let version = api_version(&s, &t).await?;
        if let Err(e) = oauth::revoke(&s.hubspot_api_base, version, &app, refresh).await {
            tracing::warn!(tenant_id = %t.id, error = %e, "HubSpot token revocation failed; deleting anyway");
        }
    }
    s.secrets.delete_tenant(&t.id).await?;
    let started = std::time::Instant::now();
    let owner = format!("delete-{}", uuid::Uuid::new_v4().simple());
    loop {
        if crate::worker::lease::acquire(&s.repo, &t.id, &owner, DELETE_LEASE)
            .await?
            .is_some()
        {
            break;
        }
        if started.elapsed() >= DELETE_WAIT {
            tracing::warn!(tenant_id = %t.id, "a sync still holds the tenant; its worker finishes the deletion");
            return Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"status": "deleting",
                    "message": "a running sync is stopping; its data is purged as soon as it has"})),
            )
                .into_response());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.repo.delete_tenant(&t.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Save the Pendo region and integration key, verified with Pendo first (write access needed).
#[utoipa::path(put, path = "/v1/tenants/{id}/pendo", tag = "setup", params(("id" = TenantId, Path)),
    request_body = PendoCredentials,
    responses((status = 204, description = "Verified and saved"),
              (status = 502, description = "Pendo could not be reached", body = ApiError)))]
pub(super) async fn put_pendo(
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
    let pendo_fixed = t.attention.as_ref().is_some_and(|a| {
        matches!(
            a.kind,
            AttentionKind::PendoKeyInvalid | AttentionKind::PendoNoWriteAccess
        )
    });
    if pendo_fixed {
        // The new key was verified with write access: what stopped the tenant is fixed.
        t.status = TenantStatus::Enabled;
        t.clear_attention();
    }
    if t.pendo_region != b.region || pendo_fixed {
        t.pendo_region = b.region;
        s.repo.update_tenant(&t, Utc::now()).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Get the HubSpot authorize URL (signed, 10-minute, single-use state). The body is optional.
#[utoipa::path(post, path = "/v1/tenants/{id}/hubspot/connect", tag = "setup",
    params(("id" = TenantId, Path)),
    request_body(content = Option<ConnectBody>, content_type = "application/json"),
    responses((status = 200, description = "Open this URL in the browser", body = AuthorizeUrl)))]
pub(super) async fn connect_hubspot(
    State(s): State<AppState>,
    caller: Caller,
    public: PublicUrl,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Result<Json<AuthorizeUrl>, ApiError> {
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
    let (app, key) = app(&s, public.oauth_redirect_uri()).await?;
    let (state, payload) = oauth_state::sign(&key, &t.id, reconnect, Utc::now().timestamp());
    Ok(Json(AuthorizeUrl {
        authorize_url: oauth::authorize_url(&s.hubspot_authorize_url, &app, &state),
        expires_at: payload.expires_at,
    }))
}

/// The tenant's Pendo webhook URL (the token is part of it: Pendo sends no headers).
#[utoipa::path(get, path = "/v1/tenants/{id}/webhook", tag = "setup", params(("id" = TenantId, Path)),
    responses((status = 200, description = "The URL to paste into Pendo", body = WebhookUrl)))]
pub(super) async fn webhook_url(
    State(s): State<AppState>,
    caller: Caller,
    public: PublicUrl,
    Path(id): Path<String>,
) -> Result<Json<WebhookUrl>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let token = s
        .secrets
        .tenant(&t.id)
        .await?
        .webhook_token
        .ok_or_else(|| ApiError::conflict("tenant has no webhook token"))?;
    // Pendo URL webhooks send no custom headers, so the token is part of the URL.
    Ok(Json(WebhookUrl {
        url: format!("{}/webhooks/pendo/{}/{}", public.0, t.id, token.expose()),
    }))
}
