//! The naive per-record approach side by side with ours, both measured at the same size: two
//! fresh worlds of N visitors with the same seeded dataset (each with its own HubSpot portal, so
//! neither shares a rate budget with the other or with the main scenarios), an initial sync and
//! a daily sync after a day with 1 % of visitors active, on each.

use shared::domain::{ActivityHistory, LatestNps, ObjectKind, SyncConfig};
use shared::hubspot::{HubSpotApi, WriteInput};
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use shared::sync::fields::{push_values, FieldInputs};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use crate::world::World;
use crate::Scenario;

/// One naive sync: HubSpot calls (OAuth excluded) and wall time.
pub struct Naive {
    pub visitors: usize,
    pub calls: u64,
    pub searches: u64,
    pub seconds: f64,
}

pub struct Comparison {
    pub n: usize,
    pub naive_initial: Naive,
    pub naive_daily: Naive,
    pub ours_initial: Scenario,
    pub ours_daily: Scenario,
}

/// Both approaches at `n` visitors; the two worlds run one after the other so their wall times
/// do not compete for the CPU with each other.
pub async fn compare(n: usize) -> Comparison {
    eprintln!("== baseline: our engine on {n} visitors");
    let world = World::start(n).await;
    let ours_initial = crate::sync(&world, &format!("initial sync, {n} visitors"), 0).await;
    world.next_day(1);
    let ours_daily = crate::sync(&world, &format!("daily sync, {n} visitors, 1 % active"), 0).await;
    drop(world);
    eprintln!("== baseline: naive per-record on {n} visitors");
    let world = World::start(n).await;
    let naive_initial = naive_sync(&world).await;
    world.next_day(1);
    let naive_daily = naive_sync(&world).await;
    Comparison {
        n,
        naive_initial,
        naive_daily,
        ours_initial,
        ours_daily,
    }
}

/// What a typical workflow tool does per visitor: compute the visitor's values, find the contact
/// by search, update it. Same client and limiter as ours; no stored state, so no diffing and no
/// batching, and its daily run does the same work as its first. The values are the ones our push
/// writes (the engine's field code over the visitor's history in the Pendo dataset, read
/// in-process: the naive side is not charged any Pendo call).
async fn naive_sync(world: &World) -> Naive {
    let client = suites::sandbox_client(&world.hubspot);
    let repo = Repo::new(Arc::new(
        SqliteStore::open(world.dir().join("store.db")).expect("store"),
    ));
    let config: SyncConfig = repo
        .get_config(&world.tenant)
        .await
        .expect("config")
        .unwrap_or_default();
    let today = world.today();
    let t = Instant::now();
    let nps = latest_nps(world);
    for v in 0..world.n {
        let id = sandboxes::pendo::data::visitor_id(v);
        let (history, bounds) = world.pendo.with(|s| {
            let ds = &s.data;
            let mut h = ActivityHistory::default();
            for day in ds.first_day()..=today {
                if let Some((minutes, _)) = ds.activity(v, day) {
                    h.record(day, minutes);
                }
            }
            (h, ds.visit_bounds(v))
        });
        let history = ActivityHistory {
            nps: nps.get(&v).cloned(),
            ..history
        };
        let input = FieldInputs {
            first_visit_ms: bounds.map(|b| b.0),
            last_visit_ms: bounds.map(|b| b.1),
            history: Some(&history),
            total_visitors: None,
        };
        let (values, _) = push_values(config.push_for(ObjectKind::Visitor), &input, today);
        let found = client
            .search_eq(ObjectKind::Visitor, "pendo_visitor_id", &id, &[])
            .await
            .expect("search");
        if let Some(c) = found.first() {
            client
                .update(
                    ObjectKind::Visitor,
                    vec![WriteInput {
                        key: c.id.clone(),
                        properties: values.into_iter().collect::<BTreeMap<_, _>>(),
                    }],
                )
                .await
                .expect("update");
        }
    }
    Naive {
        visitors: world.n,
        calls: client.calls().total() - client.calls().get("hubspot.oauth"),
        searches: client.calls().get("hubspot.search"),
        seconds: t.elapsed().as_secs_f64(),
    }
}

/// Each visitor's latest NPS answer (score, and the text answered with it), as our NPS phase
/// keeps it.
fn latest_nps(world: &World) -> HashMap<usize, LatestNps> {
    world.pendo.with(|s| {
        let ds = &s.data;
        let texts: HashMap<(usize, i64), String> = ds
            .polls
            .iter()
            .filter(|p| p.poll_id == ds.cfg.nps_text_poll)
            .filter_map(|p| {
                Some((
                    (p.visitor, p.browser_time),
                    p.response.as_str()?.to_string(),
                ))
            })
            .collect();
        let mut out: HashMap<usize, LatestNps> = HashMap::new();
        for p in ds
            .polls
            .iter()
            .filter(|p| p.poll_id == ds.cfg.nps_score_poll)
        {
            let Some(score) = p.response.as_u64() else {
                continue;
            };
            if out
                .get(&p.visitor)
                .is_some_and(|o| o.at_ms >= p.browser_time)
            {
                continue;
            }
            out.insert(
                p.visitor,
                LatestNps {
                    score: score as u8,
                    // The text poll is answered 4 s after the score in the dataset.
                    text: texts.get(&(p.visitor, p.browser_time + 4_000)).cloned(),
                    at_ms: p.browser_time,
                },
            );
        }
        out
    })
}
