//! `bench --fleet`: runs the scheduler measurements and the fleet, and writes the "Many
//! tenants" section of BENCHMARKS.md. Every sentence is computed from the measured figures.

use chrono::Utc;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

use crate::fleet::{self, Fleet, TenantResult};
use crate::fleet_sched::{self, CallCounter, FanOut};

const HEADER: &str = "## Many tenants";
/// HubSpot's burst budget per portal and window, as the sandbox enforces it.
const HUBSPOT_BURST: usize = 110;
/// DynamoDB's per-partition throughput ceilings.
const PARTITION_RCU: u64 = 3000;
const PARTITION_WCU: u64 = 1000;
/// DynamoDB's item size limit.
const ITEM_LIMIT: usize = 400 * 1024;

pub async fn cli(args: &[String]) {
    let tenants: usize = crate::arg(args, "--fleet")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let sched: Vec<usize> = crate::arg(args, "--fleet-scheduler")
        .unwrap_or_else(|| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let out = crate::arg(args, "--out").unwrap_or_else(|| "BENCHMARKS.md".into());
    let started = Instant::now();
    // The scheduler first, on its own (moto serves one request at a time, and a fleet running
    // beside it starves its calls); MOTO_SCHEDULER_ENDPOINT may name a moto of its own.
    let moto = suites::moto_endpoint();
    let sched_moto = std::env::var("MOTO_SCHEDULER_ENDPOINT").unwrap_or_else(|_| moto.clone());
    let sched_counter = CallCounter::start(&sched_moto).await;
    let mut fanouts = Vec::new();
    for n in &sched {
        eprintln!("== scheduler fan-out on moto, {n} tenants");
        fanouts.push(fleet_sched::measure(&sched_counter, *n).await);
    }
    let setting = "before the fleet below, alone";
    let deadline = crate::arg(args, "--fleet-deadline-s")
        .and_then(|s| s.parse().ok())
        .map(std::time::Duration::from_secs);
    eprintln!("== fleet of {tenants} tenants");
    let counter = CallCounter::start(&moto).await;
    let fleet = fleet::run(&counter, tenants, deadline).await;
    let command = format!(
        "cargo run{} -p suites --bin bench -- --fleet {tenants} --fleet-scheduler {}{}",
        if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        },
        sched
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(","),
        deadline.map_or(String::new(), |d| format!(
            " --fleet-deadline-s {}",
            d.as_secs()
        ))
    );
    let md = render(
        &fanouts,
        &fleet,
        &command,
        setting,
        started.elapsed().as_secs_f64(),
    );
    write_section(&out, &md);
    eprintln!(
        "wrote the many-tenants section of {out} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// Replaces the section from its header to the next `## ` header, or appends it.
pub fn write_section(path: &str, section: &str) {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let start = if current.starts_with(HEADER) {
        Some(0)
    } else {
        current.find(&format!("\n{HEADER}\n")).map(|i| i + 1)
    };
    let next = match start {
        Some(a) => {
            let body = a + HEADER.len();
            let end = current[body..]
                .find("\n## ")
                .map_or(current.len(), |b| body + b + 1);
            format!("{}{section}{}", &current[..a], &current[end..])
        }
        None => format!("{}\n\n{section}", current.trim_end()),
    };
    std::fs::write(path, next).expect("write BENCHMARKS.md");
}

fn pct<T: Copy + PartialOrd>(v: &[T], p: f64) -> T {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let k = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize - 1;
    s[k.min(s.len() - 1)]
}

fn calls(c: &BTreeMap<String, u64>, service: &str) -> (u64, String) {
    let of: Vec<_> = c
        .iter()
        .filter(|(k, _)| k.starts_with(service))
        .map(|(k, v)| (k.trim_start_matches(service).trim_start_matches('.'), *v))
        .collect();
    let total = of.iter().map(|(_, v)| v).sum();
    let detail = of
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    (total, detail)
}

fn scheduler_part(md: &mut String, fanouts: &[FanOut], setting: &str) {
    let _ = writeln!(md, "### Scheduler fan-out on moto\n");
    let _ = writeln!(md, "Measured {setting}. `shared::scheduler::fan_out` once over N enabled tenants in a fresh DynamoDB table, into a fresh SQS queue, through the real adapters (`DynamoStore`, `SqsQueue`), then once more for the same scheduled time. AWS calls are counted on the wire by a forwarding proxy in front of moto (one per HTTP request, by `X-Amz-Target`). The tenants were created beforehand with `BatchWriteItem`s of the repo's own encoding (not counted; {}).\n", fanouts.iter().map(|f| format!("{} in {:.0} s", f.tenants, f.create_s)).collect::<Vec<_>>().join(", "));
    let _ = writeln!(md, "| tenants | fan-out wall s | jobs enqueued | DynamoDB calls | SQS calls | second fan-out: wall s / enqueued / already enqueued | second fan-out calls (DynamoDB + SQS) | messages in queue after both |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for f in fanouts {
        let (d, dd) = calls(&f.first_calls, "DynamoDB");
        let (s, sd) = calls(&f.first_calls, "SQS");
        let (d2, _) = calls(&f.second_calls, "DynamoDB");
        let (s2, _) = calls(&f.second_calls, "SQS");
        let _ = writeln!(
            md,
            "| {} | {:.1} | {} | {d} ({dd}) | {s} ({sd}) | {:.1} / {} / {} | {d2} + {s2} | {} |",
            f.tenants,
            f.first_s,
            f.first.enqueued,
            f.second_s,
            f.second.enqueued,
            f.second.already_enqueued,
            f.queued
        );
    }
    md.push('\n');
    for f in fanouts {
        let (d, _) = calls(&f.first_calls, "DynamoDB");
        let (s, _) = calls(&f.first_calls, "SQS");
        let n = f.tenants as f64;
        let idempotent = if f.second.enqueued == 0 && f.queued == f.first.enqueued {
            "so the repeated schedule added nothing".to_string()
        } else {
            format!(
                "NOT idempotent: {} extra jobs, {} messages queued",
                f.second.enqueued, f.queued
            )
        };
        let _ = writeln!(md, "- {} tenants: {:.2} DynamoDB and {:.2} SQS calls per tenant, {:.1} ms of fan-out per tenant ({:.0} tenants/s); the second fan-out enqueued {} of {} jobs, {idempotent}.", f.tenants, d as f64 / n, s as f64 / n, f.first_s * 1e3 / n, n / f.first_s, f.second.enqueued, f.first.enqueued);
    }
    if let [a, .., b] = fanouts {
        let _ = writeln!(md, "- From {} to {} tenants ({:.0}×) the fan-out's wall time grew {:.1}× ({:.1} s → {:.1} s). It is sequential (one page of 100 tenants, then per tenant a config read and a conditional marker write, then the page's jobs in batches of 10), so its time is calls × moto's per-call latency; moto answers one request at a time, so this is a ceiling on the cost of the shape, not DynamoDB's latency.", a.tenants, b.tenants, b.tenants as f64 / a.tenants as f64, b.first_s / a.first_s, a.first_s, b.first_s);
    }
    md.push('\n');
}

fn fleet_part(md: &mut String, f: &Fleet) {
    let t = &f.template;
    let r = &f.results;
    let n = f.sizes.len();
    let total: usize = f.sizes.iter().sum();
    let _ = writeln!(md, "### Worker fleet\n");
    let _ = writeln!(md, "{n} tenants, each with its own HubSpot portal and Pendo subscription (sandboxes with HubSpot's real limits: tenants share nothing), seeded like the single-tenant runs above (a contact per visitor and a company per account, joined by id; config with both pulls and NPS). Sizes: Pareto (α = {}, minimum {}, seed {}) clipped to {}: min {} / median {} / p95 {} / max {} visitors, {} in total. Every tenant's job is its **initial sync** (a full read and push of all its records), the worst day a tenant has.\n", fleet::PARETO_ALPHA, fleet::MIN_VISITORS, fleet::SEED, fleet::MAX_VISITORS, pct(&f.sizes, 0.0), pct(&f.sizes, 50.0), pct(&f.sizes, 95.0), pct(&f.sizes, 100.0), total);
    let _ = writeln!(md, "The jobs come from `fan_out` into an SQS queue on moto (DynamoDB tenants table on moto too, real adapters; VisibilityTimeout {} s as in the template) and are consumed as the template's event source mapping does: {} concurrent pollers (MaximumConcurrency), each receiving up to {} messages (BatchSize) and handling them in order in one \"invocation\" with a {} s deadline (Timeout; MemorySize {} MB; the worker checkpoints and continues through the queue when its budget runs low), deleting the handled ones. Values read from `template.yaml`. Each job runs `shared::worker::Worker`. Each tenant's sync state is an embedded SQLite store (moto cannot hold millions of items here) behind a ledger that counts DynamoDB capacity units per partition key as the DynamoDB adapter's items would use them. A tenant's sandboxes are started when its first job is received and dropped after its run (harness time, reported below), so at most the tenants being synced are alive.\n", t.visibility_timeout_s, t.max_concurrency, t.batch_size, t.timeout_s, t.memory_mb);
    let ok: Vec<&TenantResult> = r.iter().filter(|x| x.outcome == "Succeeded").collect();
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for x in r {
        *outcomes.entry(x.outcome.as_str()).or_default() += 1;
    }
    let visitors_done: usize = ok.iter().map(|x| x.n).sum();
    let waits: Vec<f64> = r.iter().map(|x| x.wait_s).collect();
    let syncs: Vec<f64> = r.iter().map(|x| x.sync_s).collect();
    let setups: Vec<f64> = r.iter().map(|x| x.setup_s).collect();
    let peaks: Vec<usize> = r.iter().map(|x| x.hubspot_peak).collect();
    let at_limit = peaks.iter().filter(|p| **p >= HUBSPOT_BURST).count();
    let over = peaks.iter().filter(|p| **p > HUBSPOT_BURST).count();
    let r429: u64 = r.iter().map(|x| x.hubspot_429).sum();
    let failed: u64 = r.iter().map(|x| x.failed).sum();
    let continued = r.iter().filter(|x| x.invocations > 1).count();
    let hours = f.wall_s / 3600.0;
    let (cd, cdd) = calls(&f.consume_calls, "DynamoDB");
    let (cs, csd) = calls(&f.consume_calls, "SQS");
    let (fd, _) = calls(&f.fanout_calls, "DynamoDB");
    let (fs, _) = calls(&f.fanout_calls, "SQS");
    if let (Some(left), Some(d)) = (f.not_started, f.deadline_s) {
        let _ = writeln!(md, "**This run was cut at its deadline** (`--fleet-deadline-s {d:.0}`): after {d:.0} s no invocation took a new job. {} of {n} tenants ({} visitors) finished; {left} were never started and were still in the queue, so their wait is at least {d:.0} s and is not in the wait figures below; {} had started but were waiting for their continuation (their invocation's Timeout came first) and are not in the figures either. Throughput and per-tenant figures are over the tenants that finished.\n", r.len(), r.iter().map(|x| x.n).sum::<usize>(), f.cut_continuing);
    }
    if f.lost > 0 {
        let _ = writeln!(md, "**{} of {n} tenants never got a result**: the queue had drained (nothing visible, in flight or delayed) with no invocation running, so their first job or a continuation was lost between the queue and the worker. The figures below are over the tenants that finished.\n", f.lost);
    }
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    let rows: Vec<(String, String)> = vec![
        ("fan-out into the fleet's queue".into(), format!("{:.1} s, {} jobs, {fd} DynamoDB + {fs} SQS calls", f.fanout_s, f.fanout.enqueued)),
        ("wall time, fan-out start to last tenant finished".into(), format!("{:.0} s ({:.1} min)", f.wall_s, f.wall_s / 60.0)),
        ("outcomes".into(), outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")),
        ("tenants finished per hour".into(), format!("{:.0}", ok.len() as f64 / hours)),
        ("visitors synced per hour".into(), format!("{:.0}", visitors_done as f64 / hours)),
        ("wait from enqueue to start: median / p95 / max".into(), format!("{:.0} / {:.0} / {:.0} s", pct(&waits, 50.0), pct(&waits, 95.0), pct(&waits, 100.0))),
        ("sync time per tenant: median / p95 / max".into(), format!("{:.1} / {:.1} / {:.1} s", pct(&syncs, 50.0), pct(&syncs, 95.0), pct(&syncs, 100.0))),
        ("invocations / jobs they carried".into(), format!("{} / {} ({:.2} jobs per invocation)", f.invocations, f.jobs, f.jobs as f64 / f.invocations.max(1) as f64)),
        ("runs that needed a continuation".into(), continued.to_string()),
        ("jobs received after their tenant's run had ended (deleted, not run again)".into(), f.late_jobs.to_string()),
        ("harness: sandbox start + seed per tenant, median / max / sum".into(), format!("{:.2} / {:.2} / {:.1} s (inside the wall time and the waits)", pct(&setups, 50.0), pct(&setups, 100.0), setups.iter().sum::<f64>())),
        ("tenants alive at once, peak".into(), f.alive_peak.to_string()),
        ("HubSpot requests per 10 s window, per portal: median / max of each portal's peak".into(), format!("{} / {} (budget {HUBSPOT_BURST}); {at_limit} portals reached the budget, {over} went over", pct(&peaks, 50.0), pct(&peaks, 100.0))),
        ("HubSpot 429s, all portals".into(), r429.to_string()),
        ("HubSpot / Pendo requests, all tenants".into(), format!("{} / {}", r.iter().map(|x| x.hubspot_requests).sum::<u64>(), r.iter().map(|x| x.pendo_requests).sum::<u64>())),
        ("records pushed / pulled / failed".into(), format!("{} / {} / {failed}", r.iter().map(|x| x.pushed).sum::<u64>(), r.iter().map(|x| x.pulled).sum::<u64>())),
        ("AWS calls on moto while consuming (the pollers long-poll 1 s)".into(), format!("SQS {cs} ({csd}); DynamoDB {cd}{}", if cdd.is_empty() { String::new() } else { format!(" ({cdd})") })),
        ("peak RSS of the whole harness (sandboxes included)".into(), format!("{} MB", f.peak_rss_kb / 1024)),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    md.push('\n');
    let last_start = r.iter().map(|x| x.wait_s).fold(0.0_f64, f64::max);
    let starved = ok.len() < r.len();
    let _ = writeln!(md, "- {} of the {} tenants that ran finished a successful run{}. The longest wait from enqueue to start was {:.0} s, {:.0} % of the fleet's wall time: with {} invocations of up to {} jobs at a time the queue drains at the fleet's pace, so the wait is set by the position in the queue (and by the jobs ahead in the same batch: an invocation handles its up to {} jobs one after the other), and every tenant that ran started within the run{}.", ok.len(), r.len(), if starved { " — the others did NOT" } else { "" }, last_start, 100.0 * last_start / f.wall_s, t.max_concurrency, t.batch_size, t.batch_size, if starved { " (except those listed in outcomes)" } else { ": none starved" });
    let _ = writeln!(
        md,
        "- Per-portal budgets: {}",
        if over == 0 && r429 == 0 {
            format!("no portal went over {HUBSPOT_BURST} requests in any 10 s window and no request got a 429, with up to {} tenants syncing at once (each portal has its own budget; a tenant's pace is set by its own portal).", t.max_concurrency)
        } else {
            format!("{over} portals went over {HUBSPOT_BURST} requests in a 10 s window and {r429} requests got a 429.")
        }
    );
    let _ = writeln!(
        md,
        "- Failed records: {failed}{}.\n",
        if failed == 0 { "" } else { " (should be 0)" }
    );
}

fn dynamo_part(md: &mut String, f: &Fleet) {
    let _ = writeln!(md, "### DynamoDB item and partition sizes (fleet run)\n");
    let largest = f.ledger.largest.lock().unwrap();
    let kind = largest.sk.split('#').take(2).collect::<Vec<_>>().join("#");
    let limit = ITEM_LIMIT;
    let _ = writeln!(md, "- Largest item written: {} bytes (sort key `{kind}#…`), {:.2} % of DynamoDB's {} KB item limit; {}.", largest.bytes, 100.0 * largest.bytes as f64 / limit as f64, limit / 1024, if largest.bytes < limit { "no item over the limit" } else { "OVER the limit" });
    let parts = f.ledger.partitions.lock().unwrap();
    struct P<'a> {
        pk: &'a str,
        r: u64,
        w: u64,
        busy: usize,
        peak_r: u64,
        peak_w: u64,
    }
    let ps: Vec<P> = parts
        .iter()
        .map(|(pk, p)| P {
            pk,
            r: p.read_units,
            w: p.write_units,
            busy: p.by_second.len().max(1),
            peak_r: p.by_second.values().map(|v| v.0).max().unwrap_or(0),
            peak_w: p.by_second.values().map(|v| v.1).max().unwrap_or(0),
        })
        .collect();
    let Some(big) = ps.iter().max_by_key(|p| p.r + p.w) else {
        return;
    };
    let hot_w = ps.iter().max_by_key(|p| p.peak_w).expect("a partition");
    let hot_r = ps.iter().max_by_key(|p| p.peak_r).expect("a partition");
    let label = |pk: &str| {
        if pk.starts_with("T#") {
            "one tenant's partition `T#<tenant>`".to_string()
        } else {
            format!("`{pk}`")
        }
    };
    let _ = writeln!(md, "- {} partition keys were used (partition key = `pk`, as the adapter writes it). The largest by units consumed is {}: {} read and {} write units over {} busy seconds, i.e. on average {:.0} RRU/s and {:.0} WRU/s while busy, peak {} RRU and {} WRU in one second, against DynamoDB's per-partition {PARTITION_RCU} RCU / {PARTITION_WCU} WCU per second.", ps.len(), label(big.pk), big.r, big.w, big.busy, big.r as f64 / big.busy as f64, big.w as f64 / big.busy as f64, big.peak_r, big.peak_w);
    let _ = writeln!(
        md,
        "- Hottest second of any partition: {} WRU/s ({}) and {} RRU/s ({}); {}.",
        hot_w.peak_w,
        label(hot_w.pk),
        hot_r.peak_r,
        label(hot_r.pk),
        if hot_w.peak_w <= PARTITION_WCU && hot_r.peak_r <= PARTITION_RCU {
            "no partition went over its per-second ceiling: no hot partition".to_string()
        } else {
            format!("OVER a per-partition ceiling ({} partitions had a second over {PARTITION_WCU} WRU, {} over {PARTITION_RCU} RRU)", ps.iter().filter(|p| p.peak_w > PARTITION_WCU).count(), ps.iter().filter(|p| p.peak_r > PARTITION_RCU).count())
        }
    );
    if let Some(w) = f.results.iter().max_by_key(|x| x.usage.write_units) {
        let floor = w.usage.write_units as f64 / PARTITION_WCU as f64;
        let _ = writeln!(md, "- These rates are the load the worker offered (the embedded store takes a batch faster than DynamoDB would). Against a real table a partition is throttled at {PARTITION_WCU} WCU/s and the adapter retries unprocessed batch items (8 retries with exponential backoff): the tenant with the most writes ({} visitors, {} WRU) needs at least {:.0} s of writes at that ceiling, against its measured sync time of {:.0} s{}.", w.n, w.usage.write_units, floor, w.sync_s, if floor > w.sync_s { ", so the partition ceiling, not HubSpot, would set its pace" } else { ", so the ceiling would stretch bursts but not the run" });
    }
    if let Some(t) = ps.iter().find(|p| p.pk == "TENANTS") {
        let _ = writeln!(md, "- The one partition all tenants share, `TENANTS` (the tenant records, read by every job): {} read and {} write units in the worker's runs, peak {} RRU/s and {} WRU/s.", t.r, t.w, t.peak_r, t.peak_w);
    }
    let _ = writeln!(md, "- Units are per second of wall time on this machine, where the syncs are slower than in Lambda (2 shared cores for {} concurrent syncs and all sandboxes); each tenant writes only its own partition key (`T#<tenant>`), so more tenants do not make any partition hotter: `TENANTS` is the only partition they share.\n", f.template.max_concurrency);
}

fn cost_part(md: &mut String, f: &Fleet) {
    use crate::prices::*;
    let r: Vec<&TenantResult> = f
        .results
        .iter()
        .filter(|x| x.outcome == "Succeeded")
        .collect();
    if r.is_empty() {
        return;
    }
    let _ = writeln!(md, "### Cost per tenant-day, fleet\n");
    let _ = writeln!(md, "The cost model of the table above (`tests/bench/prices.rs`: Lambda arm64 at {WORKER_GB} GB, DynamoDB on-demand units from the ledger, 3 SQS requests and 3 Secrets Manager calls per job), per tenant of the fleet run, whose day is its initial sync (the worst day). The scheduler's share is left out: {:.2} DynamoDB and {:.2} SQS calls per tenant per day (fan-out above).\n", calls(&f.fanout_calls, "DynamoDB").0 as f64 / f.sizes.len() as f64, calls(&f.fanout_calls, "SQS").0 as f64 / f.sizes.len() as f64);
    let _ = writeln!(
        md,
        "| per tenant | median | p95 | max | fleet total |\n|---|---|---|---|---|"
    );
    let visitors: Vec<usize> = r.iter().map(|x| x.n).collect();
    let gbs: Vec<f64> = r.iter().map(|x| x.usage.busy_seconds * WORKER_GB).collect();
    let wru: Vec<u64> = r.iter().map(|x| x.usage.write_units).collect();
    let rru: Vec<u64> = r.iter().map(|x| x.usage.read_units).collect();
    let usd: Vec<f64> = r.iter().map(|x| x.usage.dollars()).collect();
    let _ = writeln!(
        md,
        "| visitors | {} | {} | {} | {} |",
        pct(&visitors, 50.0),
        pct(&visitors, 95.0),
        pct(&visitors, 100.0),
        visitors.iter().sum::<usize>()
    );
    let _ = writeln!(
        md,
        "| Lambda GB-s | {:.1} | {:.1} | {:.1} | {:.0} |",
        pct(&gbs, 50.0),
        pct(&gbs, 95.0),
        pct(&gbs, 100.0),
        gbs.iter().sum::<f64>()
    );
    let _ = writeln!(
        md,
        "| DynamoDB write units | {} | {} | {} | {} |",
        pct(&wru, 50.0),
        pct(&wru, 95.0),
        pct(&wru, 100.0),
        wru.iter().sum::<u64>()
    );
    let _ = writeln!(
        md,
        "| DynamoDB read units | {} | {} | {} | {} |",
        pct(&rru, 50.0),
        pct(&rru, 95.0),
        pct(&rru, 100.0),
        rru.iter().sum::<u64>()
    );
    let _ = writeln!(
        md,
        "| **$ per tenant-day** | **${:.4}** | **${:.4}** | **${:.4}** | **${:.2}** |\n",
        pct(&usd, 50.0),
        pct(&usd, 95.0),
        pct(&usd, 100.0),
        usd.iter().sum::<f64>()
    );
    let _ = writeln!(md, "Lambda GB-s use each run's busy seconds measured here, with {} syncs sharing 2 cores, so they are higher than a run alone in Lambda would bill.\n", f.template.max_concurrency);
}

pub fn render(
    fanouts: &[FanOut],
    fleet: &Fleet,
    command: &str,
    setting: &str,
    run_s: f64,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{HEADER}\n");
    let _ = writeln!(md, "Issue 20. Measured {} with `{command}` ({} build, moto from `infra/scripts/moto.sh start` as `MOTO_ENDPOINT`), on {}; the whole run took {:.0} s. On moto: the tenants table, the fan-out's dedupe markers and the job queue (DynamoDB and SQS through the real adapters). Embedded: each tenant's sync state (SQLite, with DynamoDB-equivalent units counted per partition key).\n", Utc::now().format("%Y-%m-%d"), if cfg!(debug_assertions) { "debug" } else { "release" }, crate::report::machine(), run_s);
    scheduler_part(&mut md, fanouts, setting);
    fleet_part(&mut md, fleet);
    dynamo_part(&mut md, fleet);
    cost_part(&mut md, fleet);
    md
}
