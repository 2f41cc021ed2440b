//! The demo's readable report.

use sandboxes::hubspot::HubSpotSandbox;
use sandboxes::pendo::PendoSandbox;
use shared::domain::{RunRecord, TenantId};
use shared::store::repo::Repo;

pub struct Window {
    pub seconds: f64,
    pub hubspot_requests: u64,
    pub rejected_429: u64,
}

pub async fn run_report(
    title: &str,
    repo: &Repo,
    tenant: &TenantId,
    (run, w): &(RunRecord, Window),
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let c = &run.counts;
    println!(
        "\n-- {title}: {:?} in {:.1} s ({} invocation(s))",
        run.status, w.seconds, run.invocations
    );
    println!(
        "   pushed {} | pulled {} | unchanged {} | failed {} | retried {} | resolved {} | ambiguous {} | unmatched {}",
        c.pushed, c.pulled, c.unchanged, c.failed, c.retried, c.resolved, c.ambiguous, c.unmatched
    );
    let hs: Vec<String> = run
        .api_calls
        .iter()
        .filter(|(k, _)| k.starts_with("hubspot."))
        .map(|(k, v)| format!("{}={v}", &k[8..]))
        .collect();
    let pd: Vec<String> = run
        .api_calls
        .iter()
        .filter(|(k, _)| k.starts_with("pendo."))
        .map(|(k, v)| format!("{}={v}", &k[6..]))
        .collect();
    println!(
        "   HubSpot calls: {} (sandbox saw {}, 429s: {})",
        hs.join(" "),
        w.hubspot_requests,
        w.rejected_429
    );
    println!("   Pendo calls:   {}", pd.join(" "));
    if w.seconds > 0.0 {
        println!(
            "   HubSpot rate: {:.1} req/10 s of a 110 req/10 s budget",
            w.hubspot_requests as f64 / w.seconds * 10.0
        );
    }
    let errors = repo.list_run_errors(tenant, &run.run_id, None, 5).await?;
    if !errors.items.is_empty() {
        println!(
            "   record errors ({} stored, first {}):",
            run.errors_recorded,
            errors.items.len()
        );
        for e in errors.items {
            println!(
                "     {:?} {:?} {}{}: {}",
                e.direction,
                e.object,
                e.object_id,
                e.field.map(|f| format!(" [{f}]")).unwrap_or_default(),
                e.message
            );
        }
    }
    Ok(())
}

/// A few linked records with what Pendo has and what HubSpot now shows.
pub fn side_by_side(hubspot: &HubSpotSandbox, pendo: &PendoSandbox, n: usize) {
    println!("\n   sample records (HubSpot contact ← Pendo usage | Pendo metadata ← HubSpot):");
    let samples: Vec<(String, std::collections::BTreeMap<String, String>)> = hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .filter(|r| r.properties.contains_key("pendo_latest_nps_score"))
            .take(n)
            .map(|r| {
                (
                    r.properties["pendo_visitor_id"].clone(),
                    r.properties.clone(),
                )
            })
            .collect()
    });
    for (vid, p) in samples {
        let get = |k: &str| p.get(k).cloned().unwrap_or_else(|| "—".into());
        let custom = pendo.with(|s| {
            s.data
                .custom
                .get(&("visitor".to_string(), vid.clone()))
                .cloned()
                .unwrap_or_default()
        });
        println!(
            "   {vid} <{}>: days active {} · time on app {} min · trending {} % · NPS {} ({}) on {} · last visit {}",
            get("email"),
            get("pendo_days_active"),
            get("pendo_time_on_app"),
            get("pendo_usage_trending"),
            get("pendo_latest_nps_score"),
            get("pendo_latest_nps_category"),
            get("pendo_latest_nps_date"),
            get("pendo_last_visit"),
        );
        println!(
            "      Pendo custom metadata: jobtitle={} lifecycle={}   (HubSpot: {} / {})",
            custom
                .get("hubspot_jobtitle")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            custom
                .get("hubspot_lifecycle")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            get("jobtitle"),
            get("lifecyclestage"),
        );
    }
}
