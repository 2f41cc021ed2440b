//! Pendo client against the Pendo sandbox; expectations computed from the sandbox's dataset.

use sandboxes::pendo::data::{visitor_id, DatasetConfig};
use sandboxes::pendo::{PendoSandbox, PendoSandboxConfig};
use sandboxes::Fault;
use serde_json::json;
use shared::domain::{NpsConfig, ObjectKind};
use shared::pendo::{MetadataRow, NpsCategory, PendoApi, PendoClient, PendoConfig, PendoError};
use shared::secret::SecretString;
use std::collections::{BTreeMap, BTreeSet};

pub async fn sandbox(visitors: usize, accounts: usize) -> PendoSandbox {
    PendoSandbox::start(PendoSandboxConfig {
        dataset: DatasetConfig {
            visitors,
            accounts,
            ..Default::default()
        },
        requests_per_second: 200,
    })
    .await
    .unwrap()
}

pub fn client(sbx: &PendoSandbox, region: &str) -> PendoClient {
    let key = format!("key-{region}-{}", uuid::Uuid::new_v4().simple());
    let base = sbx.add_key(&key, region, true);
    let mut cfg = PendoConfig::new(base);
    cfg.requests_per_second = 100;
    PendoClient::new(cfg, SecretString::new(key))
}

#[tokio::test]
async fn key_check_and_wrong_region() {
    let sbx = sandbox(10, 2).await;
    let c = client(&sbx, "eu");
    assert!(c.verify_key().await.unwrap().write_access);
    let key = "eu-only-key";
    sbx.add_key(key, "eu", false);
    let wrong = PendoClient::new(
        PendoConfig::new(sbx.region_base("us")),
        SecretString::new(key),
    );
    assert!(matches!(
        wrong.verify_key().await.unwrap_err(),
        PendoError::InvalidKey
    ));
}

#[tokio::test]
async fn visitor_paging_returns_everyone_once() {
    let sbx = sandbox(1_037, 40).await;
    let c = client(&sbx, "us");
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let page = c.visitors_page(after.as_deref(), 100).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|v| v.id.clone());
        seen.extend(page);
    }
    assert_eq!(seen.len(), 1_037);
    assert_eq!(
        seen.iter().map(|v| &v.id).collect::<BTreeSet<_>>().len(),
        1_037
    );
    // First/last visit agree with the dataset's own computation.
    let truth = sbx.with(|s| s.data.visit_bounds(5));
    let v5 = seen.iter().find(|v| v.id == visitor_id(5)).unwrap();
    assert_eq!(truth.map(|t| t.0), v5.first_visit_ms);
    assert_eq!(truth.map(|t| t.1), v5.last_visit_ms);
}

#[tokio::test]
async fn daily_rollups_page_without_splitting_a_visitor_and_match_the_data() {
    let sbx = sandbox(60, 5).await;
    let c = client(&sbx, "us");
    let today = sbx.with(|s| s.data.cfg.today);
    let first = today - 30;
    let mut after: Option<String> = None;
    let mut got = BTreeMap::new();
    loop {
        // 35 rows per page: pages end mid-visitor all the time.
        let page = c
            .daily_rollups(ObjectKind::Visitor, first, 30, after.as_deref(), 35)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.id.clone());
        for r in page {
            assert!(
                got.insert((r.id.clone(), r.day), (r.minutes, r.events))
                    .is_none(),
                "row seen twice"
            );
        }
    }
    let truth: BTreeMap<(String, i32), (u32, u32)> = sbx.with(|s| {
        (0..60)
            .flat_map(|v| (first..today).map(move |d| (v, d)))
            .filter_map(|(v, d)| s.data.activity(v, d).map(|a| ((visitor_id(v), d), a)))
            .collect()
    });
    assert!(!truth.is_empty());
    assert_eq!(got, truth);
}

#[tokio::test]
async fn nps_pairs_score_and_text_and_categorises() {
    let sbx = sandbox(200, 10).await;
    let c = client(&sbx, "us");
    let cfg = sbx.with(|s| s.data.cfg.clone());
    let nps = NpsConfig {
        guide_id: cfg.nps_guide_id.clone(),
        score_poll_id: cfg.nps_score_poll.clone(),
        text_poll_id: Some(cfg.nps_text_poll.clone()),
    };
    // Small pages: visitors with two answers straddle page ends all the time.
    let mut responses = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = c
            .nps_responses(&nps, cfg.today - 365, 365, after.as_deref(), 7)
            .await
            .unwrap();
        let Some(last) = page.last().map(|r| r.visitor_id.clone()) else {
            break;
        };
        after = Some(last);
        responses.extend(page);
    }
    let expected = sbx.with(|s| {
        s.data
            .polls
            .iter()
            .filter(|p| p.poll_id == cfg.nps_score_poll)
            .count()
    });
    assert_eq!(responses.len(), expected);
    for r in &responses {
        let text = r.text.as_deref().expect("paired text");
        assert!(
            text.ends_with(&format!("score {}", r.score)),
            "{text} vs {}",
            r.score
        );
    }
    assert_eq!(NpsCategory::of(6), NpsCategory::Detractor);
    assert_eq!(NpsCategory::of(7), NpsCategory::Passive);
    assert_eq!(NpsCategory::of(8), NpsCategory::Passive);
    assert_eq!(NpsCategory::of(9), NpsCategory::Promoter);
    assert_eq!(NpsCategory::of(0), NpsCategory::Detractor);
    assert_eq!(NpsCategory::of(10), NpsCategory::Promoter);
}

#[tokio::test]
async fn metadata_write_reports_exactly_the_bad_rows() {
    let sbx = sandbox(1_300, 10).await;
    let c = client(&sbx, "us");
    let fields = c.custom_fields(ObjectKind::Visitor).await.unwrap();
    assert_eq!(
        fields.get("hubspot_lifecycle").map(String::as_str),
        Some("string")
    );
    let mut rows: Vec<MetadataRow> = (0..1_200)
        .map(|v| MetadataRow {
            id: visitor_id(v),
            values: BTreeMap::from([("hubspot_lifecycle".to_string(), json!("customer"))]),
        })
        .collect();
    rows[10]
        .values
        .insert("hubspot_lifecycle".into(), json!(42)); // wrong type
    rows[600].values.insert("no_such_field".into(), json!("x")); // unknown field
    rows[1_100].id = "ghost-visitor".into(); // unknown visitor
    let out = c.write_custom(ObjectKind::Visitor, rows).await.unwrap();
    assert_eq!(c.calls().get("pendo.metadata_write"), 3);
    assert_eq!(out.updated, 1_197);
    let failed: BTreeSet<String> = out.failed.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        failed,
        BTreeSet::from([visitor_id(10), visitor_id(600), "ghost-visitor".to_string()])
    );
}

#[tokio::test]
async fn rides_out_a_429_storm() {
    let sbx = sandbox(50, 5).await;
    let c = client(&sbx, "us");
    sbx.inject(Fault {
        kind: "429".into(),
        count: 4,
        delay_ms: 0,
        path_contains: None,
        retry_after_secs: None,
    });
    sbx.inject(Fault {
        kind: "502".into(),
        count: 1,
        delay_ms: 0,
        path_contains: None,
        retry_after_secs: None,
    });
    let page = c.visitors_page(None, 100).await.unwrap();
    assert_eq!(page.len(), 50);
    assert_eq!(c.calls().get("pendo.aggregation"), 6);
}
