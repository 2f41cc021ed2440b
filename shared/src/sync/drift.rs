//! Edits people make in HubSpot to what the push owns, found when the pull reads modified
//! records back (it already does, for the pulled properties):
//! - a pushed property whose value is not the one we last wrote was edited by hand: the record
//!   is written again on the next push (Pendo's property descriptions promise it) and the run
//!   reports "overwrote a manual edit";
//! - a record whose join property was cleared gets it stamped again on the next push;
//! - a record that now carries another Pendo id loses our link, which is resolved again and
//!   reported (the person may have merged or reassigned it on purpose).
//!
//! Records are recognised by the link stored when we last wrote them (HubSpot id → Pendo id),
//! so a cleared join property does not hide them.

use super::engine::RunCtx;
use super::in_flight::Mark;
use super::SyncError;
use crate::domain::{Direction, ObjectKind, RecordError};
use crate::hubspot::HsRecord;

pub(crate) async fn check(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    join: &str,
    records: &[HsRecord],
    mark: Mark,
) -> Result<(), SyncError> {
    if records.is_empty() {
        return Ok(());
    }
    let hs_ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let links = ctx.repo.get_links(ctx.tenant, kind, &hs_ids).await?;
    if links.is_empty() {
        return Ok(());
    }
    let mut pendo_ids: Vec<String> = links.values().cloned().collect();
    pendo_ids.sort();
    pendo_ids.dedup();
    let mut states = ctx
        .repo
        .get_object_states(ctx.tenant, kind, &pendo_ids)
        .await?;
    let mut changed = Vec::new();
    for r in records {
        let Some(pendo_id) = links.get(&r.id) else {
            continue;
        };
        // Written by the push lane since the search was sent: HubSpot's value and the stored
        // one may be from either side of the write. No await from here to the store write
        // below, so a write beginning after this check stores its state after ours.
        if ctx.in_flight.touched_since(&r.id, &mark) {
            continue;
        }
        let Some(stored) = states.remove(pendo_id) else {
            continue;
        };
        if stored.hubspot_id.as_deref() != Some(r.id.as_str()) {
            // The link moved on since (merge, re-resolution): not ours to judge any more.
            continue;
        }
        let mut state = stored.clone();
        match r.prop(join) {
            Some(j) if j == pendo_id => {}
            None => {
                state.restamp = true;
                state.fingerprint = None;
            }
            Some(other) => {
                ctx.errors.push(RecordError {
                    direction: Direction::Push,
                    object: kind,
                    object_id: pendo_id.clone(),
                    field: Some(join.to_string()),
                    message: format!(
                        "HubSpot {} {} now carries {join} {other}: the link of {pendo_id} was dropped and is resolved again",
                        record_noun(kind),
                        r.id
                    ),
                });
                state.hubspot_id = None;
                state.fingerprint = None;
                state.pushed = None;
                state.drift = None;
                state.restamp = false;
                changed.push((pendo_id.clone(), state));
                continue;
            }
        }
        if let Some(pushed) = &state.pushed {
            let edits: Vec<String> = pushed
                .iter()
                .filter(|(k, v)| !same_value(r.prop(k), v))
                .map(|(k, v)| format!("{k} was {:?}, is {v:?} again", r.prop(k).unwrap_or("")))
                .collect();
            if !edits.is_empty() {
                state.fingerprint = None;
                state.drift = Some(edits.join("; "));
            }
        }
        if state != stored {
            changed.push((pendo_id.clone(), state));
        }
    }
    ctx.repo
        .put_object_states(ctx.tenant, kind, &changed)
        .await?;
    Ok(())
}

pub(crate) fn record_noun(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Visitor => "contact",
        ObjectKind::Account => "company",
    }
}

/// Whether HubSpot's value `have` is the value we wrote as `wrote` (HubSpot may answer a
/// number or a date in another notation: `12` / `12.0`, a datetime with or without
/// milliseconds, a date as midnight in epoch milliseconds; no value = `""`).
pub(crate) fn same_value(have: Option<&str>, wrote: &str) -> bool {
    let have = have.unwrap_or("").trim();
    let wrote = wrote.trim();
    if have == wrote {
        return true;
    }
    if have.is_empty() || wrote.is_empty() {
        return false;
    }
    if let (Ok(a), Ok(b)) = (have.parse::<f64>(), wrote.parse::<f64>()) {
        return a == b;
    }
    matches!((instant_ms(have), instant_ms(wrote)), (Some(a), Some(b)) if a == b)
}

fn instant_ms(v: &str) -> Option<i64> {
    v.parse::<i64>()
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(v)
                .ok()
                .map(|d| d.timestamp_millis())
        })
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc().timestamp_millis())
        })
}

#[cfg(test)]
mod tests {
    use super::same_value;

    #[test]
    fn notations_of_one_value_are_the_same_value() {
        assert!(same_value(Some("12"), "12"));
        assert!(same_value(Some("12.0"), "12"));
        assert!(same_value(None, ""));
        assert!(same_value(
            Some("2023-11-14T22:13:20Z"),
            "2023-11-14T22:13:20.000Z"
        ));
        assert!(same_value(Some("1763942400000"), "2025-11-24"));
        assert!(!same_value(Some("9999"), "12"));
        assert!(!same_value(Some("great"), ""));
        assert!(!same_value(None, "3"));
    }
}
