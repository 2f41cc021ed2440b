//! HubSpot → Pendo: one search page of contacts/companies modified since the cursor per step,
//! mapped to Pendo custom metadata, written only when the mapped values changed. Records that
//! failed are kept in a retry list and read back by id on the next run.

use chrono::Utc;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

use super::engine::{RunCtx, Step};
use super::fields::fingerprint;
use super::{PlannedWrite, SyncError};
use crate::domain::{
    Direction, EnumerationValue, Failure, ObjectKind, PullCursor, PullState, RecordError,
};
use crate::hubspot::{HsRecord, SearchCursor, SearchPage};
use crate::pendo::MetadataRow;
use std::sync::Arc;

/// HubSpot search is eventually consistent ("a few moments"): each pass overlaps the previous
/// one by this much so a late-indexed record is never missed.
const INDEX_LAG_MS: i64 = 5 * 60 * 1000;
const MAX_PULL_ATTEMPTS: u32 = 5;
/// Search pages one pull step reads (about 3 s at search's 5/s).
const PAGES_PER_STEP: usize = 16;
/// Search pages fetched and waiting while one is processed: a page whose Pendo writes wait
/// behind the push lane's calls does not hold the search back. Eight pages (under 2 MB) cover
/// about 1.6 s of search's pace; with three, the slow first pages of a pass (the store still
/// cold, the push lane starting beside it) held the search back for 2–3 s of a daily run.
const PAGES_AHEAD: usize = 8;

/// A search page fetched ahead, while the page before it was processed; kept, in order, for
/// the next step when the step ends first.
pub(crate) struct Prefetched {
    kind: ObjectKind,
    cursor: SearchCursor,
    mark: super::in_flight::Mark,
    page: SearchPage,
}

fn cursor_name(kind: ObjectKind) -> String {
    format!("pull:{}", kind.code())
}
fn retry_name(kind: ObjectKind) -> String {
    format!("pullfail:{}", kind.code())
}

pub(crate) async fn pull_step(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    after: Option<String>,
) -> Result<Step, SyncError> {
    let mappings: Vec<_> = ctx.config.pull_for(kind).cloned().collect();
    // Pushed properties are read back too, to find people's edits of them (`drift`).
    let pushed: Vec<String> = ctx
        .config
        .push_for(kind)
        .map(|f| f.property().to_string())
        .collect();
    if mappings.is_empty() && pushed.is_empty() {
        return Ok(Step::Done);
    }
    let pulls = !mappings.is_empty();
    let join = ctx.config.join_property(kind).to_string();
    let mut props: Vec<String> = mappings
        .iter()
        .map(|m| m.hubspot_property.clone())
        .chain(pushed)
        .collect();
    props.push(join.clone());
    props.sort();
    props.dedup();

    // First step of the phase: retry what failed last time.
    if after.is_none() && pulls {
        let retry: Vec<String> = ctx
            .repo
            .get_cursor(ctx.tenant, &retry_name(kind))
            .await?
            .unwrap_or_default();
        if !retry.is_empty() {
            let records = ctx
                .hubspot
                .read_by(kind, "hs_object_id", &retry, &props)
                .await?;
            // A retried record that fails again goes back on the list in `process`.
            ctx.repo
                .put_cursor(ctx.tenant, &retry_name(kind), &Vec::<String>::new())
                .await?;
            process(ctx, kind, &join, records).await?;
        }
        return Ok(Step::More(Some("search".into())));
    }
    if after.is_none() {
        return Ok(Step::More(Some("search".into())));
    }

    let mut cursor: PullCursor = ctx
        .repo
        .get_cursor(ctx.tenant, &cursor_name(kind))
        .await?
        .unwrap_or_default();
    if cursor.pass_started_ms.is_none() {
        cursor.pass_started_ms = Some(Utc::now().timestamp_millis());
        cursor.skip = super::own_writes::windows_for_pass(ctx, &cursor).await?;
        ctx.repo
            .put_cursor(ctx.tenant, &cursor_name(kind), &cursor)
            .await?;
    }
    let here = SearchCursor {
        since_ms: cursor.since_ms,
        after_id: cursor.after_id,
        skip: cursor.skip.clone(),
    };
    // Pages an earlier step searched ahead, if they go on from where the cursor stands (a
    // retried or resumed step starts afresh).
    let mut ahead = std::mem::take(&mut ctx.prefetched);
    if ahead
        .front()
        .is_none_or(|p| p.kind != kind || p.cursor != here)
    {
        ahead.clear();
    }
    let first = match ahead.pop_front() {
        Some(p) => p,
        None => {
            // Taken before the search: records the push lane writes from here on are judged
            // next pass.
            let mark = ctx.in_flight.mark();
            Prefetched {
                kind,
                page: ctx.hubspot.search_modified(kind, &here, &props).await?,
                cursor: here,
                mark,
            }
        }
    };
    // Up to PAGES_PER_STEP pages a step, searched ahead by a fetcher while the pages before
    // them are checked, written to Pendo and their cursor stored. The fetcher keeps going
    // until the step's work ends, and the pages it searched beyond the step's last go on to
    // the next step: the search never waits for our own work, a step's last pages or the
    // engine's bookkeeping between steps, so a pass keeps search's own pace (5/s).
    // The pages carried over wait in the channel, so they count against the pages ahead.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Prefetched>(PAGES_AHEAD);
    ahead.truncate(PAGES_AHEAD);
    let next = ahead
        .back()
        .map_or_else(|| first.page.next.clone(), |p| p.page.next.clone());
    for p in ahead.drain(..) {
        let _ = tx.try_send(p);
    }
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let (hubspot, in_flight) = (ctx.hubspot, Arc::clone(&ctx.in_flight));
    let fetcher = async move {
        let mut next = next;
        while let Some(n) = next.take() {
            // Room is reserved before the search, so a page searched is never left unsent.
            let permit = tokio::select! {
                biased;
                _ = stopped.wait_for(|s| *s) => return,
                permit = tx.reserve() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let mark = in_flight.mark();
            // A failed search ahead is repeated, and reported, by the step that needs it.
            let Ok(page) = hubspot.search_modified(kind, &n, &props).await else {
                return;
            };
            next = page.next.clone();
            permit.send(Prefetched {
                kind,
                cursor: n,
                mark,
                page,
            });
        }
    };
    let work = async {
        let mut current = first;
        let mut pages = 0;
        loop {
            let Prefetched {
                page: SearchPage { records, next },
                mark,
                ..
            } = current;
            super::drift::check(ctx, kind, &join, &records, mark).await?;
            if pulls {
                process(ctx, kind, &join, records).await?;
            }
            pages += 1;
            // The cursor advances only after the page's writes and state are stored.
            let next = match next {
                Some(n) => PullCursor {
                    after_id: n.after_id,
                    ..cursor.clone()
                },
                None => PullCursor {
                    since_ms: cursor.pass_started_ms.unwrap_or(cursor.since_ms) - INDEX_LAG_MS,
                    after_id: 0,
                    pass_started_ms: None,
                    skip: Vec::new(),
                },
            };
            let finished = next.pass_started_ms.is_none();
            // Stored in a dry run too: it works on a copy-on-write view of the store, and a
            // pass longer than one step must go on from here, not from its first page.
            ctx.repo
                .put_cursor(ctx.tenant, &cursor_name(kind), &next)
                .await?;
            if finished {
                return Ok::<_, SyncError>(Step::Done);
            }
            if pages >= PAGES_PER_STEP {
                return Ok(Step::More(Some("search".into())));
            }
            current = match rx.recv().await {
                Some(p) => p,
                None => return Ok(Step::More(Some("search".into()))),
            };
        }
    };
    let work = async {
        let step = work.await;
        // The search under way finishes and is kept; none is started after it.
        let _ = stop.send(true);
        step
    };
    let (step, ()) = tokio::join!(work, fetcher);
    while let Ok(p) = rx.try_recv() {
        ahead.push_back(p);
    }
    if !matches!(step, Ok(Step::More(_))) {
        ahead.clear();
    }
    ctx.prefetched = ahead;
    step
}

/// The pulled properties of records the push just stamped with the join property, read by id
/// and written to Pendo: the pull lane, searching beside the push, may have read them before
/// the stamp, when they did not name a Pendo record yet. One batch read per ≤100 stamps.
pub(crate) async fn pull_stamped(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    hubspot_ids: Vec<String>,
) -> Result<(), SyncError> {
    let mut props: Vec<String> = ctx
        .config
        .pull_for(kind)
        .map(|m| m.hubspot_property.clone())
        .collect();
    if props.is_empty() || hubspot_ids.is_empty() || ctx.opts.dry_run {
        return Ok(());
    }
    let join = ctx.config.join_property(kind).to_string();
    props.push(join.clone());
    let records = ctx
        .hubspot
        .read_by(kind, "hs_object_id", &hubspot_ids, &props)
        .await?;
    process(ctx, kind, &join, records).await
}

/// HubSpot's string value converted to the Pendo field's type; `Err` names the problem.
fn convert(value: Option<&str>, pendo_type: &str) -> Result<Value, String> {
    let Some(v) = value else {
        return Ok(Value::Null);
    };
    match pendo_type {
        // A Pendo float is a double: it is sent as one (as every earlier run did, so stored
        // pull fingerprints stay equal).
        "float" => v
            .trim()
            .parse::<f64>()
            .map(|n| json!(n))
            .map_err(|_| format!("'{v}' is not a number")),
        // Integers stay integers: no trip through f64, which is exact only up to 2^53.
        "integer" => exact_integer(v).map(|n| json!(n)).ok_or_else(|| {
            if v.trim().parse::<f64>().is_ok() {
                format!("'{v}' is not an integer (the Pendo field is an integer; not rounded)")
            } else {
                format!("'{v}' is not a number")
            }
        }),
        "boolean" => match v {
            "true" => Ok(json!(true)),
            "false" => Ok(json!(false)),
            _ => Err(format!("'{v}' is not true/false")),
        },
        "time" => v
            .parse::<i64>()
            .ok()
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .ok()
                    .map(|d| d.timestamp_millis())
            })
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .ok()
                    .map(|d| {
                        d.and_hms_opt(0, 0, 0)
                            .expect("midnight")
                            .and_utc()
                            .timestamp_millis()
                    })
            })
            .map(|ms| json!(ms))
            .ok_or_else(|| format!("'{v}' is not a date")),
        _ => Ok(json!(v)),
    }
}

/// `v` as an exact integer: digits with an optional sign, or a decimal whose fraction is all
/// zeros (`"12.0"`); `None` otherwise or beyond i64.
fn exact_integer(v: &str) -> Option<i64> {
    let v = v.trim();
    let whole = match v.split_once('.') {
        Some((w, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => w,
        Some(_) => return None,
        None => v,
    };
    whole.parse::<i64>().ok()
}

/// A dropdown value as its option label (multi-select values `;`-separated, each mapped); a
/// value without a known option stays as it is.
fn label_of(labels: &HashMap<String, String>, value: &str) -> String {
    value
        .split(';')
        .map(|v| labels.get(v).map_or(v, String::as_str))
        .collect::<Vec<_>>()
        .join(";")
}

pub(crate) async fn process(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    join: &str,
    records: Vec<HsRecord>,
) -> Result<(), SyncError> {
    let types = ctx.pendo_types.get(&kind).cloned().unwrap_or_default();
    let mappings: Vec<_> = ctx.config.pull_for(kind).cloned().collect();
    let linked: Vec<(String, HsRecord)> = records
        .into_iter()
        .filter_map(|r| r.prop(join).map(|p| (p.to_string(), r.clone())))
        .collect();
    let linked = match kind {
        // Nothing about a do-not-process visitor is processed, in Pendo either.
        ObjectKind::Visitor => super::privacy::without_flagged(ctx, linked).await?,
        ObjectKind::Account => linked,
    };
    if linked.is_empty() {
        return Ok(());
    }
    let hs_ids: Vec<String> = linked.iter().map(|(_, r)| r.id.clone()).collect();
    let mut states = ctx.repo.get_pull_states(ctx.tenant, kind, &hs_ids).await?;
    let mut rows = Vec::new();
    let mut pending: HashMap<String, (String, String, PullState)> = HashMap::new(); // pendo id → (hs id, fp, state)
    let now = Utc::now();
    let mut done = Vec::new();
    for (pendo_id, r) in linked {
        let mut values = BTreeMap::new();
        let mut problem = None;
        for m in &mappings {
            let raw = r.prop(&m.hubspot_property);
            let labelled = ctx
                .enum_labels
                .get(&(kind, m.hubspot_property.clone()))
                .filter(|_| m.enumeration == EnumerationValue::Label)
                .zip(raw)
                .map(|(labels, v)| label_of(labels, v));
            match convert(
                labelled.as_deref().or(raw),
                types.get(&m.pendo_field).map_or("string", String::as_str),
            ) {
                Ok(v) => {
                    values.insert(m.pendo_field.clone(), v);
                }
                Err(e) => problem = Some((m.hubspot_property.clone(), e)),
            }
        }
        let state = states.remove(&r.id).unwrap_or_default();
        if state
            .failure
            .as_ref()
            .is_some_and(|f| f.run_id.as_ref() == Some(&ctx.run.run_id))
        {
            // Already attempted (and failed) in this run: once per run, not once per sighting.
            continue;
        }
        if let Some((field, message)) = problem {
            ctx.run.counts.failed += 1;
            ctx.errors.push(RecordError {
                direction: Direction::Pull,
                object: kind,
                object_id: r.id.clone(),
                field: Some(field),
                message,
            });
            continue;
        }
        let fp = fingerprint(&values);
        if state.fingerprint.as_deref() == Some(fp.as_str()) && state.failure.is_none() {
            ctx.run.counts.unchanged += 1;
            continue;
        }
        if ctx.opts.dry_run {
            ctx.run.counts.pulled += 1;
            ctx.planned(PlannedWrite {
                direction: Direction::Pull,
                object: kind,
                id: format!("{} → {pendo_id}", r.id),
                values: values.clone(),
                hubspot_id: None,
                current: None,
            });
            continue;
        }
        if pending.contains_key(&pendo_id) {
            // Two HubSpot records claim one Pendo id: writing both would flip-flop.
            ctx.run.counts.ambiguous += 1;
            ctx.errors.push(RecordError {
                direction: Direction::Pull,
                object: kind,
                object_id: r.id.clone(),
                field: Some(join.to_string()),
                message: format!(
                    "another HubSpot record in this page also maps to Pendo id {pendo_id}"
                ),
            });
            continue;
        }
        rows.push(MetadataRow {
            id: pendo_id.clone(),
            values,
        });
        pending.insert(pendo_id, (r.id.clone(), fp, state));
    }
    if rows.is_empty() {
        return Ok(());
    }
    let outcome = ctx.pendo.write_custom(kind, rows).await?;
    let mut retry: Vec<String> = ctx
        .repo
        .get_cursor(ctx.tenant, &retry_name(kind))
        .await?
        .unwrap_or_default();
    for (pendo_id, message) in outcome.failed {
        if let Some((hs, _, mut state)) = pending.remove(&pendo_id) {
            if state.failure.is_some() {
                ctx.run.counts.retried += 1;
            }
            let failure =
                Failure::next(state.failure.as_ref(), message.clone(), now).in_run(&ctx.run.run_id);
            if failure.attempts < MAX_PULL_ATTEMPTS {
                retry.push(hs.clone());
            }
            state.failure = Some(failure);
            ctx.run.counts.failed += 1;
            ctx.errors.push(RecordError {
                direction: Direction::Pull,
                object: kind,
                object_id: hs.clone(),
                field: None,
                message: format!("Pendo {pendo_id}: {message}"),
            });
            done.push((hs, state));
        }
    }
    for (pendo_id, (hs, fp, state)) in pending {
        if state.failure.is_some() {
            ctx.run.counts.retried += 1;
        }
        ctx.run.counts.pulled += 1;
        done.push((
            hs,
            PullState {
                fingerprint: Some(fp),
                failure: None,
                pendo_id: Some(pendo_id),
            },
        ));
    }
    retry.sort();
    retry.dedup();
    ctx.repo
        .put_cursor(ctx.tenant, &retry_name(kind), &retry)
        .await?;
    ctx.repo.put_pull_states(ctx.tenant, kind, &done).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::convert;
    use serde_json::json;

    /// Issue 15, case 6: 2^53 + 1 reaches Pendo exactly; 12.5 for an integer field is a record
    /// error naming the value, never 13.
    #[test]
    fn numbers_reach_pendo_exactly() {
        assert_eq!(
            convert(Some("9007199254740993"), "integer"),
            Ok(json!(9_007_199_254_740_993_i64))
        );
        assert_eq!(convert(Some("12.0"), "integer"), Ok(json!(12)));
        assert_eq!(convert(Some("-7"), "integer"), Ok(json!(-7)));
        assert_eq!(convert(Some("12.5"), "float"), Ok(json!(12.5)));
        assert_eq!(
            convert(Some("12.5"), "integer"),
            Err("'12.5' is not an integer (the Pendo field is an integer; not rounded)".into())
        );
        assert_eq!(
            convert(Some("twelve"), "integer"),
            Err("'twelve' is not a number".into())
        );
    }
}
