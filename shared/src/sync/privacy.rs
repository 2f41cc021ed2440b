//! Privacy: visitors Pendo flags do-not-process (its GDPR flag, `metadata.pendo.donotprocess`,
//! reference/pendo.md §2.5) never reach HubSpot. A visitor flagged after we had written to their
//! contact gets every Pendo property we wrote there cleared (once, recorded in the run), and
//! nothing more is written, created or sent for them until the flag goes. Per-visitor erasure
//! (an operator's request) forgets what we store about a visitor and clears what we wrote.

use std::collections::BTreeMap;

use super::engine::RunCtx;
use super::SyncError;
use crate::domain::{
    ActionRecord, Direction, ObjectKind, ObjectState, PushField, RecordError, SyncConfig, TenantId,
};
use crate::hubspot::{HubSpotApi, HubSpotError, WriteInput};
use crate::pendo::PendoVisitor;
use crate::store::repo::Repo;
use crate::store::StoreError;

/// The `rule` name privacy actions carry in a run's action list.
pub const PRIVACY_ACTION: &str = "privacy";

/// Every HubSpot contact property the service may have written for a visitor, each set to
/// `""` (HubSpot's "clear", reference/hubspot.md §2): all Pendo push fields (whatever the
/// current config pushes: an earlier config may have pushed more) and the join property we
/// stamp with the visitor id.
pub fn clearing_values(config: &SyncConfig) -> BTreeMap<String, String> {
    PushField::ALL
        .iter()
        .filter(|f| f.applies_to(ObjectKind::Visitor))
        .map(|f| f.property().to_string())
        .chain([config.join_property(ObjectKind::Visitor).to_string()])
        .map(|p| (p, String::new()))
        .collect()
}

/// Takes the flagged visitors out of a page before anything is matched or written: flagged
/// visitors still linked to a contact get the Pendo properties cleared there (≤100 per call),
/// and every flagged visitor's state is stored as do-not-process. Returns the visitors that may
/// be synced. A dry run only counts them.
pub(crate) async fn withhold_flagged(
    ctx: &mut RunCtx<'_>,
    page: Vec<PendoVisitor>,
) -> Result<Vec<PendoVisitor>, SyncError> {
    let (flagged, allowed): (Vec<_>, Vec<_>) = page.into_iter().partition(|v| v.do_not_process);
    if flagged.is_empty() {
        return Ok(allowed);
    }
    ctx.run.counts.do_not_process += flagged.len() as u64;
    let ids: Vec<String> = flagged.iter().map(|v| v.id.clone()).collect();
    let states = ctx
        .repo
        .get_object_states(ctx.tenant, ObjectKind::Visitor, &ids)
        .await?;
    let mut to_clear = Vec::new();
    let mut done = Vec::new();
    for id in ids {
        let state = states.get(&id).cloned().unwrap_or_default();
        match state.hubspot_id.clone() {
            Some(contact) if !state.do_not_process => to_clear.push((id, contact, state)),
            _ if state.do_not_process => {}
            _ => done.push((id, flagged_state())),
        }
    }
    if ctx.opts.dry_run {
        ctx.run.counts.privacy_cleared += to_clear.len() as u64;
        return Ok(allowed);
    }
    let values = clearing_values(ctx.config);
    for chunk in to_clear.chunks(crate::hubspot::BATCH_LIMIT) {
        let inputs = chunk
            .iter()
            .map(|(_, contact, _)| WriteInput {
                key: contact.clone(),
                properties: values.clone(),
            })
            .collect();
        let outcome = ctx.hubspot.update(ObjectKind::Visitor, inputs).await?;
        for (sent_to, _) in &outcome.ok {
            if let Some((id, contact, _)) = chunk.iter().find(|(_, c, _)| c == sent_to) {
                ctx.run.counts.privacy_cleared += 1;
                tracing::info!(visitor = %id, contact = %contact, "do-not-process visitor: Pendo properties cleared in HubSpot");
                if ctx.run.actions.len() < 1000 {
                    ctx.run.actions.push(ActionRecord {
                        rule: PRIVACY_ACTION.into(),
                        object_id: id.clone(),
                        action: format!(
                            "visitor flagged do-not-process in Pendo: the Pendo properties on contact {contact} were cleared; nothing more is sent for them"
                        ),
                        hubspot_id: Some(contact.clone()),
                        dry_run: false,
                    });
                }
                done.push((id.clone(), flagged_state()));
            }
        }
        for f in outcome.failed {
            if let Some((id, contact, state)) = chunk.iter().find(|(_, c, _)| *c == f.key) {
                if f.category == "OBJECT_NOT_FOUND" {
                    // The contact is gone: nothing of ours is left to clear.
                    done.push((id.clone(), flagged_state()));
                    continue;
                }
                // Kept linked and not marked, so the next run clears it again.
                ctx.run.counts.failed += 1;
                ctx.errors.push(RecordError {
                    direction: Direction::Push,
                    object: ObjectKind::Visitor,
                    object_id: id.clone(),
                    field: None,
                    message: format!(
                        "do-not-process visitor: clearing contact {contact} failed, retried next run: {}",
                        f.message
                    ),
                });
                done.push((id.clone(), state.clone()));
            }
        }
    }
    ctx.repo
        .put_object_states(ctx.tenant, ObjectKind::Visitor, &done)
        .await?;
    Ok(allowed)
}

/// Drops the rows of visitors stored as do-not-process (pull: HubSpot values are not written
/// into Pendo for them either).
pub(crate) async fn without_flagged<T>(
    ctx: &mut RunCtx<'_>,
    rows: Vec<(String, T)>,
) -> Result<Vec<(String, T)>, SyncError> {
    let ids: Vec<String> = rows.iter().map(|(v, _)| v.clone()).collect();
    let states = ctx
        .repo
        .get_object_states(ctx.tenant, ObjectKind::Visitor, &ids)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(v, _)| !states.get(v).is_some_and(|s| s.do_not_process))
        .collect())
}

/// A flagged visitor's state: no link, no fingerprint (matched afresh if the flag goes).
fn flagged_state() -> ObjectState {
    ObjectState {
        do_not_process: true,
        ..Default::default()
    }
}

/// Takes the visitor out of every mapped segment we wrote: the contact leaves the list and the
/// segment property is cleared (`""`), and the stored membership forgets the visitor. Returns
/// the memberships forgotten.
async fn forget_segment_memberships(
    req: &ErasureRequest<'_>,
    visitor: &str,
) -> Result<u64, ErasureError> {
    let mut forgotten = 0;
    for m in &req.config.segments {
        let members = req.repo.segment_members(req.tenant, &m.segment_id).await?;
        let Some(contact) = members.get(visitor).cloned() else {
            continue;
        };
        let Some(hubspot) = req.hubspot else {
            return Err(ErasureError::NotConnected { contact });
        };
        if let Some(p) = &m.contact_property {
            hubspot
                .update(
                    ObjectKind::Visitor,
                    vec![WriteInput {
                        key: contact.clone(),
                        properties: BTreeMap::from([(p.clone(), String::new())]),
                    }],
                )
                .await?;
        }
        let list: Option<String> = req
            .repo
            .get_cursor(req.tenant, &format!("{}:list", m.cursor_name()))
            .await?;
        if let Some(list) = list {
            hubspot
                .change_list_members(&list, &[], std::slice::from_ref(&contact))
                .await?;
        }
        req.repo
            .delete_segment_members(req.tenant, &m.segment_id, &[visitor.to_string()])
            .await?;
        forgotten += 1;
    }
    Ok(forgotten)
}

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    HubSpot(#[from] HubSpotError),
    #[error("HubSpot refused to clear contact {contact}: {message}")]
    Refused { contact: String, message: String },
    #[error("the visitor is linked to contact {contact} but HubSpot is not connected; reconnect it so what we wrote there can be cleared")]
    NotConnected { contact: String },
}

/// What to erase.
pub struct ErasureRequest<'a> {
    pub repo: &'a Repo,
    /// `None` when HubSpot is not connected: only our own state is forgotten.
    pub hubspot: Option<&'a dyn HubSpotApi>,
    pub tenant: &'a TenantId,
    pub config: &'a SyncConfig,
    pub visitor_id: &'a str,
}

/// What an erasure did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ErasureReport {
    pub visitor_id: String,
    /// The contact whose Pendo properties were cleared (`null`: none was linked).
    pub hubspot_contact_cleared: Option<String>,
    /// Items of ours deleted (state, usage history, pull and rule fingerprints, segment memberships).
    pub items_forgotten: u64,
}

/// Forgets one visitor: clears the Pendo properties we wrote on their linked contact (first, so
/// a refused clear leaves the link in place to try again), takes the contact out of the
/// segment lists and properties we set, then deletes every item we store for them. A visitor still in Pendo and not flagged do-not-process is matched and pushed again by
/// the next sync: flag them in Pendo first when they must stay out.
pub async fn erase_visitor(req: ErasureRequest<'_>) -> Result<ErasureReport, ErasureError> {
    let id = req.visitor_id.to_string();
    let state = req
        .repo
        .get_object_states(req.tenant, ObjectKind::Visitor, std::slice::from_ref(&id))
        .await?
        .remove(&id)
        .unwrap_or_default();
    let mut cleared = None;
    if let (Some(contact), None) = (&state.hubspot_id, req.hubspot) {
        return Err(ErasureError::NotConnected {
            contact: contact.clone(),
        });
    }
    if let (Some(contact), Some(hubspot)) = (&state.hubspot_id, req.hubspot) {
        let outcome = hubspot
            .update(
                ObjectKind::Visitor,
                vec![WriteInput {
                    key: contact.clone(),
                    properties: clearing_values(req.config),
                }],
            )
            .await?;
        if let Some(f) = outcome
            .failed
            .into_iter()
            .find(|f| f.category != "OBJECT_NOT_FOUND")
        {
            return Err(ErasureError::Refused {
                contact: contact.clone(),
                message: f.message,
            });
        }
        cleared = Some(contact.clone());
    }
    let mut items = forget_segment_memberships(&req, &id).await?;
    items += req
        .repo
        .forget_visitor(req.tenant, &id, state.hubspot_id.as_deref())
        .await?;
    tracing::info!(tenant_id = %req.tenant, visitor = %id, contact = ?cleared, items, "visitor erased");
    Ok(ErasureReport {
        visitor_id: id,
        hubspot_contact_cleared: cleared,
        items_forgotten: items,
    })
}
