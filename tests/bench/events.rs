//! `bench --events N`: HubSpot calls of the custom events and segment phases on N visitors
//! (every contact linked): one day on which all N visitors were active, sent as custom events
//! (page, feature and track items), and a segment sync after 1 % membership churn. Prints a
//! markdown section for BENCHMARKS.md (the full bench appends it for its first size).

use serde_json::json;
use shared::domain::SyncConfig;
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use std::sync::Arc;

use crate::world::World;

const SEGMENT: &str = "seg-power-users";

fn calls(s: &crate::Scenario, part: &str) -> u64 {
    s.hubspot_by_endpoint
        .iter()
        .filter(|(k, _)| k.contains(part))
        .map(|(_, v)| *v)
        .sum()
}

pub async fn section(n: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    eprintln!("== events and segments on {n} visitors");
    let world = World::start(n).await;
    let initial = crate::sync(&world, "initial sync", 0).await;
    eprintln!(
        "initial sync: {} HubSpot requests",
        initial.hubspot_requests
    );
    world.next_day(100);
    let repo = Repo::new(Arc::new(
        SqliteStore::open(world.dir().join("store.db")).unwrap(),
    ));
    let mut c =
        serde_json::to_value(repo.get_config(&world.tenant).await.unwrap().unwrap()).unwrap();
    c["events"] = json!({"items": [
        {"source": "page", "id": "page-home"},
        {"source": "feature", "id": "feat-export"},
        {"source": "track", "id": "track-upgraded", "properties": ["plan", "source_url"]}
    ], "backfill_days": 1});
    c["segments"] = json!([{"segment_id": SEGMENT, "list_name": "Pendo power users"}]);
    let c: SyncConfig = serde_json::from_value(c).unwrap();
    repo.put_config(&world.tenant, &c).await.unwrap();
    let members_before = world
        .pendo
        .with(|s| (0..n).filter(|v| s.data.in_segment(SEGMENT, *v)).count());
    let day = crate::sync(&world, "daily sync, all visitors active, events on", 0).await;
    let occurrences = world.hubspot.with(|s| s.event_completions.len()) as u64;
    let definitions = calls(&day, "event-definitions");
    let sends = calls(&day, "/send/batch");
    let list_calls_first = calls(&day, "/crm/lists/");
    // 1 % churn: n/200 members leave, n/200 non-members join.
    let k = (n / 200).max(1);
    world.pendo.with(|s| {
        let (mut joins, mut leaves) = (0, 0);
        for v in 0..n {
            let member = s.data.in_segment(SEGMENT, v);
            if member && leaves < k {
                s.data.segment_overrides.insert((SEGMENT.into(), v), false);
                leaves += 1;
            } else if !member && joins < k {
                s.data.segment_overrides.insert((SEGMENT.into(), v), true);
                joins += 1;
            }
        }
    });
    let churn = crate::sync(&world, "daily sync, 1 % segment churn", 0).await;
    let churn_lists = calls(&churn, "/crm/lists/");
    let churn_sends = calls(&churn, "/send/batch");
    let goal = occurrences.div_ceil(500) + 3;
    let _ = writeln!(out, "\n## Custom events and segments\n");
    let _ = writeln!(out, "`cargo run -p suites --bin bench -- --events {n}` (counts, not timings, are the figures). {n} visitors, every contact linked; page `page-home`, feature `feat-export`, track `track-upgraded` with 2 properties.\n");
    let _ = writeln!(out, "| figure | value |\n|---|---|");
    let _ = writeln!(
        out,
        "| one day, all {n} visitors active: occurrences sent | {occurrences} |"
    );
    let _ = writeln!(
        out,
        "| event definition calls (list + 3 creates, first time only) | {definitions} |"
    );
    let _ = writeln!(
        out,
        "| `send/batch` calls | {sends} (⌈{occurrences}/500⌉ = {}) |",
        occurrences.div_ceil(500)
    );
    let _ = writeln!(
        out,
        "| events calls in total / goal ⌈occurrences/500⌉ + definitions | {} / {goal} |",
        definitions + sends
    );
    let _ = writeln!(
        out,"| segment `{SEGMENT}` → static list, first run ({members_before} members): Lists API calls | {list_calls_first} |");
    let _ = writeln!(
        out,
        "| 1 % churn ({k} joined, {k} left): Lists API calls | {churn_lists} (1 add-and-remove) |"
    );
    let _ = writeln!(
        out,
        "| 1 % churn: events calls (no new day) | {churn_sends} |"
    );
    let _ = writeln!(
        out,
        "| 1 % churn: run counts joined/left | {}/{} |",
        churn.child["run"]["counts"]["segment_joined"],
        churn.child["run"]["counts"]["segment_left"]
    );
    out
}
