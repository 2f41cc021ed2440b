//! Routes the console needs besides the setup ones: who the caller is (the console chooses
//! the operator's or the tenant admin's view from it), and disconnecting HubSpot.

use super::*;
use crate::api::auth::Role;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub subject: String,
    pub role: Role,
    /// The tenant an admin manages; `null` for operators.
    pub tenant_id: Option<TenantId>,
}

/// The caller, as the API sees their token.
#[utoipa::path(get, path = "/v1/me", tag = "tenants",
    responses((status = 200, description = "The caller's role and tenant", body = Me)))]
pub(super) async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        subject: caller.0.subject,
        role: caller.0.role,
        tenant_id: caller.0.tenant_id,
    })
}

/// Disconnect HubSpot: revoke the refresh token, forget it and the portal, disable the sync.
#[utoipa::path(delete, path = "/v1/tenants/{id}/hubspot", tag = "setup",
    params(("id" = TenantId, Path)),
    responses((status = 200, description = "Disconnected; the tenant is disabled", body = Tenant)))]
pub(super) async fn disconnect_hubspot(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    let mut t = load(&s, &caller, &id).await?;
    let mut secrets = s.secrets.tenant(&t.id).await?;
    if let Some(refresh) = secrets.hubspot_refresh_token.take() {
        let (app, _) = app(&s, String::new()).await?;
        let version = api_version(&s, &t).await?;
        if let Err(e) = oauth::revoke(&s.hubspot_api_base, version, &app, &refresh).await {
            tracing::warn!(tenant_id = %t.id, error = %e, "HubSpot token revocation failed; forgetting it anyway");
        }
        s.secrets.put_tenant(&t.id, &secrets).await?;
    }
    if t.status == TenantStatus::Enabled {
        t.status = TenantStatus::Disabled;
    }
    t.hubspot_portal_id = None;
    Ok(Json(s.repo.update_tenant(&t, Utc::now()).await?))
}
