//! Pendo segments → HubSpot: for each mapped segment, the members last written are kept
//! (visitor → contact id); each run reads the segment's current members, and writes only the
//! difference: joiners get the boolean property `true` and are added to the list, leavers get
//! `false` and are removed. Only linked visitors are written (an unlinked member joins once
//! the push links it); do-not-process visitors count as non-members, so a flagged member
//! leaves (cleared) and is never added. A member whose write failed stays out of the stored
//! set (or in it, for a leaver) and is retried next run.

use std::collections::{BTreeMap, BTreeSet};

use super::engine::{RunCtx, Step};
use super::SyncError;
use crate::domain::{Direction, ObjectKind, RecordError, SegmentMapping};
use crate::hubspot::{HubSpotError, WriteInput, BATCH_LIMIT};

/// Visitor id → contact id of the members last written for one segment.
type Members = BTreeMap<String, String>;

pub(crate) async fn segments_step(ctx: &mut RunCtx<'_>) -> Result<Step, SyncError> {
    if ctx.opts.dry_run {
        return Ok(Step::Done);
    }
    for m in ctx.config.segments.clone() {
        sync_segment(ctx, &m).await?;
    }
    Ok(Step::Done)
}

async fn sync_segment(ctx: &mut RunCtx<'_>, m: &SegmentMapping) -> Result<(), SyncError> {
    let previous: Members = ctx.repo.segment_members(ctx.tenant, &m.segment_id).await?;
    let members = ctx.pendo.segment_members(&m.segment_id).await?;
    let states = ctx
        .repo
        .get_object_states(ctx.tenant, ObjectKind::Visitor, &members)
        .await?;
    let now: Members = members
        .iter()
        .filter_map(|v| {
            let s = states.get(v)?;
            if s.do_not_process {
                return None;
            }
            Some((v.clone(), s.hubspot_id.clone()?))
        })
        .collect();
    // A member whose contact changed (merge, relink) leaves the old one and joins the new.
    let joined: Members = now
        .iter()
        .filter(|(v, c)| previous.get(*v) != Some(*c))
        .map(|(v, c)| (v.clone(), c.clone()))
        .collect();
    let left: Members = previous
        .iter()
        .filter(|(v, c)| now.get(*v) != Some(*c))
        .map(|(v, c)| (v.clone(), c.clone()))
        .collect();
    if joined.is_empty() && left.is_empty() {
        return Ok(());
    }
    let mut failed: BTreeSet<String> = BTreeSet::new();
    if let Some(property) = &m.contact_property {
        for (set, value) in [(&joined, "true"), (&left, "false")] {
            failed.extend(write_property(ctx, m, property, set, value).await?);
        }
    }
    if let Some(name) = &m.list_name {
        let add: Vec<String> = joined.values().cloned().collect();
        let remove: Vec<String> = left.values().cloned().collect();
        let key = format!("{}:list", m.cursor_name());
        let cached: Option<String> = ctx.repo.get_cursor(ctx.tenant, &key).await?;
        let list = match cached.clone() {
            Some(id) => id,
            None => ctx.hubspot.find_or_create_list(name).await?,
        };
        let change = match ctx.hubspot.change_list_members(&list, &add, &remove).await {
            // The cached list was deleted in HubSpot: found again by name, or created.
            Err(HubSpotError::Api { status: 404, .. }) if cached.is_some() => {
                let list = ctx.hubspot.find_or_create_list(name).await?;
                ctx.repo.put_cursor(ctx.tenant, &key, &list).await?;
                ctx.hubspot
                    .change_list_members(&list, &add, &remove)
                    .await?
            }
            other => other?,
        };
        if cached.is_none() {
            ctx.repo.put_cursor(ctx.tenant, &key, &list).await?;
        }
        for missing in change.missing {
            // A contact deleted in HubSpot: dropped from our set; the push relinks the visitor.
            if let Some((v, _)) = joined.iter().find(|(_, c)| **c == missing) {
                failed.insert(v.clone());
            }
        }
    }
    let mut gone = Vec::new();
    for (v, c) in &left {
        if !failed.contains(v) && previous.get(v) == Some(c) {
            if !joined.contains_key(v) {
                gone.push(v.clone());
            }
            ctx.run.counts.segment_left += 1;
        }
    }
    let mut added = Vec::new();
    for (v, c) in &joined {
        if !failed.contains(v) {
            added.push((v.clone(), c.clone()));
            ctx.run.counts.segment_joined += 1;
        }
    }
    tracing::info!(segment = %m.segment_id, joined = added.len(), left = gone.len(), "segment synced");
    ctx.repo
        .delete_segment_members(ctx.tenant, &m.segment_id, &gone)
        .await?;
    ctx.repo
        .put_segment_members(ctx.tenant, &m.segment_id, &added)
        .await?;
    Ok(())
}

/// Sets `property` to `value` on the contacts of `set` (≤ 100 per call); returns the visitors
/// whose write failed (recorded as record errors).
async fn write_property(
    ctx: &mut RunCtx<'_>,
    m: &SegmentMapping,
    property: &str,
    set: &Members,
    value: &str,
) -> Result<Vec<String>, SyncError> {
    let mut failed = Vec::new();
    let entries: Vec<(&String, &String)> = set.iter().collect();
    for chunk in entries.chunks(BATCH_LIMIT) {
        let inputs = chunk
            .iter()
            .map(|(_, c)| WriteInput {
                key: (*c).clone(),
                properties: BTreeMap::from([(property.to_string(), value.to_string())]),
            })
            .collect();
        let outcome = ctx.hubspot.update(ObjectKind::Visitor, inputs).await?;
        for f in outcome.failed {
            if let Some((v, _)) = chunk.iter().find(|(_, c)| **c == f.key) {
                failed.push((*v).clone());
                ctx.run.counts.failed += 1;
                ctx.errors.push(RecordError {
                    direction: Direction::Push,
                    object: ObjectKind::Visitor,
                    object_id: (*v).clone(),
                    field: Some(property.to_string()),
                    message: format!(
                        "segment {}: setting {property}={value} failed, retried next run: {}",
                        m.segment_id, f.message
                    ),
                });
            }
        }
    }
    Ok(failed)
}
