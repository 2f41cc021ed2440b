//! Lifecycle rules end to end: each fires on the records computed here from the sandbox data,
//! not on others; dry run writes nothing; a rerun creates nothing new; an interrupted action
//! is never duplicated.

use sandboxes::hubspot::Association;
use sandboxes::pendo::data::{account_id, visitor_id};
use shared::domain::{RuleSet, RunStatus};
use shared::rules::marker_for_tests as marker;
use std::collections::{BTreeMap, BTreeSet};

use crate::sync_fixture::{expected_account, expected_visitor, Fixture, ACCOUNTS, VISITORS};

fn rules(json: serde_json::Value) -> RuleSet {
    serde_json::from_value(json).unwrap()
}

/// Record ids of `to` objects associated with `(from, id)`.
fn associated(f: &Fixture, from: &str, id: u64, to: &str) -> Vec<u64> {
    f.hubspot.with(|s| {
        s.associations
            .iter()
            .filter_map(|a: &Association| {
                if a.from == (from.to_string(), id) && a.to.0 == to {
                    Some(a.to.1)
                } else if a.to == (from.to_string(), id) && a.from.0 == to {
                    Some(a.from.1)
                } else {
                    None
                }
            })
            .collect()
    })
}

fn hs_id(f: &Fixture, object: &str, prop: &str, value: &str) -> Option<u64> {
    f.hubspot.with(|s| {
        s.objects[object]
            .values()
            .find(|r| r.properties.get(prop).map(String::as_str) == Some(value))
            .map(|r| r.id)
    })
}

#[tokio::test]
async fn churn_and_nps_rules_fire_once_and_never_duplicate() {
    let f = Fixture::new().await;
    f.repo
        .put_rules(
            &f.tenant,
            &rules(serde_json::json!({"rules": [
                {"id": "churn", "type": "churn_risk", "drop_percent": 20.0, "min_prior_minutes": 1},
                {"id": "nps", "type": "nps_follow_up", "promoter_property": "upsell_candidate"}
            ]})),
        )
        .await
        .unwrap();
    let today = f.today();
    // Two accounts go quiet for the last 180 days: their usage drops 100 %.
    f.pendo.with(|s| {
        for a in [0usize, 1] {
            for v in s.data.visitors_of(a).to_vec() {
                for d in today - 179..=today {
                    s.data.overrides.insert((v, d), (0, 0));
                }
            }
        }
    });
    // Expected from the raw dataset.
    let (churn, detractors, promoters): (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) =
        f.pendo.with(|s| {
            let churn = (0..ACCOUNTS)
                .filter(|a| a % 5 != 4)
                .filter(|a| {
                    let e = expected_account(&s.data, *a, today);
                    e["pendo_usage_trending"]
                        .parse::<f64>()
                        .is_ok_and(|t| t <= -20.0)
                })
                .map(account_id)
                .collect();
            let by_cat = |lo: u64, hi: u64| -> BTreeSet<String> {
                (0..VISITORS)
                    .filter(|v| v % 5 != 4)
                    .filter(|v| {
                        expected_visitor(&s.data, *v, today)["pendo_latest_nps_score"]
                            .parse::<u64>()
                            .is_ok_and(|sc| (lo..=hi).contains(&sc))
                    })
                    .map(visitor_id)
                    .collect()
            };
            (churn, by_cat(0, 6), by_cat(9, 10))
        });
    assert!(!churn.is_empty() && !detractors.is_empty() && !promoters.is_empty());
    // One churn action is claimed (pending) as if a worker died right after the claim.
    let victim = churn.iter().next().unwrap().clone();
    let key = format!("churn:churn:{victim}:{today}");
    assert!(matches!(
        f.repo.claim_action(&f.tenant, &key).await.unwrap(),
        shared::store::repo::ActionClaim::New
    ));

    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let task_companies: BTreeSet<String> = f.hubspot.with(|s| {
        s.associations
            .iter()
            .filter(|a| a.from.0 == "tasks" && a.to.0 == "companies")
            .map(|a| s.objects["companies"][&a.to.1].properties["pendo_account_id"].clone())
            .collect()
    });
    assert_eq!(
        task_companies, churn,
        "a churn task for exactly the accounts whose usage dropped ≥ 20 %"
    );
    let task_contacts: Vec<String> = f.hubspot.with(|s| {
        s.associations
            .iter()
            .filter(|a| a.from.0 == "tasks" && a.to.0 == "contacts")
            .map(|a| s.objects["contacts"][&a.to.1].properties["pendo_visitor_id"].clone())
            .collect()
    });
    assert_eq!(
        task_contacts.iter().cloned().collect::<BTreeSet<_>>(),
        detractors
    );
    assert_eq!(
        task_contacts.len(),
        detractors.len(),
        "one task per detractor"
    );
    let flagged: BTreeSet<String> = f.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .filter(|r| r.properties.get("upsell_candidate").map(String::as_str) == Some("true"))
            .map(|r| r.properties["pendo_visitor_id"].clone())
            .collect()
    });
    assert_eq!(flagged, promoters);
    assert_eq!(
        run.counts.actions as usize,
        churn.len() + detractors.len() + promoters.len()
    );
    assert!(run
        .actions
        .iter()
        .any(|a| a.rule == "churn" && a.object_id == victim && a.hubspot_id.is_some()));

    // Interrupted after the HubSpot call: the key is pending again but the task exists.
    let tasks_before = f.hubspot.with(|s| s.objects["tasks"].len());
    let company = hs_id(&f, "companies", "pendo_account_id", &victim).unwrap();
    let task = associated(&f, "companies", company, "tasks")[0];
    let body = f
        .hubspot
        .with(|s| s.objects["tasks"][&task].properties["hs_task_body"].clone());
    assert!(body.contains(&marker(&key)));
    f.repo
        .store()
        .delete(
            &shared::store::repo::tenant_pk(&f.tenant),
            &format!("ACTION#{key}"),
            shared::store::Condition::Always,
        )
        .await
        .unwrap();
    assert!(matches!(
        f.repo.claim_action(&f.tenant, &key).await.unwrap(),
        shared::store::repo::ActionClaim::New
    ));
    f.repo
        .delete_cursor(&f.tenant, &format!("rule:churn:{victim}"))
        .await
        .unwrap();
    let rerun = f.full_sync().await;
    assert_eq!(
        f.hubspot.with(|s| s.objects["tasks"].len()),
        tasks_before,
        "rerun creates nothing new"
    );
    // The episode is rebuilt from the task's marker instead of being opened again.
    let rebuilt: Option<serde_json::Value> = f
        .repo
        .get_cursor(&f.tenant, &format!("rule:churn:{victim}"))
        .await
        .unwrap();
    assert_eq!(
        rebuilt.unwrap()["episode_since"],
        today,
        "{:?}",
        rerun.actions
    );
}

#[tokio::test]
async fn trial_expansion_and_pql_rules() {
    let f = Fixture::new().await;
    let today = f.today();
    f.full_sync().await; // links records
                         // A trial deal at the first stage for every linked company.
    let companies: BTreeMap<String, u64> = f.hubspot.with(|s| {
        s.objects["companies"]
            .values()
            .filter_map(|r| Some((r.properties.get("pendo_account_id")?.clone(), r.id)))
            .collect()
    });
    f.hubspot.with(|s| {
        for (aid, cid) in &companies {
            let deal = s.insert(
                "deals",
                BTreeMap::from([
                    ("dealname".to_string(), format!("Trial {aid}")),
                    ("pipeline".to_string(), "trial".to_string()),
                    ("dealstage".to_string(), "trialstarted".to_string()),
                ]),
            );
            s.associations.push(Association {
                from: ("deals".into(), deal),
                to: ("companies".into(), *cid),
                type_id: 341,
            });
        }
    });
    // Thresholds at the median, so each rule splits the accounts.
    let (days, totals): (BTreeMap<String, u32>, BTreeMap<String, u64>) = f.pendo.with(|s| {
        let e = |a: &String| {
            expected_account(
                &s.data,
                sandboxes::pendo::data::parse_account(a).unwrap(),
                today,
            )
        };
        (
            companies
                .keys()
                .map(|a| (a.clone(), e(a)["pendo_days_active"].parse().unwrap()))
                .collect(),
            companies
                .keys()
                .map(|a| (a.clone(), e(a)["pendo_total_visitors"].parse().unwrap()))
                .collect(),
        )
    });
    let median = |mut v: Vec<u64>| {
        v.sort();
        v[v.len() / 2]
    };
    let min_days = median(days.values().map(|d| *d as u64).collect()).max(1);
    let min_total = median(totals.values().copied().collect()).max(1);
    let engaged: BTreeSet<String> = days
        .iter()
        .filter(|(_, d)| **d as u64 >= min_days)
        .map(|(a, _)| a.clone())
        .collect();
    let big: BTreeSet<String> = totals
        .iter()
        .filter(|(_, t)| **t >= min_total)
        .map(|(a, _)| a.clone())
        .collect();
    assert!(
        !engaged.is_empty() && engaged.len() < companies.len(),
        "threshold splits the accounts: {}",
        engaged.len()
    );
    assert!(
        !big.is_empty() && big.len() < companies.len(),
        "{}",
        big.len()
    );
    let members: BTreeSet<String> = f.pendo.with(|s| {
        (0..VISITORS)
            .filter(|v| s.data.in_segment("seg-power-users", *v))
            .map(visitor_id)
            .collect()
    });
    let contacts_before = f.hubspot.with(|s| s.objects["contacts"].len());
    let unlinked_members = members
        .iter()
        .filter(|v| sandboxes::pendo::data::parse_visitor(v).unwrap() % 5 == 4)
        .count();

    // First with expansion in dry run: reported, not written.
    let set = |dry: bool| {
        rules(serde_json::json!({"rules": [
            {"id": "trial", "type": "trial_to_paid", "pipeline": "trial", "from_stage": "trialstarted", "to_stage": "trialengaged", "min_days_active": min_days},
            {"id": "expand", "type": "expansion", "min_total_visitors": min_total, "pipeline": "default", "stage": "appointmentscheduled", "dry_run": dry},
            {"id": "pql", "type": "pql_routing", "segment_id": "seg-power-users", "lifecycle_stage": "salesqualifiedlead"}
        ]}))
    };
    f.repo.put_rules(&f.tenant, &set(true)).await.unwrap();
    let deals_before = f.hubspot.with(|s| s.objects["deals"].len());
    let dry = f.full_sync().await;
    assert_eq!(
        f.hubspot.with(|s| s.objects["deals"].len()),
        deals_before,
        "dry run creates no deal"
    );
    let reported: BTreeSet<String> = dry
        .actions
        .iter()
        .filter(|a| a.rule == "expand" && a.dry_run)
        .map(|a| a.object_id.clone())
        .collect();
    assert_eq!(reported, big);

    let stage_of = |f: &Fixture, aid: &str| {
        let cid = companies[aid];
        f.hubspot.with(|s| {
            s.associations
                .iter()
                .filter(|a| a.to == ("companies".to_string(), cid) && a.from.0 == "deals")
                .map(|a| s.objects["deals"][&a.from.1].properties.clone())
                .filter(|p| p["pipeline"] == "trial")
                .map(|p| p["dealstage"].clone())
                .next()
                .unwrap()
        })
    };
    for aid in companies.keys() {
        let want = if engaged.contains(aid) {
            "trialengaged"
        } else {
            "trialstarted"
        };
        assert_eq!(stage_of(&f, aid), want, "{aid}");
    }
    // PQL: every member is a contact at the stage; unlinked members were created, once.
    let sqls: BTreeSet<String> = f.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .filter(|r| {
                r.properties.get("lifecyclestage").map(String::as_str) == Some("salesqualifiedlead")
            })
            .filter_map(|r| r.properties.get("pendo_visitor_id").cloned())
            .collect()
    });
    assert_eq!(sqls, members);
    assert_eq!(
        f.hubspot.with(|s| s.objects["contacts"].len()),
        contacts_before + unlinked_members
    );

    f.repo.put_rules(&f.tenant, &set(false)).await.unwrap();
    f.full_sync().await;
    let expansion_deals = |f: &Fixture| -> BTreeMap<String, Vec<u64>> {
        f.hubspot.with(|s| {
            let mut m: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for a in s
                .associations
                .iter()
                .filter(|a| a.from.0 == "deals" && a.to.0 == "companies")
            {
                let d = &s.objects["deals"][&a.from.1];
                if d.properties.get("pipeline").map(String::as_str) == Some("default") {
                    m.entry(s.objects["companies"][&a.to.1].properties["pendo_account_id"].clone())
                        .or_default()
                        .push(d.id);
                }
            }
            m
        })
    };
    let deals = expansion_deals(&f);
    assert_eq!(deals.keys().cloned().collect::<BTreeSet<_>>(), big);
    assert!(deals.values().all(|d| d.len() == 1));
    // Rerun: nothing new. Win one deal: the next run opens a new one for that account only.
    f.full_sync().await;
    assert_eq!(expansion_deals(&f), deals);
    assert_eq!(
        f.hubspot.with(|s| s.objects["contacts"].len()),
        contacts_before + unlinked_members,
        "no duplicate contacts"
    );
    let (won, won_deal) = deals.iter().next().map(|(a, d)| (a.clone(), d[0])).unwrap();
    f.hubspot.with(|s| {
        s.objects
            .get_mut("deals")
            .unwrap()
            .get_mut(&won_deal)
            .unwrap()
            .properties
            .insert("dealstage".into(), "closedwon".into());
    });
    f.full_sync().await;
    let after = expansion_deals(&f);
    assert_eq!(after[&won].len(), 2);
    assert!(after
        .iter()
        .filter(|(a, _)| **a != won)
        .all(|(_, d)| d.len() == 1));

    // Everything the rules stored is lost: the deals' markers rebuild it, so nothing is created
    // again, and winning the newest deal still opens the next one (never blocked).
    assert!(forget_rule_memory(&f).await > 0);
    f.full_sync().await;
    assert_eq!(expansion_deals(&f), after);
    let newest = *after[&won].iter().max().unwrap();
    f.hubspot.with(|s| {
        s.objects
            .get_mut("deals")
            .unwrap()
            .get_mut(&newest)
            .unwrap()
            .properties
            .insert("dealstage".into(), "closedwon".into());
    });
    forget_rule_memory(&f).await;
    f.full_sync().await;
    let third = expansion_deals(&f);
    assert_eq!(third[&won].len(), 3, "{third:?}");
    assert!(third
        .iter()
        .filter(|(a, _)| **a != won)
        .all(|(_, d)| d.len() == 1));
}

/// Deletes every item the rules keep in our store (episode and deal memory, the NPS cursor,
/// action claims), as a crash or a lost write could. Returns how many there were.
async fn forget_rule_memory(f: &Fixture) -> usize {
    let store = f.repo.store();
    let pk = shared::store::repo::tenant_pk(&f.tenant);
    let mut n = 0;
    for prefix in ["CUR#rule:", "ACTION#"] {
        let page = store.query(&pk, prefix, None, 10_000, false).await.unwrap();
        assert!(page.next.is_none());
        for item in page.items {
            store
                .delete(&pk, &item.sk, shared::store::Condition::Always)
                .await
                .unwrap();
            n += 1;
        }
    }
    n
}

/// Defect 4 of the reliability issue: losing the stored churn episodes (and the action claims)
/// before the next day's run used to open every episode again (12 tasks instead of 6). The
/// markers on HubSpot's tasks say which episodes are open; an episode whose account was not at
/// risk every day since its marker is over, so a new one gets its task.
#[tokio::test]
async fn lost_rule_memory_duplicates_nothing_the_next_day() {
    let mut f = Fixture::new().await;
    f.repo
        .put_rules(
            &f.tenant,
            &rules(serde_json::json!({"rules": [
                {"id": "churn", "type": "churn_risk", "drop_percent": 20.0, "min_prior_minutes": 1},
                {"id": "nps", "type": "nps_follow_up"}
            ]})),
        )
        .await
        .unwrap();
    let today = f.today();
    let quiet = |f: &Fixture, days: std::ops::RangeInclusive<i32>| {
        f.pendo.with(|s| {
            for a in [0usize, 1] {
                for v in s.data.visitors_of(a).to_vec() {
                    for d in days.clone() {
                        s.data.overrides.insert((v, d), (0, 0));
                    }
                }
            }
        })
    };
    quiet(&f, today - 179..=today + 1);
    let first = f.full_sync().await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    let tasks = |f: &Fixture| f.hubspot.with(|s| s.objects["tasks"].len());
    let churn_tasks = first.actions.iter().filter(|a| a.rule == "churn").count();
    assert!(churn_tasks >= 2, "{:?}", first.actions);
    let created = tasks(&f);

    // Next day, with every stored rule item gone.
    assert!(forget_rule_memory(&f).await >= churn_tasks);
    f.pendo.with(|s| s.data.cfg.today += 1);
    f.worker.today_override = Some(today + 1);
    let next = f.full_sync().await;
    assert_eq!(next.status, RunStatus::Succeeded, "{next:?}");
    assert_eq!(
        tasks(&f),
        created,
        "no task created twice: {:?}",
        next.actions
    );

    // One account's task claims an episode that began when it was not at risk: that episode
    // ended, so the drop now is a new one and gets its own task.
    let victim = account_id(0);
    let company = hs_id(&f, "companies", "pendo_account_id", &victim).unwrap();
    let task = associated(&f, "companies", company, "tasks")[0];
    f.hubspot.with(|s| {
        let body = s.objects.get_mut("tasks").unwrap().get_mut(&task).unwrap();
        let text = body.properties["hs_task_body"].replace(
            &marker(&format!("churn:churn:{victim}:{today}")),
            &marker(&format!("churn:churn:{victim}:{}", today - 300)),
        );
        body.properties.insert("hs_task_body".into(), text);
    });
    forget_rule_memory(&f).await;
    let again = f.full_sync().await;
    assert_eq!(tasks(&f), created + 1, "{:?}", again.actions);
    assert!(again
        .actions
        .iter()
        .any(|a| a.rule == "churn" && a.object_id == victim && !a.action.contains("found")));
}

#[tokio::test]
async fn feature_adoption_counts_and_onboarding_milestones() {
    use sandboxes::hubspot::values::PropertyDef;
    let f = Fixture::new().await;
    f.hubspot.with(|s| {
        let props = s.properties.get_mut("contacts").unwrap();
        for (name, ty, field) in [
            ("dashboard_uses", "number", "number"),
            ("export_uses", "number", "number"),
            ("onboarding_progress", "string", "text"),
            ("onboarding_completed", "date", "date"),
        ] {
            props.insert(
                name.into(),
                PropertyDef::simple(name, ty, field, "contactinformation"),
            );
        }
    });
    f.repo
        .put_rules(&f.tenant, &rules(serde_json::json!({"rules": [{
            "id": "adoption", "type": "feature_adoption", "window_days": 30,
            "counts": [{"feature_id": "feat-dashboard", "property": "dashboard_uses"}, {"feature_id": "feat-export", "property": "export_uses"}],
            "milestones": {"steps": ["feat-dashboard", "feat-export", "feat-invite"], "property": "onboarding_progress", "completed_property": "onboarding_completed"}
        }]})))
        .await
        .unwrap();
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let today = f.today();
    let contacts = f.contacts_by_visitor();
    let mut completed = 0;
    f.pendo.with(|s| {
        for (vid, p) in &contacts {
            let v = sandboxes::pendo::data::parse_visitor(vid).unwrap();
            let count = |feat: &str| -> u32 {
                (today - 29..=today)
                    .filter_map(|d| s.data.feature_use(v, feat, d))
                    .sum()
            };
            let first = |feat: &str| {
                (today - 364..=today).find(|d| s.data.feature_use(v, feat, *d).is_some())
            };
            let used_any = ["feat-dashboard", "feat-export", "feat-invite"]
                .iter()
                .any(|f| first(f).is_some());
            if !used_any {
                // Never used a tracked feature: the rule has nothing to say about them.
                assert!(p.get("onboarding_progress").is_none(), "{vid}");
                continue;
            }
            assert_eq!(
                p.get("dashboard_uses").cloned().unwrap_or_default(),
                count("feat-dashboard").to_string(),
                "{vid}"
            );
            assert_eq!(
                p.get("export_uses").cloned().unwrap_or_default(),
                count("feat-export").to_string(),
                "{vid}"
            );
            let firsts: Vec<Option<i32>> = ["feat-dashboard", "feat-export", "feat-invite"]
                .iter()
                .map(|f| first(f))
                .collect();
            let done = firsts.iter().take_while(|f| f.is_some()).count();
            assert_eq!(p["onboarding_progress"], format!("{done} of 3"), "{vid}");
            if done == 3 {
                completed += 1;
                let day = firsts.iter().flatten().max().unwrap();
                let date = shared::domain::day_date(*day)
                    .format("%Y-%m-%d")
                    .to_string();
                assert_eq!(p["onboarding_completed"], date, "{vid}");
            } else {
                // Never set or cleared ("" is how HubSpot keeps a cleared value).
                assert!(
                    p.get("onboarding_completed").is_none_or(|v| v.is_empty()),
                    "{vid}"
                );
            }
        }
    });
    assert!(completed > 0);
    // Nothing changed: the rule writes nothing the second time.
    let updates = f
        .hubspot
        .count("POST /crm/objects/2026-03/contacts/batch/update");
    f.full_sync().await;
    assert_eq!(
        f.hubspot
            .count("POST /crm/objects/2026-03/contacts/batch/update"),
        updates
    );
}
