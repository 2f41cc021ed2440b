//! Benchmark harness: `infra/scripts/bench.sh` (or `cargo run --release -p suites --bin bench`)
//! runs every scenario against the sandboxes (rate limits on) and writes BENCHMARKS.md.
//!
//! Each sync runs in a child process (this binary with `--child`), so its peak memory is the
//! worker's own; the sandboxes live in the parent.

mod baseline;
mod child;
mod counting_store;
mod events;
mod extras;
mod fleet;
mod fleet_report;
mod fleet_sched;
mod fleet_store;
mod fleet_tenant;
mod live;
mod prices;
mod reference;
mod report;
mod report_more;
mod sections;
mod world;

use serde_json::Value;
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use world::World;

pub struct Scenario {
    pub name: String,
    pub n: usize,
    pub child: Value,
    pub hubspot_requests: u64,
    pub hubspot_429: u64,
    pub peak_window: usize,
    pub hubspot_by_endpoint: std::collections::BTreeMap<String, u64>,
    pub pendo_requests: u64,
    pub pulled_expected: usize,
    /// Records the run failed because HubSpot kept answering 429 (the child reads them back).
    pub failed_by_429: u64,
    /// Both sandboxes against the dataset after the sync (initial and daily 1 % runs).
    pub end: Option<reference::EndCheck>,
}

/// Each child invocation's time limit (`--budget-secs`, default Lambda's 900 s maximum; 0 = no
/// limit), set once from the command line: every scenario, wherever it runs, uses the same.
static BUDGET_SECS: OnceLock<u64> = OnceLock::new();

fn budget_secs() -> u64 {
    *BUDGET_SECS.get().unwrap_or(&900)
}

/// `--floor-only`: every size runs only what the rate-floor table measures (its initial sync
/// and the next day's 1 % run), as a million-visitor tenant always does.
static FLOOR_ONLY: OnceLock<bool> = OnceLock::new();

fn floor_only() -> bool {
    *FLOOR_ONLY.get().unwrap_or(&false)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--child") {
        let dir = arg(&args, "--dir").expect("--dir");
        let (hubspot, pendo, tenant) = (
            arg(&args, "--hubspot").expect("--hubspot"),
            arg(&args, "--pendo").expect("--pendo"),
            arg(&args, "--tenant").expect("--tenant"),
        );
        child::run(child::ChildArgs {
            dir: std::path::Path::new(&dir),
            hubspot: &hubspot,
            pendo: &pendo,
            tenant: &tenant,
            today: arg(&args, "--today")
                .and_then(|t| t.parse().ok())
                .expect("--today"),
            budget: arg(&args, "--budget-secs")
                .and_then(|b| b.parse::<u64>().ok())
                .filter(|b| *b > 0)
                .map(Duration::from_secs),
        })
        .await;
        return;
    }
    if let Some(n) = arg(&args, "--events").and_then(|n| n.parse().ok()) {
        print!("{}", events::section(n).await);
        return;
    }
    if let Some(n) = arg(&args, "--diff-rate").and_then(|n| n.parse().ok()) {
        // The engine's diff alone (the "Engine alone" figure), for profiling it.
        let d = extras::diff_rate(n);
        println!(
            "{} records, {} changed, {:.2} CPU s: {:.0} records per CPU-second",
            d.records,
            d.changed,
            d.cpu_seconds,
            d.records as f64 / d.cpu_seconds
        );
        return;
    }
    if args.iter().any(|a| a == "--fleet") {
        // Issue 20's section only: the scheduler on moto and a fleet of tenants.
        fleet_report::cli(&args).await;
        return;
    }
    if args.iter().any(|a| a == "--live") {
        // Issue 18's section only: scoped webhook jobs against tenant size, and latency.
        let sizes: Vec<usize> = arg(&args, "--sizes")
            .unwrap_or_else(|| "10000,100000".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let out = arg(&args, "--out").unwrap_or_else(|| "BENCHMARKS.md".into());
        let figures = live::run(&sizes, sizes[0], *sizes.last().expect("a size")).await;
        let command = format!(
            "cargo run -p suites --bin bench -- --live --sizes {}",
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        live::write_section(&out, &live::render(&figures, &command));
        eprintln!("wrote the live-updates section of {out}");
        return;
    }
    let sizes: Vec<usize> = arg(&args, "--sizes")
        .unwrap_or_else(|| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    assert!(!sizes.is_empty(), "--sizes: no size given");
    let baseline_n: usize = arg(&args, "--baseline")
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    if let Some(b) = arg(&args, "--budget-secs").and_then(|s| s.parse().ok()) {
        let _ = BUDGET_SECS.set(b);
    }
    let _ = FLOOR_ONLY.set(args.iter().any(|a| a == "--floor-only"));
    let out = arg(&args, "--out").unwrap_or_else(|| "BENCHMARKS.md".into());
    let started = Instant::now();
    // The quick figures first, so the report can be written after every scenario of a long
    // run (a 1 M tenant takes an hour): what finished is on the page even if the rest is cut off.
    let diff_n = sizes.iter().copied().max().unwrap_or(0).max(1_000_000);
    eprintln!("== engine diff rate ({diff_n} records), webhook burst, Lambda packages");
    let diff = tokio::task::spawn_blocking(move || extras::diff_rate(diff_n))
        .await
        .expect("diff rate");
    let burst = extras::webhook_burst(10_000, 2_000).await;
    let lambdas = extras::lambda_packages().await;
    let expected = sizes.iter().map(|n| scenarios_of(*n)).sum();
    let writer = Arc::new(Writer {
        args: args.clone(),
        sizes: sizes.clone(),
        out: out.clone(),
        started,
        diff,
        burst,
        lambdas,
        expected,
        done: Mutex::new(Done::default()),
    });
    // The baseline comparison has its own sandboxes (its own portal budget) and spends its time
    // waiting on HubSpot's search limit, so it runs alongside the size loop.
    let comparison = (baseline_n > 0).then(|| {
        let w = writer.clone();
        tokio::spawn(async move {
            let c = baseline::compare(baseline_n).await;
            w.done().comparison = Some(c);
            w.write();
        })
    });
    if args.iter().any(|a| a == "--sizes-at-once") {
        // Each size is its own tenant with its own sandboxes (its own portal budget): run side
        // by side, as tenants of different sizes do, the whole run takes as long as the largest.
        let tasks: Vec<_> = sizes
            .iter()
            .map(|n| tokio::spawn(size_scenarios(*n, writer.clone())))
            .collect();
        for t in tasks {
            t.await.expect("a size's scenarios");
        }
    } else {
        for n in &sizes {
            size_scenarios(*n, writer.clone()).await;
        }
    }
    // The events figures are counts per occurrence and per member, not per tenant size: the
    // smallest size, at most 10 000, keeps a 1 M run from paying a second 1 M initial sync.
    let events_n = sizes.iter().copied().min().unwrap_or(10_000).min(10_000);
    let events = events::section(events_n).await;
    if let Some(c) = comparison {
        c.await.expect("baseline comparison");
    }
    writer.write();
    sections::replace(&out, "custom-events", &events, sections::Placement::Bottom);
    eprintln!("wrote {out} in {:.0} s", started.elapsed().as_secs_f64());
}

/// How many scenarios a tenant of `n` visitors runs (see [`size_scenarios`]).
fn scenarios_of(n: usize) -> usize {
    if full_set(n) {
        6
    } else {
        2
    }
}

/// Whether a tenant of `n` visitors runs every scenario, or only the initial and 1 % syncs.
fn full_set(n: usize) -> bool {
    n < 1_000_000 && !floor_only()
}

/// What finished so far.
#[derive(Default)]
struct Done {
    scenarios: Vec<Scenario>,
    pulls: Vec<extras::PendoPull>,
    comparison: Option<baseline::Comparison>,
}

/// Rewrites the report's block with what finished so far.
struct Writer {
    args: Vec<String>,
    sizes: Vec<usize>,
    out: String,
    started: Instant,
    diff: extras::DiffRate,
    burst: extras::Burst,
    lambdas: Vec<extras::LambdaPackage>,
    expected: usize,
    done: Mutex<Done>,
}

impl Writer {
    fn done(&self) -> std::sync::MutexGuard<'_, Done> {
        self.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, s: Scenario) {
        {
            let mut done = self.done();
            done.scenarios.push(s);
            // Sizes finish in any order side by side; the page lists them smallest first.
            done.scenarios.sort_by_key(|s| s.n);
        }
        self.write();
    }

    fn write(&self) {
        let done = self.done();
        let scenarios = &done.scenarios;
        let md = report::render(&report::Run {
            args: &self.args,
            sizes: &self.sizes,
            budget_secs: budget_secs(),
            scenarios,
            comparison: done.comparison.as_ref(),
            pulls: &done.pulls,
            diff: &self.diff,
            burst: &self.burst,
            lambdas: &self.lambdas,
            took: self.started.elapsed(),
            still_running: self.expected.saturating_sub(scenarios.len()),
        });
        sections::replace(&self.out, "bench", &md, sections::Placement::Top);
    }
}

/// The scenarios of one tenant size, on fresh sandboxes.
async fn size_scenarios(n: usize, writer: Arc<Writer>) {
    eprintln!("== {n} visitors: setting up the sandboxes");
    let world = World::start(n).await;
    let pull = extras::pendo_pull(&world).await;
    writer.done().pulls.push(pull);
    writer.add(sync(&world, &format!("initial sync, {n} visitors"), 0).await);
    // From a million visitors on (at every size with `--floor-only`), the initial sync and the
    // next day's 1 % run are what is asked for, and each quiet rerun would cost as long as its
    // read-back of a million records.
    let full = full_set(n);
    if full {
        writer.add(sync(&world, &format!("daily sync, {n} visitors, 0 % changed"), 0).await);
    }
    for pct in [1usize, 10].into_iter().filter(|p| full || *p == 1) {
        world.next_day(pct);
        let edited = edit_contacts(&world, pct);
        let mut s = sync(
            &world,
            &format!("daily sync, {n} visitors, {pct} % active + {pct} % edited in HubSpot"),
            edited,
        )
        .await;
        s.pulled_expected = edited;
        writer.add(s);
    }
    if !full {
        return;
    }
    // Issue 15: the weekly full re-read of the whole history, five quiet days later (the
    // daily rows above already include the trailing re-read window).
    for _ in 0..5 {
        world.next_day(0);
    }
    writer.add(
        sync(
            &world,
            &format!("weekly full reconciliation, {n} visitors, after 5 quiet days"),
            0,
        )
        .await,
    );
    writer.add(
        sync(
            &world,
            &format!("daily sync after it, {n} visitors, 0 % changed"),
            0,
        )
        .await,
    );
}

fn edit_contacts(world: &World, pct: usize) -> usize {
    let k = world.n * pct / 100;
    world.hubspot.with(|s| {
        let now = s.now_ms();
        let contacts = s.objects.get_mut("contacts").expect("contacts");
        for r in contacts.values_mut().step_by(100 / pct.max(1)).take(k) {
            let next = format!("Edited {now}");
            r.properties.insert("jobtitle".into(), next);
            r.properties.insert(
                "lastmodifieddate".into(),
                sandboxes::hubspot::values::iso(now),
            );
        }
    });
    k
}

async fn sync(world: &World, name: &str, _edited: usize) -> Scenario {
    eprintln!("-- {name}");
    let before_hs = world.hubspot.counts();
    let (rejected, inputs_before) = world.hubspot.with(|s| {
        s.burst.peak = 0;
        (s.burst.rejected + s.search.rejected, s.inputs_written)
    });
    let before_pendo: u64 = world.pendo.counts().values().sum();
    // BENCH_CHILD_WRAPPER runs each child under a tool (`heaptrack -o /tmp/sync`, say) to see
    // where a sync's memory or time goes.
    let wrapper: Vec<String> = std::env::var("BENCH_CHILD_WRAPPER")
        .map(|w| w.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut command = match wrapper.split_first() {
        Some((tool, rest)) => {
            let mut c = tokio::process::Command::new(tool);
            c.args(rest).arg(own_binary());
            c
        }
        None => tokio::process::Command::new(own_binary()),
    };
    // The worker's allocator settings as the template gives them (glibc reads them at start).
    let arenas = fleet::read_template().malloc_arena_max;
    let out = command
        .env("MALLOC_ARENA_MAX", arenas.to_string())
        .args([
            "--child",
            "--dir",
            &world.dir().display().to_string(),
            "--hubspot",
            &world.hubspot.base_url,
            "--pendo",
            &world.pendo.base_url,
            "--tenant",
            world.tenant.as_str(),
            "--today",
            &world.today().to_string(),
            "--budget-secs",
            &budget_secs().to_string(),
        ])
        .output()
        .await;
    // The child talks to sandboxes served by this process's runtime: awaited, never blocked on.
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("child failed to start: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The child's figures are its last line of JSON (a wrapping tool may print after it).
    let child: Value = stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
        .unwrap_or_else(|| panic!("child failed: {}", String::from_utf8_lossy(&out.stderr)));
    let after_hs = world.hubspot.counts();
    let by_endpoint: std::collections::BTreeMap<String, u64> = after_hs
        .iter()
        .map(|(k, v)| (k.clone(), v - before_hs.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    let (rejected_after, peak, inputs_after) = world.hubspot.with(|s| {
        (
            s.burst.rejected + s.search.rejected,
            s.burst.peak,
            s.inputs_written,
        )
    });
    // Initial and daily syncs (not the quiet reruns) are checked against the dataset.
    let end = (name.starts_with("initial") || name.contains("1 % active")).then(|| {
        eprintln!("   checking both sandboxes against the dataset");
        let mut c = reference::check(world);
        c.inputs_written = inputs_after - inputs_before;
        c
    });
    Scenario {
        name: name.to_string(),
        n: world.n,
        hubspot_requests: by_endpoint.values().sum(),
        hubspot_429: rejected_after - rejected,
        peak_window: peak,
        hubspot_by_endpoint: by_endpoint,
        pendo_requests: world.pendo.counts().values().sum::<u64>() - before_pendo,
        failed_by_429: child["failed_by_429"].as_u64().unwrap_or(0),
        child,
        pulled_expected: 0,
        end,
    }
}

/// This process's own binary, for the child syncs: `/proc/self/exe` stays this very file even
/// when a rebuild replaces it on disk during an hour-long run (its path then no longer exists,
/// and children started from it would run other code).
fn own_binary() -> std::path::PathBuf {
    let proc_exe = std::path::PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        proc_exe
    } else {
        std::env::current_exe().expect("exe")
    }
}
