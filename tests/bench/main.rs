//! Benchmark harness: `infra/scripts/bench.sh` (or `cargo run --release -p suites --bin bench`)
//! runs every scenario against the sandboxes (rate limits on) and writes BENCHMARKS.md.
//!
//! Each sync runs in a child process (this binary with `--child`), so its peak memory is the
//! worker's own; the sandboxes live in the parent.

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
mod report;
mod world;

use serde_json::Value;
use std::time::Instant;

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
        child::run(
            std::path::Path::new(&dir),
            &arg(&args, "--hubspot").expect("--hubspot"),
            &arg(&args, "--pendo").expect("--pendo"),
            &arg(&args, "--tenant").expect("--tenant"),
            arg(&args, "--today")
                .and_then(|t| t.parse().ok())
                .expect("--today"),
        )
        .await;
        return;
    }
    if let Some(n) = arg(&args, "--events").and_then(|n| n.parse().ok()) {
        print!("{}", events::section(n).await);
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
    let baseline_n: usize = arg(&args, "--baseline")
        .and_then(|s| s.parse().ok())
        .unwrap_or(250);
    let out = arg(&args, "--out").unwrap_or_else(|| "BENCHMARKS.md".into());
    let started = Instant::now();
    let mut scenarios = Vec::new();
    let mut baseline = None;
    let mut pulls = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        eprintln!("== {n} visitors: setting up the sandboxes");
        let world = World::start(*n).await;
        pulls.push(extras::pendo_pull(&world).await);
        scenarios.push(sync(&world, &format!("initial sync, {n} visitors"), 0).await);
        scenarios.push(sync(&world, &format!("daily sync, {n} visitors, 0 % changed"), 0).await);
        for pct in [1usize, 10] {
            world.next_day(pct);
            let edited = edit_contacts(&world, pct);
            let mut s = sync(
                &world,
                &format!("daily sync, {n} visitors, {pct} % active + {pct} % edited in HubSpot"),
                edited,
            )
            .await;
            s.pulled_expected = edited;
            scenarios.push(s);
        }
        // Issue 15: the weekly full re-read of the whole history, five quiet days later (the
        // daily rows above already include the trailing re-read window).
        for _ in 0..5 {
            world.next_day(0);
        }
        scenarios.push(
            sync(
                &world,
                &format!("weekly full reconciliation, {n} visitors, after 5 quiet days"),
                0,
            )
            .await,
        );
        scenarios.push(
            sync(
                &world,
                &format!("daily sync after it, {n} visitors, 0 % changed"),
                0,
            )
            .await,
        );
        if i == 0 {
            eprintln!("== naive per-record baseline on {baseline_n} visitors");
            baseline = Some(extras::naive_baseline(&world, baseline_n).await);
        }
    }
    eprintln!("== engine diff rate, webhook burst, Lambda packages");
    let diff = extras::diff_rate(200_000);
    let burst = extras::webhook_burst(10_000, 2_000).await;
    let lambdas = extras::lambda_packages().await;
    let md = report::render(
        &scenarios,
        baseline.as_ref(),
        &pulls,
        &diff,
        &burst,
        &lambdas,
        started.elapsed(),
    );
    let md = md + &events::section(sizes.first().copied().unwrap_or(10_000)).await;
    std::fs::write(&out, md).expect("write report");
    eprintln!("wrote {out} in {:.0} s", started.elapsed().as_secs_f64());
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
    let rejected = world.hubspot.with(|s| {
        s.burst.peak = 0;
        s.burst.rejected + s.search.rejected
    });
    let before_pendo: u64 = world.pendo.counts().values().sum();
    let exe = std::env::current_exe().expect("exe");
    let out = tokio::process::Command::new(exe)
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
        ])
        .output()
        .await;
    // The child talks to sandboxes served by this process's runtime: awaited, never blocked on.
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("child failed to start: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let child: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("child failed: {}", String::from_utf8_lossy(&out.stderr)));
    let after_hs = world.hubspot.counts();
    let by_endpoint: std::collections::BTreeMap<String, u64> = after_hs
        .iter()
        .map(|(k, v)| (k.clone(), v - before_hs.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    let (rejected_after, peak) = world
        .hubspot
        .with(|s| (s.burst.rejected + s.search.rejected, s.burst.peak));
    Scenario {
        name: name.to_string(),
        n: world.n,
        hubspot_requests: by_endpoint.values().sum(),
        hubspot_429: rejected_after - rejected,
        peak_window: peak,
        hubspot_by_endpoint: by_endpoint,
        pendo_requests: world.pendo.counts().values().sum::<u64>() - before_pendo,
        child,
        pulled_expected: 0,
    }
}
