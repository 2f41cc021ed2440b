//! HubSpot client against the HubSpot sandbox.

use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::Fault;
use shared::domain::ObjectKind;
use shared::hubspot::oauth::{self, OAuthApp};
use shared::hubspot::paths::Paths;
use shared::hubspot::{
    Auth, HubSpotApi, HubSpotApiVersion, HubSpotClient, HubSpotConfig, HubSpotError, SearchCursor,
    WriteInput,
};
use shared::secret::SecretString;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub fn app(sbx: &HubSpotSandbox) -> OAuthApp {
    let cfg = sbx.with(|s| s.cfg.clone());
    OAuthApp {
        client_id: cfg.client_id,
        client_secret: SecretString::new(cfg.client_secret),
        redirect_uri: "http://localhost/callback".into(),
    }
}

pub fn client(sbx: &HubSpotSandbox, tweak: impl FnOnce(&mut HubSpotConfig)) -> HubSpotClient {
    let mut cfg = HubSpotConfig {
        api_base: sbx.base_url.clone(),
        ..Default::default()
    };
    tweak(&mut cfg);
    HubSpotClient::new(
        cfg,
        Auth::OAuth {
            app: app(sbx),
            refresh_token: SecretString::new(sbx.issue_refresh_token()),
        },
    )
}

fn input(key: &str, props: &[(&str, &str)]) -> WriteInput {
    WriteInput {
        key: key.into(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[tokio::test]
async fn oauth_code_exchange_introspection_and_refresh_ahead_of_expiry() {
    let sbx = HubSpotSandbox::start(HubSpotSandboxConfig {
        token_lifetime_secs: 61,
        ..Default::default()
    })
    .await
    .unwrap();
    let app = app(&sbx);
    let url = oauth::authorize_url(&format!("{}/oauth/authorize", sbx.base_url), &app, "st-1");
    assert!(url.contains("crm.objects.contacts.write") && url.contains("state=st-1"));
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let code = url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let tokens = oauth::exchange_code(&sbx.base_url, Default::default(), &app, &code)
        .await
        .unwrap();
    assert_eq!(tokens.hub_id, Some(4_242_424));
    let hub = oauth::introspect_hub_id(
        &sbx.base_url,
        Default::default(),
        &app,
        &tokens.access_token,
    )
    .await
    .unwrap();
    assert_eq!(hub, 4_242_424);
    // A code works once.
    assert!(
        oauth::exchange_code(&sbx.base_url, Default::default(), &app, &code)
            .await
            .is_err()
    );

    // With a 61 s lifetime the client refreshes after ~1 s (a minute ahead), before any 401.
    let c = HubSpotClient::new(
        HubSpotConfig {
            api_base: sbx.base_url.clone(),
            ..Default::default()
        },
        Auth::OAuth {
            app: app.clone(),
            refresh_token: tokens.refresh_token.clone(),
        },
    );
    c.list_properties(ObjectKind::Visitor).await.unwrap();
    c.list_properties(ObjectKind::Visitor).await.unwrap();
    assert_eq!(
        c.calls().get("hubspot.oauth"),
        1,
        "token cached between calls"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    c.list_properties(ObjectKind::Visitor).await.unwrap();
    assert_eq!(
        c.calls().get("hubspot.oauth"),
        2,
        "refreshed ahead of expiry"
    );
    assert_eq!(
        sbx.count("GET /crm/properties/2026-03/contacts"),
        3,
        "no 401 retries"
    );
}

#[tokio::test]
async fn revoked_refresh_token_is_a_typed_error_without_retry_loop() {
    let sbx = HubSpotSandbox::start(Default::default()).await.unwrap();
    let c = HubSpotClient::new(
        HubSpotConfig {
            api_base: sbx.base_url.clone(),
            ..Default::default()
        },
        Auth::OAuth {
            app: app(&sbx),
            refresh_token: SecretString::new("revoked-or-never-issued"),
        },
    );
    let e = c.list_properties(ObjectKind::Visitor).await.unwrap_err();
    assert!(matches!(e, HubSpotError::RefreshRevoked), "{e}");
    assert!(e.needs_attention());
    assert_eq!(c.calls().get("hubspot.oauth"), 1);
}

#[tokio::test]
async fn schema_setup_is_idempotent_and_reports_wrong_types() {
    let sbx = HubSpotSandbox::start(Default::default()).await.unwrap();
    let c = client(&sbx, |_| {});
    let first = c.ensure_schema(ObjectKind::Visitor).await.unwrap();
    assert!(first.group_created);
    assert_eq!(first.created.len(), 10);
    let before = c.calls().get("hubspot.schema");
    let second = c.ensure_schema(ObjectKind::Visitor).await.unwrap();
    assert!(second.created.is_empty() && !second.group_created);
    assert_eq!(
        c.calls().get("hubspot.schema") - before,
        1,
        "one list call when nothing is missing"
    );
    let unique = sbx.with(|s| s.properties["contacts"]["pendo_visitor_id"].has_unique_value);
    assert!(unique);

    // A pre-existing property of the wrong type is reported, not overwritten.
    sbx.with(|s| {
        let mut p = sandboxes::hubspot::values::PropertyDef::simple(
            "pendo_days_active",
            "string",
            "text",
            "companyinformation",
        );
        p.label = "legacy".into();
        s.properties
            .get_mut("companies")
            .unwrap()
            .insert(p.name.clone(), p);
    });
    let report = c.ensure_schema(ObjectKind::Account).await.unwrap();
    assert_eq!(
        report.wrong_type,
        vec![("pendo_days_active".to_string(), "string".to_string())]
    );
    assert_eq!(
        sbx.with(|s| s.properties["companies"]["pendo_days_active"].kind.clone()),
        "string"
    );
}

#[tokio::test]
async fn upsert_chunks_by_100_and_surfaces_exactly_the_failed_records() {
    let sbx = HubSpotSandbox::start(Default::default()).await.unwrap();
    let c = client(&sbx, |_| {});
    c.ensure_schema(ObjectKind::Visitor).await.unwrap();
    let inputs: Vec<WriteInput> = (0..250)
        .map(|i| {
            input(
                &format!("v{i:04}"),
                &[("pendo_days_active", &i.to_string())],
            )
        })
        .collect();
    let before = c.calls().get("hubspot.write");
    let out = c
        .upsert(ObjectKind::Visitor, "pendo_visitor_id", inputs)
        .await
        .unwrap();
    assert_eq!(c.calls().get("hubspot.write") - before, 3);
    assert_eq!(out.ok.len(), 250);
    assert!(out.failed.is_empty());
    assert_eq!(sbx.with(|s| s.objects["contacts"].len()), 250);

    // Three bad values among 120 updates: exactly those three fail, the rest are written.
    let mut updates: Vec<WriteInput> = out.ok[..120]
        .iter()
        .map(|(_, id)| input(id, &[("pendo_latest_nps_date", "2026-11-01")]))
        .collect();
    let bad: BTreeSet<String> = [5usize, 50, 110]
        .iter()
        .map(|i| updates[*i].key.clone())
        .collect();
    for i in [5usize, 50, 110] {
        updates[i]
            .properties
            .insert("pendo_latest_nps_date".into(), "1762000000123".into());
    }
    let out = c.update(ObjectKind::Visitor, updates).await.unwrap();
    assert_eq!(out.ok.len(), 117);
    let failed: BTreeSet<String> = out.failed.iter().map(|f| f.key.clone()).collect();
    assert_eq!(failed, bad);
    assert!(out
        .failed
        .iter()
        .all(|f| f.property.as_deref() == Some("pendo_latest_nps_date")));
    assert!(
        out.failed[0].message.contains("midnight"),
        "{}",
        out.failed[0].message
    );
}

#[tokio::test]
async fn incremental_read_survives_cap_and_identical_timestamps() {
    let sbx = HubSpotSandbox::start(HubSpotSandboxConfig {
        search_per_second: 25,
        ..Default::default()
    })
    .await
    .unwrap();
    let frozen = 1_767_225_600_000i64;
    sbx.with(|s| {
        s.frozen_ms = Some(frozen);
        for i in 0..12_000 {
            s.insert(
                "contacts",
                BTreeMap::from([("email".to_string(), format!("u{i}@x.io"))]),
            );
        }
        s.frozen_ms = Some(frozen - 1000);
        s.insert(
            "contacts",
            BTreeMap::from([("email".to_string(), "old@x.io".to_string())]),
        );
    });
    let c = client(&sbx, |c| c.search_per_second = 25);
    let mut cursor = SearchCursor {
        skip: vec![],
        since_ms: frozen,
        after_id: 0,
    };
    let mut seen = Vec::new();
    loop {
        let page = c
            .search_modified(ObjectKind::Visitor, &cursor, &["email".into()])
            .await
            .unwrap();
        seen.extend(page.records.into_iter().map(|r| r.id));
        match page.next {
            Some(n) => cursor = n,
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 12_000);
    assert_eq!(unique.len(), 12_000, "every record exactly once");
    assert_eq!(sbx.with(|s| s.search.rejected), 0, "search limit respected");
}

#[tokio::test]
async fn rides_out_a_429_storm_and_never_exceeds_the_window() {
    let sbx = HubSpotSandbox::start(HubSpotSandboxConfig {
        burst_per_window: 10,
        window: Duration::from_secs(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(&sbx, |c| {
        c.requests_per_window = 10;
        c.window = Duration::from_secs(1);
    });
    c.ensure_schema(ObjectKind::Visitor).await.unwrap();
    sbx.inject(Fault {
        kind: "429".into(),
        count: 3,
        delay_ms: 0,
        path_contains: Some("/batch/".into()),
        retry_after_secs: None,
    });
    sbx.inject(Fault {
        kind: "503".into(),
        count: 2,
        delay_ms: 0,
        path_contains: Some("/batch/".into()),
        retry_after_secs: None,
    });
    sbx.inject(Fault {
        kind: "drop".into(),
        count: 2,
        delay_ms: 0,
        path_contains: Some("/batch/".into()),
        retry_after_secs: None,
    });
    let inputs: Vec<WriteInput> = (0..3000)
        .map(|i| input(&format!("v{i}"), &[("pendo_time_on_app", "5")]))
        .collect();
    let out = c
        .upsert(ObjectKind::Visitor, "pendo_visitor_id", inputs)
        .await
        .unwrap();
    assert_eq!(out.ok.len(), 3000);
    assert!(out.failed.is_empty());
    assert_eq!(
        sbx.with(|s| s.burst.rejected),
        0,
        "the client never went over the window"
    );
    assert_eq!(
        c.calls().get("hubspot.write"),
        30 + 7,
        "30 batches plus 7 retried faults (429, 503, dropped)"
    );
}

#[tokio::test]
async fn tasks_deals_pipelines_and_associations() {
    tasks_deals_pipelines_and_associations_on(HubSpotApiVersion::V2026_03).await;
}

#[tokio::test]
async fn tasks_deals_pipelines_and_associations_on_legacy_paths() {
    tasks_deals_pipelines_and_associations_on(HubSpotApiVersion::Legacy).await;
}

async fn tasks_deals_pipelines_and_associations_on(version: HubSpotApiVersion) {
    use shared::hubspot::association_types::{DEAL_TO_COMPANY, TASK_TO_CONTACT};
    let sbx = HubSpotSandbox::start(Default::default()).await.unwrap();
    let c = client(&sbx, |cfg| cfg.api_version = version);
    let create_task = format!("POST {}", Paths(version).object("tasks"));
    c.ensure_schema(ObjectKind::Account).await.unwrap();
    c.ensure_schema(ObjectKind::Visitor).await.unwrap();
    let company = c
        .upsert(
            ObjectKind::Account,
            "pendo_account_id",
            vec![input("acct-1", &[("pendo_days_active", "3")])],
        )
        .await
        .unwrap()
        .ok[0]
        .1
        .clone();
    let contact = c
        .upsert(
            ObjectKind::Visitor,
            "pendo_visitor_id",
            vec![input("v1", &[("pendo_days_active", "3")])],
        )
        .await
        .unwrap()
        .ok[0]
        .1
        .clone();
    let pipelines = c.deal_pipelines().await.unwrap();
    let trial = pipelines
        .iter()
        .find(|p| p.id == "trial")
        .expect("trial pipeline");
    let (first, second) = (trial.stages[0].id.clone(), trial.stages[1].id.clone());
    let props = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    let deal = c
        .create_record(
            "deals",
            props(&[
                ("dealname", "Acme trial"),
                ("pipeline", "trial"),
                ("dealstage", &first),
            ]),
            &[(company.clone(), DEAL_TO_COMPANY)],
        )
        .await
        .unwrap();
    c.update_record("deals", &deal, props(&[("dealstage", &second)]))
        .await
        .unwrap();
    assert_eq!(
        sbx.with(
            |s| s.objects["deals"][&deal.parse::<u64>().unwrap()].properties["dealstage"].clone()
        ),
        second
    );
    let bad = c
        .update_record("deals", &deal, props(&[("dealstage", "nonexistent")]))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("dealstage"), "{bad}");
    assert_eq!(
        c.associations("companies", &company, "deals")
            .await
            .unwrap(),
        vec![deal.clone()]
    );

    let task = c
        .create_record(
            "tasks",
            props(&[
                ("hs_timestamp", "2026-12-01T09:00:00Z"),
                ("hs_task_subject", "Call back"),
                ("hs_task_priority", "HIGH"),
            ]),
            &[(contact.clone(), TASK_TO_CONTACT)],
        )
        .await
        .unwrap();
    assert_eq!(
        c.associations("contacts", &contact, "tasks").await.unwrap(),
        vec![task]
    );

    // A create is not idempotent: a 503 is reported, not retried into a duplicate.
    sbx.inject(Fault {
        kind: "503".into(),
        count: 1,
        delay_ms: 0,
        path_contains: Some("/tasks".into()),
        retry_after_secs: None,
    });
    let before = sbx.count(&create_task);
    let e = c
        .create_record(
            "tasks",
            props(&[("hs_timestamp", "2026-12-01T09:00:00Z")]),
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, shared::hubspot::HubSpotError::OutcomeUnknown { .. }),
        "{e}"
    );
    assert_eq!(sbx.count(&create_task) - before, 1);

    // Processed, then the answer's body is cut: reported as unknown, never sent again.
    sbx.inject(Fault {
        kind: "cut".into(),
        count: 1,
        delay_ms: 0,
        path_contains: Some("/tasks".into()),
        retry_after_secs: None,
    });
    let tasks = sbx.with(|s| s.objects["tasks"].len());
    let e = c
        .create_record(
            "tasks",
            props(&[("hs_timestamp", "2026-12-02T09:00:00Z")]),
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, shared::hubspot::HubSpotError::OutcomeUnknown { .. }),
        "{e}"
    );
    assert_eq!(sbx.count(&create_task) - before, 2);
    assert_eq!(
        sbx.with(|s| s.objects["tasks"].len()),
        tasks + 1,
        "HubSpot did it"
    );
    // Only this family's paths were called (pipelines excepted: they have no 2026-03 path).
    let other = match version {
        HubSpotApiVersion::V2026_03 => "/v3/objects",
        HubSpotApiVersion::Legacy => "2026-03",
    };
    let counts = sbx.counts();
    assert!(
        counts.keys().all(|k| !k.contains(other)),
        "{version:?} client called the other family: {counts:?}"
    );
    assert!(
        counts.keys().any(|k| k.contains("/associations/")),
        "{counts:?}"
    );
}
