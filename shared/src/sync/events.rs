//! Pendo Page, Feature and Track Events → HubSpot custom events (reference/hubspot.md §7b).
//!
//! For each chosen item: its event definition is created once (cached in the store, so a run
//! with all definitions known costs no definition call), then Pendo's per-visitor per-day
//! counts of the days not sent yet (a backfill window on first enable, then the new days) go
//! out as one occurrence each with a count property, ≤ 500 per `send/batch` call. Occurrences
//! of every item share batches, so a day costs ⌈occurrences / 500⌉ calls. Each occurrence's
//! `uuid` is derived from (tenant, item, visitor, day, properties): a retried or replayed batch
//! never double counts. Do-not-process visitors are never sent. A per-tenant monthly counter
//! stops sending at the configured share of HubSpot's cap. A portal without custom events
//! (not Enterprise) refuses the calls with 403: that is stored as the tenant's events status,
//! and the rest of the sync goes on. The phase runs last, after push and pull, so events never
//! take the portal's request budget from the property sync.

use chrono::{Datelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use super::engine::{RunCtx, Step};
use super::fields::normalise_email;
use super::SyncError;
use crate::domain::{
    day_date, hubspot_name, truncated, Direction, EventItem, EventsConfig, ObjectKind, RecordError,
    ACCOUNT_PROPERTY, COUNT_PROPERTY,
};
use crate::hubspot::{
    EventDefinition, EventDefinitionSpec, EventOccurrence, HubSpotError, EVENT_BATCH_LIMIT,
};
use crate::pendo::{EventCount, EventCountQuery};

/// Stored under these cursor names.
pub const STATUS_CURSOR: &str = "events:status";
const BUDGET_CURSOR: &str = "events:budget";
const DEFINITIONS_CURSOR: &str = "events:definitions";
/// Rows per Pendo page, and pages per step (the engine checkpoints between steps).
const PAGE_ROWS: usize = 5_000;
const PAGES_PER_STEP: usize = 20;
/// Pendo aggregation windows stay ≤ 30 days (reference/pendo.md §2.3, §6).
const WINDOW_DAYS: i32 = 30;

/// The tenant's custom events state, shown in its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventsStatus {
    pub state: EventsState,
    /// What happened and what to do about it.
    pub message: String,
    /// Month (`YYYY-MM`, UTC) and occurrences sent in it.
    pub month: String,
    pub sent_this_month: u64,
    pub monthly_allowance: u64,
    pub updated_at: chrono::DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventsState {
    Sending,
    /// The month's allowance is used; sending resumes next month.
    BudgetReached,
    /// HubSpot refused custom events (no Enterprise tier or missing scope).
    Unavailable,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Budget {
    month: String,
    sent: u64,
}

/// Last day whose events of one item were sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ItemCursor {
    through_day: i32,
}

/// Position inside the phase: item index and the last visitor done in its current window.
fn parse_after(after: Option<&str>) -> (usize, Option<String>) {
    let Some(a) = after else { return (0, None) };
    let (idx, visitor) = a.split_once('\t').unwrap_or((a, ""));
    (
        idx.parse().unwrap_or(0),
        (!visitor.is_empty()).then(|| visitor.to_string()),
    )
}

fn format_after(idx: usize, visitor: Option<&str>) -> String {
    format!("{idx}\t{}", visitor.unwrap_or_default())
}

/// Work of one step, written out only after everything it buffered was sent.
struct StepState {
    buffer: Vec<EventOccurrence>,
    cursors: Vec<(String, ItemCursor)>,
    budget: Budget,
    allowance: u64,
}

pub(crate) async fn events_step(
    ctx: &mut RunCtx<'_>,
    after: Option<String>,
) -> Result<Step, SyncError> {
    let Some(cfg) = ctx.config.events.clone().filter(|e| !e.items.is_empty()) else {
        return Ok(Step::Done);
    };
    if ctx.opts.dry_run {
        return Ok(Step::Done);
    }
    let (mut idx, mut visitor) = parse_after(after.as_deref());
    let month = month_of(Utc::now());
    let mut budget: Budget = ctx
        .repo
        .get_cursor(ctx.tenant, BUDGET_CURSOR)
        .await?
        .unwrap_or_default();
    if budget.month != month {
        budget = Budget { month, sent: 0 };
    }
    let mut st = StepState {
        buffer: Vec::new(),
        cursors: Vec::new(),
        budget,
        allowance: cfg.monthly_allowance(),
    };
    let names = match definitions(ctx, &cfg).await {
        Ok(n) => n,
        Err(e) if e.events_unavailable() => return unavailable(ctx, &st, e).await,
        Err(e) => return Err(e.into()),
    };
    let mut pages = 0;
    let mut budget_hit = false;
    while idx < cfg.items.len() && pages < PAGES_PER_STEP && !budget_hit {
        let item = &cfg.items[idx];
        let through = match st
            .cursors
            .iter()
            .rev()
            .find(|(n, _)| *n == item.cursor_name())
        {
            Some((_, c)) => c.through_day,
            None => ctx
                .repo
                .get_cursor::<ItemCursor>(ctx.tenant, &item.cursor_name())
                .await?
                .map_or(ctx.opts.today - cfg.backfill_days as i32, |c| c.through_day),
        };
        if through >= ctx.opts.today {
            idx += 1;
            visitor = None;
            continue;
        }
        let first_day = through + 1;
        let days = (ctx.opts.today - through).min(WINDOW_DAYS);
        let rows = ctx
            .pendo
            .event_counts(&EventCountQuery {
                source: item.source,
                item_id: &item.id,
                properties: &item.properties,
                first_day,
                days: days as u32,
                after: visitor.as_deref(),
                limit: PAGE_ROWS,
            })
            .await?;
        pages += 1;
        let Some(last) = rows.last().map(|r| r.visitor_id.clone()) else {
            // This window is done: the item's cursor moves once what was buffered is sent.
            st.cursors.push((
                item.cursor_name(),
                ItemCursor {
                    through_day: through + days,
                },
            ));
            visitor = None;
            continue;
        };
        let Some(def) = names.get(&item.event_name()) else {
            idx += 1;
            visitor = None;
            continue;
        };
        budget_hit = occurrences(ctx, &mut st, item, def, rows).await?;
        visitor = Some(last);
        if let Err(e) = send_full(ctx, &mut st, false).await {
            return fail_send(ctx, &st, e).await;
        }
    }
    if let Err(e) = send_full(ctx, &mut st, true).await {
        return fail_send(ctx, &st, e).await;
    }
    for (name, c) in &st.cursors {
        ctx.repo.put_cursor(ctx.tenant, name, c).await?;
    }
    ctx.repo
        .put_cursor(ctx.tenant, BUDGET_CURSOR, &st.budget)
        .await?;
    if budget_hit {
        let message = format!(
            "the month's custom event allowance is used ({} of {}: {} % of the {} HubSpot allows); \
             sending resumes on the 1st, or raise events.stop_at_percent / events.monthly_limit",
            st.budget.sent, st.allowance, cfg.stop_at_percent, cfg.monthly_limit
        );
        tracing::warn!(
            sent = st.budget.sent,
            "custom events: monthly allowance reached"
        );
        put_status(ctx, &st, EventsState::BudgetReached, message).await?;
        return Ok(Step::Done);
    }
    put_status(
        ctx,
        &st,
        EventsState::Sending,
        "custom events are being sent".into(),
    )
    .await?;
    if idx >= cfg.items.len() {
        Ok(Step::Done)
    } else {
        Ok(Step::More(Some(format_after(idx, visitor.as_deref()))))
    }
}

/// HubSpot internal name → definition (fully qualified name, properties) of every chosen item, created
/// where missing. Known names are cached, so steady state costs no call.
async fn definitions(
    ctx: &mut RunCtx<'_>,
    cfg: &EventsConfig,
) -> Result<BTreeMap<String, EventDefinition>, HubSpotError> {
    let mut known: BTreeMap<String, EventDefinition> = ctx
        .repo
        .get_cursor(ctx.tenant, DEFINITIONS_CURSOR)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let missing: Vec<&EventItem> = cfg
        .items
        .iter()
        .filter(|i| !known.contains_key(&i.event_name()))
        .collect();
    if missing.is_empty() {
        return Ok(known);
    }
    for d in ctx.hubspot.event_definitions().await? {
        known.insert(d.name.clone(), d);
    }
    for item in missing {
        let name = item.event_name();
        if known.contains_key(&name) {
            continue;
        }
        let mut properties = vec![
            (
                COUNT_PROPERTY.to_string(),
                "Pendo event count".to_string(),
                "number".to_string(),
            ),
            (
                ACCOUNT_PROPERTY.to_string(),
                "Pendo account id".to_string(),
                "string".to_string(),
            ),
        ];
        properties.extend(
            item.property_names()
                .into_iter()
                .map(|(p, n)| (n, format!("Pendo {p}"), "string".to_string())),
        );
        let label = item
            .label
            .clone()
            .unwrap_or_else(|| format!("Pendo {} {}", item.source.as_str(), item.id));
        let def = ctx
            .hubspot
            .create_event_definition(&EventDefinitionSpec {
                name: name.clone(),
                label: label.chars().take(50).collect(),
                description: format!(
                    "Pendo {} event {}: visitor's events per day (pendo_event_count)",
                    item.source.as_str(),
                    item.id
                ),
                properties,
            })
            .await?;
        tracing::info!(event = %def.fully_qualified_name, "custom event definition created");
        known.insert(name, def);
    }
    // A store failure here only costs a list call next run.
    let _ = ctx
        .repo
        .put_cursor(ctx.tenant, DEFINITIONS_CURSOR, &known)
        .await;
    Ok(known)
}

/// Buffers one page's occurrences; `true` when the month's allowance is used up.
async fn occurrences(
    ctx: &mut RunCtx<'_>,
    st: &mut StepState,
    item: &EventItem,
    def: &EventDefinition,
    rows: Vec<EventCount>,
) -> Result<bool, SyncError> {
    let event_name = def.fully_qualified_name.as_str();
    // A property chosen after the definition was created is not on it: HubSpot would reject
    // the whole batch, so it is left out (and reported) until the definition has it.
    let defined: Vec<&str> = def.properties.iter().map(|p| p.name.as_str()).collect();
    let props: Vec<(String, String)> = item
        .property_names()
        .into_iter()
        .filter(|(raw, name)| {
            let ok = defined.is_empty() || defined.contains(&name.as_str());
            if !ok && ctx.errors.len() < 1000 {
                ctx.errors.push(RecordError {
                    direction: Direction::Push,
                    object: ObjectKind::Visitor,
                    object_id: "events".into(),
                    field: Some(name.clone()),
                    message: format!(
                        "Track Event property {raw} is not on HubSpot event {event_name} (chosen after it was created); not sent. Add the property to the event in HubSpot"
                    ),
                });
            }
            ok
        })
        .collect();
    let mut ids: Vec<String> = rows.iter().map(|r| r.visitor_id.clone()).collect();
    ids.dedup();
    let states = ctx
        .repo
        .get_object_states(ctx.tenant, ObjectKind::Visitor, &ids)
        .await?;
    for r in rows {
        let state = states.get(&r.visitor_id);
        if state.is_some_and(|s| s.do_not_process) {
            continue;
        }
        let (object_id, email) = match state.and_then(|s| s.hubspot_id.clone()) {
            Some(id) => (Some(id), None),
            // No link: only an e-mail-shaped visitor id can name (or create) the contact.
            None => match normalise_email(&r.visitor_id) {
                Some(e) => (None, Some(e)),
                None => {
                    ctx.run.counts.events_unlinked += 1;
                    continue;
                }
            },
        };
        if st.budget.sent + st.buffer.len() as u64 >= st.allowance {
            return Ok(true);
        }
        let mut properties = BTreeMap::from([(COUNT_PROPERTY.to_string(), r.count.to_string())]);
        if let Some(a) = &r.account_id {
            properties.insert(ACCOUNT_PROPERTY.to_string(), a.clone());
        }
        for (raw, value) in &r.properties {
            if let Some((_, name)) = props.iter().find(|(p, _)| p == raw) {
                properties.insert(name.clone(), value.clone());
            }
        }
        for (name, value) in properties.iter_mut() {
            if let Some(cut) = truncated(name, value) {
                ctx.run.counts.events_truncated += 1;
                if ctx.run.counts.events_truncated <= 20 {
                    ctx.errors.push(RecordError {
                        direction: Direction::Push,
                        object: ObjectKind::Visitor,
                        object_id: r.visitor_id.clone(),
                        field: Some(name.clone()),
                        message: format!(
                            "custom event {event_name}: value of {} characters cut to HubSpot's limit of {} (sent)",
                            value.chars().count(),
                            cut.chars().count()
                        ),
                    });
                }
                *value = cut;
            }
        }
        let uuid = occurrence_uuid(ctx.tenant.as_str(), item, &r);
        st.buffer.push(EventOccurrence {
            event_name: event_name.to_string(),
            object_id,
            email,
            occurred_at: format!("{}T00:00:00Z", day_date(r.day).format("%Y-%m-%d")),
            properties,
            uuid,
        });
    }
    Ok(false)
}

/// Sends full batches (or everything when `all`), counting them against the month.
async fn send_full(
    ctx: &mut RunCtx<'_>,
    st: &mut StepState,
    all: bool,
) -> Result<(), HubSpotError> {
    while st.buffer.len() >= EVENT_BATCH_LIMIT || (all && !st.buffer.is_empty()) {
        let n = st.buffer.len().min(EVENT_BATCH_LIMIT);
        ctx.hubspot.send_events(&st.buffer[..n]).await?;
        st.buffer.drain(..n);
        st.budget.sent += n as u64;
        ctx.run.counts.events_sent += n as u64;
    }
    Ok(())
}

async fn fail_send(
    ctx: &mut RunCtx<'_>,
    st: &StepState,
    e: HubSpotError,
) -> Result<Step, SyncError> {
    if e.events_unavailable() {
        return unavailable(ctx, st, e).await;
    }
    if let HubSpotError::Api { status: 400, .. } = &e {
        // A refused batch: reported, and this run sends no more events; the cursors stay,
        // so the same days are tried again next run. The rest of the sync is not failed.
        ctx.errors.push(RecordError {
            direction: Direction::Push,
            object: ObjectKind::Visitor,
            object_id: "events".into(),
            field: None,
            message: format!("HubSpot refused a custom events batch; retried next run: {e}"),
        });
        ctx.repo
            .put_cursor(ctx.tenant, BUDGET_CURSOR, &st.budget)
            .await?;
        return Ok(Step::Done);
    }
    // Counted so far stays counted (HubSpot has them); cursors stay, so the step is redone
    // and the uuids make the repeat free.
    ctx.repo
        .put_cursor(ctx.tenant, BUDGET_CURSOR, &st.budget)
        .await?;
    Err(e.into())
}

/// The portal refused custom events: reported in the status and the run, nothing else stops.
async fn unavailable(
    ctx: &mut RunCtx<'_>,
    st: &StepState,
    e: HubSpotError,
) -> Result<Step, SyncError> {
    let message = format!(
        "HubSpot refused custom events ({e}). They need an Enterprise HubSpot tier (Marketing, \
         Sales, Service or Content Hub) and the app's custom events scope: upgrade the portal or \
         reconnect HubSpot granting it; everything else keeps syncing"
    );
    tracing::warn!(error = %e, "custom events unavailable for this portal");
    ctx.errors.push(RecordError {
        direction: Direction::Push,
        object: ObjectKind::Visitor,
        object_id: "events".into(),
        field: None,
        message: message.clone(),
    });
    put_status(ctx, st, EventsState::Unavailable, message).await?;
    Ok(Step::Done)
}

async fn put_status(
    ctx: &mut RunCtx<'_>,
    st: &StepState,
    state: EventsState,
    message: String,
) -> Result<(), SyncError> {
    let status = EventsStatus {
        state,
        message,
        month: st.budget.month.clone(),
        sent_this_month: st.budget.sent,
        monthly_allowance: st.allowance,
        updated_at: Utc::now(),
    };
    ctx.repo
        .put_cursor(ctx.tenant, STATUS_CURSOR, &status)
        .await?;
    Ok(())
}

fn month_of(t: chrono::DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// A UUID (RFC 4122 layout, name-based) from SHA-256 of the occurrence's identity: the same
/// Pendo occurrence always gets the same uuid, so HubSpot counts it once however often it is sent.
pub fn occurrence_uuid(tenant: &str, item: &EventItem, r: &EventCount) -> String {
    let mut h = Sha256::new();
    for part in [
        tenant,
        item.source.as_str(),
        &item.id,
        &r.visitor_id,
        &r.day.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in &r.properties {
        h.update(hubspot_name(k).as_bytes());
        h.update([1]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventSource;

    #[test]
    fn occurrence_uuids_are_stable_and_distinct() {
        let item = EventItem {
            source: EventSource::Track,
            id: "t1".into(),
            label: None,
            properties: vec!["plan".into()],
        };
        let row = |day, plan: &str| EventCount {
            visitor_id: "v1".into(),
            account_id: None,
            day,
            count: 3,
            properties: vec![("plan".into(), plan.into())],
        };
        let a = occurrence_uuid("acme", &item, &row(20_000, "pro"));
        assert_eq!(a, occurrence_uuid("acme", &item, &row(20_000, "pro")));
        assert_ne!(a, occurrence_uuid("acme", &item, &row(20_001, "pro")));
        assert_ne!(a, occurrence_uuid("acme", &item, &row(20_000, "team")));
        assert_ne!(a, occurrence_uuid("other", &item, &row(20_000, "pro")));
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
        assert_eq!(
            parse_after(Some(&format_after(2, Some("v9")))),
            (2, Some("v9".into()))
        );
        assert_eq!(parse_after(Some(&format_after(1, None))), (1, None));
    }
}
