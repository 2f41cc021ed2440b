//! Per-visitor erasure (operator): forget a visitor and clear what we wrote about them.

use super::*;
use crate::sync::privacy::{erase_visitor, ErasureError, ErasureReport, ErasureRequest};

/// Erase one Pendo visitor (operator): the Pendo properties we wrote on their linked HubSpot
/// contact are cleared, then every item we store about them (link, fingerprints, usage
/// history) is deleted. Flag the visitor do-not-process in Pendo too, or the next sync matches
/// and pushes them again.
#[utoipa::path(delete, path = "/v1/tenants/{id}/visitors/{visitor_id}", tag = "tenants",
    params(("id" = TenantId, Path), ("visitor_id" = String, Path, description = "Pendo visitor id")),
    responses((status = 200, description = "Erased", body = ErasureReport),
              (status = 409, description = "Linked to a contact but HubSpot is not connected or refused the clear", body = ApiError),
              (status = 502, description = "HubSpot could not be reached", body = ApiError)))]
pub(super) async fn erase_visitor_route(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, visitor_id)): Path<(String, String)>,
) -> Result<Json<ErasureReport>, ApiError> {
    caller.operator()?;
    let t = load(&s, &caller, &id).await?;
    if visitor_id.trim().is_empty() || visitor_id.len() > 512 {
        return Err(ApiError::invalid("visitor_id", "must be 1-512 characters"));
    }
    let config = s.repo.get_config(&t.id).await?.unwrap_or_default();
    let hubspot = s
        .connectors
        .hubspot(&t, config.hubspot_api_version)
        .await
        .ok();
    let report = erase_visitor(ErasureRequest {
        repo: &s.repo,
        hubspot: hubspot.as_deref(),
        tenant: &t.id,
        config: &config,
        visitor_id: &visitor_id,
    })
    .await
    .map_err(|e| match e {
        ErasureError::Store(e) => e.into(),
        ErasureError::HubSpot(e) => upstream_err("could not clear the contact in HubSpot", e),
        e @ (ErasureError::Refused { .. } | ErasureError::NotConnected { .. }) => {
            ApiError::conflict(e.to_string())
        }
    })?;
    Ok(Json(report))
}
