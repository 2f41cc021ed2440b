//! Values and timing across the two systems (issue 13): sentinels and empty values, dropdown
//! labels, today's NPS answer via webhook, and the OAuth token endpoint's rate limit. Each case
//! asserts the expected value stated in the issue.

use sandboxes::pendo::data::visitor_id;
use shared::domain::ObjectKind;
use shared::hubspot::HubSpotApi;
use shared::worker::JobResult;
use std::collections::BTreeMap;

use crate::record_lab::{props, Lab};

fn email_config() -> serde_json::Value {
    serde_json::json!({"identity": {"match_contacts_by_email": true}})
}

/// Case 3: a visitor who never visited comes from Pendo as `firstvisit: 0` / `lastvisit: 0`.
/// First and Last Visit stay empty, and the 1970 dates an earlier version wrote are cleared;
/// HubSpot's empty value reaches Pendo as no value, replacing an old one.
#[tokio::test]
async fn sentinels_mean_no_value_on_the_other_side() {
    let mut lab = Lab::new(
        20,
        2,
        serde_json::json!({
            "identity": {"match_contacts_by_email": true},
            "pull": [{"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"}]
        }),
    )
    .await;
    let never = 4usize;
    lab.pendo.with(|s| {
        for d in s.data.first_day() - 1..s.data.cfg.today + 400 {
            s.data.overrides.insert((never, d), (0, 0));
        }
        assert_eq!(
            s.data.visitor_row(never)["metadata"]["auto"]["firstvisit"],
            0
        );
        s.data.custom.insert(
            ("visitor".into(), visitor_id(never)),
            BTreeMap::from([("hubspot_jobtitle".into(), serde_json::json!("Old title"))]),
        );
    });
    let epoch = "1970-01-01T00:00:00.000Z";
    let ids = lab.contacts(vec![props(&[
        ("email", &lab.email_of(never)),
        ("pendo_first_visit", epoch),
        ("pendo_last_visit", epoch),
        ("jobtitle", ""),
    ])]);
    let run = lab.finished_run().await;
    assert_eq!(run.counts.failed, 0, "{:?}", lab.errors(&run).await);
    let c = lab.contact(ids[0]);
    assert_eq!(c.get("pendo_visitor_id"), Some(&visitor_id(never)));
    // Cleared: HubSpot then answers `""` for the property (reference/hubspot.md; sandbox).
    assert!(no_value(c.get("pendo_first_visit")), "{c:?}");
    assert!(no_value(c.get("pendo_last_visit")), "{c:?}");
    assert_eq!(c["pendo_days_active"], "0");
    let pulled = lab.pendo.with(|s| {
        s.data.custom[&("visitor".to_string(), visitor_id(never))]["hubspot_jobtitle"].clone()
    });
    assert_eq!(pulled, serde_json::Value::Null);
}

/// Case 9: after the daily run a visitor answers NPS 2 now. The webhook job pushes the answer
/// the same day and the NPS follow-up rule opens its task; the sandbox records the answer at
/// the time it was given.
#[tokio::test]
async fn todays_nps_answer_is_pushed_by_the_webhook_job() {
    let mut lab = Lab::new(20, 2, email_config()).await;
    lab.repo
        .put_rules(
            &lab.tenant,
            &serde_json::from_value(serde_json::json!({"rules": [
                {"id": "nps", "type": "nps_follow_up"}]}))
            .unwrap(),
        )
        .await
        .unwrap();
    let ids = lab.contacts(vec![props(&[("email", &lab.email_of(3))])]);
    lab.finished_run().await;
    let statuses = lab
        .pendo
        .emit_nps(sandboxes::pendo::EmitNps {
            url: "http://127.0.0.1:9/nowhere".into(),
            answers: vec![(3, 2, "too slow today".into())],
        })
        .await;
    assert_eq!(statuses.len(), 1);
    let now = chrono::Utc::now();
    let recorded = lab
        .pendo
        .with(|s| s.data.polls.last().unwrap().browser_time);
    assert!((now.timestamp_millis() - recorded).abs() < 60_000 + 4_000);

    // The job the intake queues for it.
    let job = shared::domain::Job {
        job_id: "wh-test".into(),
        tenant_id: lab.tenant.clone(),
        kind: shared::domain::JobKind::Incremental {
            visitor_ids: vec!["v000003".into()],
            account_ids: vec![],
        },
        enqueued_at: now,
    };
    let result = lab.worker.handle(&job, None).await.unwrap();
    assert!(matches!(result, JobResult::Finished(_)), "{result:?}");
    let c = lab.contact(ids[0]);
    assert_eq!(c["pendo_latest_nps_score"], "2");
    assert_eq!(c["pendo_latest_nps_text"], "too slow today");
    assert_eq!(
        c["pendo_latest_nps_date"],
        now.format("%Y-%m-%d").to_string()
    );
    let task = lab.hubspot.with(|s| {
        s.objects["tasks"].values().any(|t| {
            t.properties
                .get("hs_task_body")
                .is_some_and(|b| b.contains("too slow today"))
        })
    });
    assert!(task, "the detractor follow-up task was created");
}

/// Case 6: the token endpoint answers 429 once: backed off (its `Retry-After` honoured) and
/// retried like any 429. When it keeps failing, the error says what HubSpot said.
#[tokio::test]
async fn token_endpoint_rate_limit_is_retried_and_explained() {
    let lab = Lab::new(5, 1, email_config()).await;
    let token_fault = |count: u32| sandboxes::Fault {
        kind: "429".into(),
        count,
        delay_ms: 0,
        // Either path family's token endpoint (2026-03 by default).
        path_contains: Some("/token".into()),
        retry_after_secs: Some(1),
    };
    lab.hubspot.inject(token_fault(1));
    let props = lab
        .hubspot_client()
        .list_properties(ObjectKind::Visitor)
        .await
        .unwrap();
    assert!(props.iter().any(|p| p.name == "email"));
    assert_eq!(lab.hubspot.count("POST /oauth/2026-03/token 429"), 1);
    assert_eq!(lab.hubspot.count("POST /oauth/2026-03/token"), 1);

    lab.hubspot.inject(token_fault(50));
    let cfg = lab.hubspot.with(|s| s.cfg.clone());
    let client = shared::hubspot::HubSpotClient::new(
        shared::hubspot::HubSpotConfig {
            api_base: lab.hubspot.base_url.clone(),
            retry: shared::http::RetryPolicy {
                max_attempts: 2,
                base: std::time::Duration::from_millis(1),
                cap: std::time::Duration::from_millis(1),
            },
            ..Default::default()
        },
        shared::hubspot::Auth::OAuth {
            app: shared::hubspot::oauth::OAuthApp {
                client_id: cfg.client_id,
                client_secret: shared::secret::SecretString::new(cfg.client_secret),
                redirect_uri: "http://localhost/cb".into(),
            },
            refresh_token: shared::secret::SecretString::new(lab.hubspot.issue_refresh_token()),
        },
    );
    let err = client
        .list_properties(ObjectKind::Visitor)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("You have reached your rate limit."), "{err}");
    assert!(err.contains("RATE_LIMIT") && err.contains("429"), "{err}");
}

/// Case 7: `lifecyclestage=1234567` whose option label is "Evaluation" reaches Pendo as
/// "Evaluation" by default, and as "1234567" where the mapping asks for the internal value.
#[tokio::test]
async fn dropdown_values_reach_pendo_as_labels_unless_asked_for_values() {
    let mut lab = Lab::new(
        10,
        2,
        serde_json::json!({
            "identity": {"match_contacts_by_email": true},
            "pull": [
                {"object": "visitor", "hubspot_property": "lifecyclestage", "pendo_field": "hubspot_lifecycle"},
                {"object": "visitor", "hubspot_property": "lifecyclestage", "pendo_field": "hubspot_jobtitle",
                 "enumeration": "value"}
            ]
        }),
    )
    .await;
    lab.hubspot.with(|s| {
        s.properties.get_mut("contacts").unwrap().get_mut("lifecyclestage").unwrap().options.push(
            serde_json::json!({"label": "Evaluation", "value": "1234567", "displayOrder": 9, "hidden": false}),
        )
    });
    lab.contacts(vec![
        props(&[("email", &lab.email_of(2)), ("lifecyclestage", "1234567")]),
        props(&[
            ("email", &lab.email_of(3)),
            ("lifecyclestage", "salesqualifiedlead"),
        ]),
    ]);
    let run = lab.finished_run().await;
    assert_eq!(run.counts.failed, 0, "{:?}", lab.errors(&run).await);
    let custom = |v: usize, f: &str| {
        lab.pendo
            .with(|s| s.data.custom[&("visitor".to_string(), visitor_id(v))][f].clone())
    };
    assert_eq!(custom(2, "hubspot_lifecycle"), "Evaluation");
    assert_eq!(custom(2, "hubspot_jobtitle"), "1234567");
    assert_eq!(custom(3, "hubspot_lifecycle"), "Sales Qualified Lead");
    assert_eq!(custom(3, "hubspot_jobtitle"), "salesqualifiedlead");
}

/// HubSpot's "no value": the property absent, `null` or `""`.
fn no_value(v: Option<&String>) -> bool {
    v.is_none_or(|v| v.is_empty())
}
