//! The main run's block of BENCHMARKS.md. Every sentence is made from what this run measured:
//! the command it was given, the sizes it ran, the counts and times of its scenarios.

use sandboxes::hubspot::HubSpotSandboxConfig;
use serde_json::Value;
use std::fmt::Write;
use std::time::Duration;

use crate::baseline::Comparison;
use crate::extras::{Burst, DiffRate, LambdaPackage, PendoPull};
use crate::Scenario;

/// Peak resident memory the worker must stay under (issue 20), MB.
pub const RSS_GOAL_MB: f64 = 128.0;
/// Wall time over the rate floor a full sync may take (issue 20).
pub const FLOOR_GOAL: f64 = 1.15;

/// Everything the main run measured, for the report.
pub struct Run<'a> {
    pub args: &'a [String],
    pub sizes: &'a [usize],
    pub budget_secs: u64,
    pub scenarios: &'a [Scenario],
    pub comparison: Option<&'a Comparison>,
    pub pulls: &'a [PendoPull],
    pub diff: &'a DiffRate,
    pub burst: &'a Burst,
    pub lambdas: &'a [LambdaPackage],
    pub took: Duration,
    /// Scenarios still running when this report was written (0 = the run is complete).
    pub still_running: usize,
}

pub fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

/// 1234567 → "1 234 567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn calls(run: &Value, prefix: &str) -> String {
    let m = run["api_calls"].as_object().cloned().unwrap_or_default();
    let parts: Vec<String> = m
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| format!("{} {}", &k[prefix.len()..], v))
        .collect();
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join(", ")
    }
}

fn get(run: &Value, k: &str) -> u64 {
    run["api_calls"][k].as_u64().unwrap_or(0)
}

/// HubSpot calls the client made, OAuth token refreshes left out.
pub fn hubspot_calls(s: &Scenario) -> u64 {
    s.child["run"]["api_calls"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("hubspot.") && *k != "hubspot.oauth")
                .map(|(_, v)| v.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

pub fn wall(s: &Scenario) -> f64 {
    s.child["wall_s"].as_f64().unwrap_or(0.0)
}

pub fn rss_mb(s: &Scenario) -> f64 {
    s.child["peak_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0
}

pub fn invocations(s: &Scenario) -> u64 {
    s.child["run"]["invocations"]
        .as_u64()
        .unwrap_or_else(|| s.child["jobs"].as_u64().unwrap_or(1))
}

/// The rows issue 20 states its goals for: each initial sync and each daily 1 % sync.
pub fn goal_rows(scenarios: &[Scenario]) -> impl Iterator<Item = &Scenario> {
    scenarios
        .iter()
        .filter(|s| s.name.starts_with("initial") || s.name.contains(" 1 % "))
}

/// HubSpot's standard limit, requests per second (110 per 10 s).
fn hubspot_per_second() -> f64 {
    let c = HubSpotSandboxConfig::default();
    c.burst_per_window as f64 / c.window.as_secs_f64()
}

fn command(args: &[String]) -> String {
    let program = args
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or("bench".into(), |p| p.to_string_lossy().into_owned());
    std::iter::once(program)
        .chain(args.iter().skip(1).cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn header(md: &mut String, r: &Run) {
    let machine = machine();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let hs = HubSpotSandboxConfig::default();
    let sizes: Vec<String> = r.sizes.iter().map(|n| thousands(*n as u64)).collect();
    let budget = if r.budget_secs > 0 {
        format!(
            "each worker invocation has a {} s budget, as a Lambda function timeout, and a longer \
             sync checkpoints and continues in a new invocation",
            r.budget_secs
        )
    } else {
        "worker invocations have no time budget".into()
    };
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Measured {} on {machine}, {profile} build, with `{}`: tenant sizes {} \
         visitors; {budget}. The sandboxes run in-process with HubSpot's limits on ({} requests \
         / {} s per portal, search {} / s). {} {:.0} s.\n",
        chrono::Utc::now().format("%Y-%m-%d"),
        command(r.args),
        match sizes.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => sizes.join(""),
        },
        hs.burst_per_window,
        hs.window.as_secs(),
        hs.search_per_second,
        if r.still_running > 0 {
            "**Written while the run goes on** (the rows below are the scenarios finished so far; \
             the report is rewritten as each one finishes); so far"
        } else {
            "The whole run took"
        },
        r.took.as_secs_f64()
    );
    let _ = writeln!(md, "Every sync runs in its own child process (the worker alone: sandboxes live in the parent) with the functions' `MALLOC_ARENA_MAX={}` from `template.yaml`, on the embedded SQLite store wrapped in a counter of DynamoDB-equivalent capacity units.\n", crate::fleet::read_template().malloc_arena_max);
}

fn syncs(md: &mut String, scenarios: &[Scenario]) {
    let _ = writeln!(md, "## Syncs\n");
    let _ = writeln!(md, "| scenario | records pushed / pulled / unchanged / failed | HubSpot calls (client, by kind) | HubSpot writes vs ⌈pushed/100⌉ | Pendo calls | wall s | HubSpot req/10 s (avg · peak window) | 429s sent · records failed by a 429 | peak RSS MB | CPU s | invocations |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut excess = 0i64;
    for s in scenarios {
        let run = &s.child["run"];
        let c = &run["counts"];
        let pushed = c["pushed"].as_u64().unwrap_or(0);
        let writes = get(run, "hubspot.write");
        excess = excess.max(writes as i64 - pushed.div_ceil(100) as i64);
        let _ = writeln!(
            md,
            "| {} | {} / {} / {} / {} | {} | {} vs {} | {} | {:.1} | {:.1} · {} | {} · {} | {:.0} | {:.1} | {} |",
            s.name,
            pushed,
            c["pulled"],
            c["unchanged"],
            c["failed"],
            calls(run, "hubspot."),
            writes,
            pushed.div_ceil(100),
            calls(run, "pendo."),
            wall(s),
            s.hubspot_requests as f64 / wall(s).max(0.001) * 10.0,
            s.peak_window,
            s.hubspot_429,
            s.failed_by_429,
            rss_mb(s),
            s.child["cpu_s"].as_f64().unwrap_or(0.0),
            invocations(s),
        );
    }
    let peak = scenarios.iter().map(|s| s.peak_window).max().unwrap_or(0);
    let sent: u64 = scenarios.iter().map(|s| s.hubspot_429).sum();
    let failed: u64 = scenarios.iter().map(|s| s.failed_by_429).sum();
    let quiet = if scenarios.iter().any(|s| s.name.contains("0 % changed")) {
        " The \"0 % changed\" sync runs right after the initial sync."
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "\nThe busiest 10 s window of any sync saw {peak} HubSpot requests (limit {}). HubSpot \
         answered 429 {sent} time(s) over the run; {failed} record(s) failed because the client's \
         retries of a 429 ran out.{quiet}",
        HubSpotSandboxConfig::default().burst_per_window
    );
    let _ = writeln!(
        md,
        "\n`HubSpot writes vs ⌈pushed/100⌉`: pushed counts contacts and companies together and \
         each object type is written in batches of 100; in this run writes exceeded the floor \
         by at most {} call(s).\n",
        excess.max(0)
    );
}

fn rate_floor(md: &mut String, scenarios: &[Scenario]) {
    let per_s = hubspot_per_second();
    let search_per_s = HubSpotSandboxConfig::default().search_per_second as f64;
    let _ = writeln!(md, "## Rate floor, memory and invocations\n");
    let _ = writeln!(md, "For each initial sync and each daily 1 % sync: the floor is the time HubSpot's limit alone imposes, HubSpot requests (as the sandbox counted them) ÷ {per_s:.0} per second; the target is wall ÷ floor ≤ {FLOOR_GOAL}. Search has a bucket of its own ({search_per_s:.0} per second, exempt from the ten-secondly limit), so the searches alone need at least searches ÷ {search_per_s:.0} s (the search floor); where that is the larger, no sync can reach the first floor, and the last ratio compares wall time with the larger of the two. Peak RSS is the worker process's, against {RSS_GOAL_MB:.0} MB.\n");
    let _ = writeln!(md, "| scenario | HubSpot requests (searches) | floor s | search floor s | wall s | wall ÷ floor | ≤ {FLOOR_GOAL} | wall ÷ larger floor | 429s sent · records failed by a 429 | peak RSS MB | ≤ {RSS_GOAL_MB:.0} MB | invocations |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    let (mut rows, mut floor_met, mut rss_met) = (0, 0, 0);
    for s in goal_rows(scenarios) {
        let floor = s.hubspot_requests as f64 / per_s;
        let searches: u64 = s
            .hubspot_by_endpoint
            .iter()
            .filter(|(k, _)| k.ends_with("/search"))
            .map(|(_, v)| v)
            .sum();
        let search_floor = searches as f64 / search_per_s;
        let ratio = wall(s) / floor.max(0.001);
        rows += 1;
        floor_met += usize::from(ratio <= FLOOR_GOAL);
        rss_met += usize::from(rss_mb(s) <= RSS_GOAL_MB);
        let _ = writeln!(
            md,
            "| {} | {} ({}) | {:.1} | {:.1} | {:.1} | {:.2} | {} | {:.2} | {} · {} | {:.0} | {} | {} |",
            s.name,
            s.hubspot_requests,
            searches,
            floor,
            search_floor,
            wall(s),
            ratio,
            met(ratio <= FLOOR_GOAL),
            wall(s) / floor.max(search_floor).max(0.001),
            s.hubspot_429,
            s.failed_by_429,
            rss_mb(s),
            met(rss_mb(s) <= RSS_GOAL_MB),
            invocations(s),
        );
    }
    let _ = writeln!(
        md,
        "\nWall ÷ floor ≤ {FLOOR_GOAL} in {floor_met} of {rows} syncs; peak RSS ≤ {RSS_GOAL_MB:.0} MB in {rss_met} of {rows}.\n"
    );
    let _ = writeln!(md, "### Phases\n");
    let _ = writeln!(
        md,
        "| scenario | phase: seconds · API calls | sum of phase s | wall s | |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for s in goal_rows(scenarios) {
        let phases = s.child["run"]["phases"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let sum: f64 = phases.iter().filter_map(|p| p["seconds"].as_f64()).sum();
        let list: Vec<String> = phases
            .iter()
            .map(|p| {
                format!(
                    "{}: {:.1} · {}",
                    p["phase"].as_str().unwrap_or("?"),
                    p["seconds"].as_f64().unwrap_or(0.0),
                    p["api_calls"].as_u64().unwrap_or(0)
                )
            })
            .collect();
        let note = if sum > wall(s) {
            "phases overlap; their sum can exceed wall time"
        } else {
            ""
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {note} |",
            s.name,
            list.join("; "),
            sum,
            wall(s)
        );
    }
    let _ = writeln!(md);
}

/// A paragraph for the 1 M tenant, only when this run had one.
fn million(md: &mut String, scenarios: &[Scenario]) {
    let big: Vec<&Scenario> = goal_rows(scenarios).filter(|s| s.n >= 1_000_000).collect();
    if big.is_empty() {
        return;
    }
    let per_s = hubspot_per_second();
    let lines: Vec<String> = big
        .iter()
        .map(|s| {
            let ratio = wall(s) / (s.hubspot_requests as f64 / per_s).max(0.001);
            format!(
                "{}: {:.1} min over {} invocation(s), wall ÷ floor {:.2} ({} ≤ {FLOOR_GOAL}), peak RSS {:.0} MB ({} ≤ {RSS_GOAL_MB:.0} MB)",
                s.name,
                wall(s) / 60.0,
                invocations(s),
                ratio,
                met(ratio <= FLOOR_GOAL),
                rss_mb(s),
                met(rss_mb(s) <= RSS_GOAL_MB),
            )
        })
        .collect();
    let _ = writeln!(md, "**1 M visitors and more.** {}.\n", lines.join("; "));
}

/// Each checked sync's end state against the dataset.
fn end_states(md: &mut String, scenarios: &[Scenario]) {
    let checked: Vec<&Scenario> = scenarios.iter().filter(|s| s.end.is_some()).collect();
    if checked.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### End state against the dataset
"
    );
    let _ = writeln!(md, "After each initial and daily 1 % sync, every contact's and company's pushed values and every pulled Pendo value are compared with values computed from the raw dataset (`tests/support/expected.rs`, not through the engine); duplicated and missing records are counted; and the record inputs HubSpot received in batch writes are set against the records the run reports pushed (more inputs than records would be a record written twice).
");
    let _ = writeln!(
        md,
        "| scenario | result | record inputs written / records pushed |"
    );
    let _ = writeln!(md, "|---|---|---|");
    for s in checked {
        let c = s.end.as_ref().expect("checked");
        let pushed = s.child["run"]["counts"]["pushed"].as_u64().unwrap_or(0);
        let _ = writeln!(
            md,
            "| {} | {}: {} | {} / {} |",
            s.name,
            if c.clean() { "equal" } else { "**differs**" },
            crate::reference::describe(c),
            thousands(c.inputs_written),
            thousands(pushed),
        );
    }
    let _ = writeln!(md);
}

pub fn render(r: &Run) -> String {
    let mut md = String::new();
    header(&mut md, r);
    syncs(&mut md, r.scenarios);
    million(&mut md, r.scenarios);
    rate_floor(&mut md, r.scenarios);
    end_states(&mut md, r.scenarios);
    crate::report_more::comparison(&mut md, r.comparison);
    crate::report_more::pendo_pull(&mut md, r.pulls);
    crate::report_more::engine(&mut md, r.diff, r.burst);
    crate::report_more::lambdas(&mut md, r.lambdas);
    crate::report_more::cost(&mut md, r.scenarios);
    md
}

/// The machine a run measured, as the report names it: "2 cores (AMD EPYC 7B13)".
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({model})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::Naive;
    use serde_json::json;

    fn scenario(name: &str, n: usize, wall_s: f64, requests: u64) -> Scenario {
        Scenario {
            name: name.into(),
            n,
            child: json!({
                "run": {"counts": {"pushed": 100}, "api_calls": {"hubspot.write": 1},
                        "invocations": 3, "busy_seconds": wall_s,
                        "phases": [{"phase": "a", "seconds": wall_s, "api_calls": 1},
                                   {"phase": "b", "seconds": 1.0, "api_calls": 1}]},
                "wall_s": wall_s, "peak_rss_kb": 60_000, "cpu_s": 1.0, "jobs": 3,
                "store_read_units": 10, "store_write_units": 10,
            }),
            hubspot_requests: requests,
            hubspot_429: 2,
            peak_window: 110,
            hubspot_by_endpoint: Default::default(),
            pendo_requests: 0,
            pulled_expected: 0,
            end: None,
            failed_by_429: 1,
        }
    }

    /// A 1 M run gets its paragraph and cost rows; nothing names a size that did not run.
    #[test]
    fn a_million_visitor_run_is_reported_from_its_data() {
        let m = 1_000_000;
        let scenarios = vec![
            scenario(&format!("initial sync, {m} visitors"), m, 2_400.0, 26_000),
            scenario(
                &format!("daily sync, {m} visitors, 1 % active + 1 % edited in HubSpot"),
                m,
                600.0,
                6_000,
            ),
        ];
        let naive = |s| Naive {
            visitors: 2_000,
            calls: 4_000,
            searches: 2_000,
            seconds: s,
        };
        let comparison = Comparison {
            n: 2_000,
            naive_initial: naive(420.0),
            naive_daily: naive(410.0),
            ours_initial: scenario("initial sync, 2000 visitors", 2_000, 10.0, 60),
            ours_daily: scenario("daily sync, 2000 visitors, 1 % active", 2_000, 5.0, 30),
        };
        let args = ["/x/bench", "--sizes", "1000000"].map(String::from);
        let md = render(&Run {
            args: &args,
            sizes: &[m],
            budget_secs: 900,
            scenarios: &scenarios,
            comparison: Some(&comparison),
            pulls: &[],
            diff: &DiffRate {
                records: m,
                changed: m / 5,
                cpu_seconds: 1.6,
                page: 500,
                history_bytes_avg: 800.0,
                active_days_avg: 72.0,
            },
            burst: &Burst {
                events: 10,
                visitors: 5,
                seconds: 1.0,
                jobs: 1,
                duplicates: 5,
            },
            lambdas: &[],
            took: Duration::from_secs(4_000),
            still_running: 0,
        });
        assert!(md.contains("with `bench --sizes 1000000`: tenant sizes 1 000 000 visitors"));
        assert!(md.contains("**1 M visitors and more.** initial sync, 1000000 visitors: 40.0 min over 3 invocation(s)"));
        assert!(md.contains("| 1 000 000 visitors | initial sync, 1000000 visitors | 3 |"));
        assert!(md.contains("phases overlap; their sum can exceed wall time"));
        assert!(md.contains("**625000** (1.60 CPU s); goal ≥ 500 000: met"));
        assert!(md.contains("| initial | 4000 |"));
        assert!(!md.contains(" 100000 ") && !md.contains("100 000") && !md.contains("extrapolat"));
    }
}
