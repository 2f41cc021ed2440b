//! Pendo events → HubSpot custom events end to end on both sandboxes: definitions created
//! once, per-visitor per-day counts land as one occurrence each, a replay changes nothing,
//! the monthly cap stops sending and says so, a non-Enterprise portal is reported while the
//! rest syncs, do-not-process visitors get no events. Expected values come from the dataset.

use sandboxes::pendo::data::{visitor_id, DAY_MS};
use serde_json::json;
use shared::domain::{RunStatus, SyncConfig};
use shared::sync::events::{EventsState, EventsStatus, STATUS_CURSOR};
use std::collections::{BTreeMap, HashMap};

use crate::sync_fixture::{Fixture, VISITORS};

const BACKFILL: i32 = 3;

async fn with_events(f: &Fixture, events: serde_json::Value) {
    let mut c = serde_json::to_value(f.repo.get_config(&f.tenant).await.unwrap().unwrap()).unwrap();
    c["events"] = events;
    let c: SyncConfig = serde_json::from_value(c).unwrap();
    f.repo.put_config(&f.tenant, &c).await.unwrap();
}

fn chosen() -> serde_json::Value {
    json!({"items": [
        {"source": "page", "id": "page-home"},
        {"source": "feature", "id": "feat-export"},
        {"source": "track", "id": "track-upgraded", "properties": ["plan", "source_url"]}
    ], "backfill_days": BACKFILL})
}

/// Contact id by visitor id, for contacts the sync linked.
fn contact_ids(f: &Fixture) -> HashMap<String, u64> {
    f.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .filter_map(|r| {
                let v = r.properties.get("pendo_visitor_id")?;
                (!v.is_empty()).then(|| (v.clone(), r.id))
            })
            .collect()
    })
}

type Key = (String, u64, String);

/// (event, contact, day) → properties, as HubSpot recorded them.
fn landed(f: &Fixture) -> BTreeMap<Key, HashMap<String, String>> {
    f.hubspot.with(|s| {
        s.event_completions
            .iter()
            .map(|c| {
                (
                    (c.event_name.clone(), c.object_id, c.occurred_at.clone()),
                    c.properties.clone(),
                )
            })
            .collect()
    })
}

fn iso_day(day: i32) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(day as i64 * DAY_MS)
        .unwrap()
        .format("%Y-%m-%dT00:00:00Z")
        .to_string()
}

/// What should land for the linked visitors, from the dataset alone: (expected, long urls).
fn expected(
    f: &Fixture,
    linked: &HashMap<String, u64>,
    skip: usize,
) -> (BTreeMap<Key, HashMap<String, String>>, u64) {
    let portal = f.hubspot.with(|s| s.cfg.portal_id);
    let today = f.today();
    let mut out = BTreeMap::new();
    let mut long = 0;
    f.pendo.with(|s| {
        for v in (0..VISITORS).filter(|v| *v != skip) {
            let Some(contact) = linked.get(&visitor_id(v)) else {
                continue;
            };
            let account = sandboxes::pendo::data::account_id(s.data.primary_account(v));
            for day in today - BACKFILL + 1..=today {
                let base = |n: u32| {
                    HashMap::from([
                        ("pendo_event_count".to_string(), n.to_string()),
                        ("pendo_account_id".to_string(), account.clone()),
                    ])
                };
                if let Some(n) = s.data.page_use(v, "page-home", day) {
                    out.insert(
                        (
                            format!("pe{portal}_pendo_page_page_home"),
                            *contact,
                            iso_day(day),
                        ),
                        base(n),
                    );
                }
                if let Some(n) = s.data.feature_use(v, "feat-export", day) {
                    out.insert(
                        (
                            format!("pe{portal}_pendo_feature_feat_export"),
                            *contact,
                            iso_day(day),
                        ),
                        base(n),
                    );
                }
                if let Some((n, plan, url)) = s.data.track_use(v, "track-upgraded", day) {
                    let mut p = base(n);
                    p.insert("pendo_plan".into(), plan);
                    if url.len() > 200 {
                        long += 1;
                    }
                    p.insert("pendo_source_url".into(), url.chars().take(200).collect());
                    out.insert(
                        (
                            format!("pe{portal}_pendo_track_track_upgraded"),
                            *contact,
                            iso_day(day),
                        ),
                        p,
                    );
                }
            }
        }
    });
    (out, long)
}

fn calls(f: &Fixture, key: &str) -> u64 {
    f.hubspot.count(key)
}

#[tokio::test]
async fn definitions_once_counts_land_and_a_replay_changes_nothing() {
    let f = Fixture::new().await;
    with_events(&f, chosen()).await;
    // A do-not-process visitor that would otherwise be linked gets no events.
    f.pendo.with(|s| s.data.do_not_process.insert(1));
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let linked = contact_ids(&f);
    assert!(!linked.contains_key(&visitor_id(1)));
    let (want, long) = expected(&f, &linked, 1);
    assert!(
        want.len() > 100,
        "the dataset produces events: {}",
        want.len()
    );
    let got = landed(&f);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    assert_eq!(run.counts.events_sent, want.len() as u64);
    assert_eq!(run.counts.events_truncated, long);
    assert!(long > 0, "the dataset has URLs over 200 characters");
    assert_eq!(calls(&f, "POST /events/2026-03/event-definitions"), 3);
    let batches = calls(&f, "POST /events/2026-03/send/batch");
    assert_eq!(batches, want.len().div_ceil(500) as u64);
    let status: EventsStatus = f
        .repo
        .get_cursor(&f.tenant, STATUS_CURSOR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, EventsState::Sending);
    assert_eq!(status.sent_this_month, want.len() as u64);

    // Nothing new: no definition call, no send.
    let second = f.full_sync().await;
    assert_eq!(second.counts.events_sent, 0);
    assert_eq!(calls(&f, "POST /events/2026-03/event-definitions"), 3);
    assert_eq!(calls(&f, "GET /events/2026-03/event-definitions"), 1);
    assert_eq!(calls(&f, "POST /events/2026-03/send/batch"), batches);

    // Replay: the item cursors forgotten, the same days are sent again with the same uuids,
    // and HubSpot's counts do not change.
    for c in [
        "events:page:page-home",
        "events:feature:feat-export",
        "events:track:track-upgraded",
    ] {
        f.repo.delete_cursor(&f.tenant, c).await.unwrap();
    }
    let replay = f.full_sync().await;
    assert_eq!(replay.counts.events_sent, want.len() as u64);
    assert_eq!(calls(&f, "POST /events/2026-03/send/batch"), 2 * batches);
    assert_eq!(landed(&f), want);
    assert_eq!(f.hubspot.with(|s| s.event_completions.len()), want.len());
}

#[tokio::test]
async fn the_monthly_cap_stops_sending_and_says_so() {
    let f = Fixture::new().await;
    let mut events = chosen();
    events["monthly_limit"] = json!(100);
    events["stop_at_percent"] = json!(50);
    with_events(&f, events).await;
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(run.counts.events_sent, 50);
    assert_eq!(f.hubspot.with(|s| s.event_completions.len()), 50);
    let status: EventsStatus = f
        .repo
        .get_cursor(&f.tenant, STATUS_CURSOR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, EventsState::BudgetReached);
    assert_eq!(status.sent_this_month, 50);
    assert_eq!(status.monthly_allowance, 50);
    assert!(status.message.contains("allowance"), "{}", status.message);
    let again = f.full_sync().await;
    assert_eq!(again.counts.events_sent, 0);
    assert_eq!(f.hubspot.with(|s| s.event_completions.len()), 50);
}

#[tokio::test]
async fn a_portal_without_custom_events_is_reported_and_everything_else_syncs() {
    let f = Fixture::new().await;
    with_events(&f, chosen()).await;
    f.hubspot.with(|s| s.custom_events = false);
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(run.counts.events_sent, 0);
    assert!(
        run.counts.pushed > 0 && run.counts.pulled > 0,
        "{:?}",
        run.counts
    );
    let status: EventsStatus = f
        .repo
        .get_cursor(&f.tenant, STATUS_CURSOR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, EventsState::Unavailable);
    assert!(status.message.contains("Enterprise"), "{}", status.message);
    let errors = f
        .repo
        .list_run_errors(&f.tenant, &run.run_id, None, 100)
        .await
        .unwrap()
        .items;
    assert!(errors
        .iter()
        .any(|e| e.object_id == "events" && e.message.contains("Enterprise")));
    assert!(f
        .contacts_by_visitor()
        .values()
        .any(|p| p.contains_key("pendo_days_active")));
}
