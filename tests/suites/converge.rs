//! Convergence (issue 15): after any sequence of edits on either side, both systems hold the
//! right values. One named test per case of the issue, each asserting the value it states.

use sandboxes::pendo::data::DAY_MS;
use sandboxes::pendo::{apply_mutation, record_nps, Mutation};
use shared::domain::RunStatus;

use crate::record_lab::{props, Lab};

fn email_config() -> serde_json::Value {
    serde_json::json!({"identity": {"match_contacts_by_email": true}})
}

/// A lab of 20 visitors where visitor 0 has exactly the activity `days` (offset from the last
/// complete day, minutes) and no NPS answer, linked by e-mail to a contact; the contact's id.
async fn lab_with_visitor0(days: &[(i32, u32)]) -> (Lab, u64) {
    let lab = Lab::new(20, 2, email_config()).await;
    let today = lab.today();
    lab.pendo.with(|s| {
        for d in today - 800..today + 400 {
            s.data.overrides.insert((0, d), (0, 0));
        }
        for (offset, minutes) in days {
            s.data.overrides.insert((0, today + offset), (*minutes, 3));
        }
        s.data.polls.retain(|p| p.visitor != 0);
    });
    let ids = lab.contacts(vec![props(&[("email", &lab.email_of(0))])]);
    (lab, ids[0])
}

/// Moves the sandbox's clock on by `days`.
fn advance(lab: &Lab, days: i32) {
    lab.pendo.with(|s| s.data.cfg.today += days);
}

/// Case 1: activity for a day two days back arrives after that day's sync. The trailing window
/// re-reads it: Time on App 333 becomes 482 on the next run (not eight syncs later, not never).
/// A run with nothing new writes nothing although it re-read the window. A day erased outside
/// the window goes at the next full reconciliation (a week after the last).
#[tokio::test]
async fn late_activity_reaches_hubspot_and_erasure_goes_at_reconciliation() {
    let (mut lab, contact) = lab_with_visitor0(&[(-10, 200), (-5, 133)]).await;
    let run = lab.finished_run().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(lab.contact(contact)["pendo_time_on_app"], "333");
    assert_eq!(lab.contact(contact)["pendo_days_active"], "2");

    // Next day; the events of two days back (a day already synced) arrive late.
    advance(&lab, 1);
    let today = lab.today();
    lab.pendo
        .with(|s| s.data.overrides.insert((0, today - 2), (149, 5)));
    lab.finished_run().await;
    assert_eq!(lab.contact(contact)["pendo_time_on_app"], "482");
    assert_eq!(lab.contact(contact)["pendo_days_active"], "3");

    // Nothing new: the re-read costs Pendo reads only.
    let writes = lab.hubspot_writes();
    lab.finished_run().await;
    assert_eq!(lab.hubspot_writes(), writes);

    // The 200 minutes of day −11 are erased: outside the trailing window, they stay until the
    // weekly full re-read, which removes them.
    lab.pendo
        .with(|s| s.data.overrides.insert((0, today - 11), (0, 0)));
    advance(&lab, 1);
    lab.finished_run().await;
    assert_eq!(lab.contact(contact)["pendo_time_on_app"], "482");
    advance(&lab, 5);
    lab.finished_run().await;
    assert_eq!(lab.contact(contact)["pendo_time_on_app"], "282");
    assert_eq!(lab.contact(contact)["pendo_days_active"], "2");
}

/// Case 1, NPS: an answer dated a day already synced (processed late by Pendo) is pushed on the
/// next run; an erased answer goes at the next full reconciliation.
#[tokio::test]
async fn late_nps_answer_for_a_synced_day_is_pushed() {
    let (mut lab, contact) = lab_with_visitor0(&[(-3, 10)]).await;
    lab.finished_run().await;
    assert_eq!(lab.contact(contact)["pendo_latest_nps_score"], "");
    let synced_day = lab.today();
    advance(&lab, 1);
    lab.pendo.with(|s| {
        record_nps(
            s,
            0,
            3,
            "too slow".into(),
            synced_day as i64 * DAY_MS + 36_000_000,
        )
    });
    lab.finished_run().await;
    let c = lab.contact(contact);
    assert_eq!(c["pendo_latest_nps_score"], "3");
    assert_eq!(c["pendo_latest_nps_text"], "too slow");
    assert_eq!(c["pendo_latest_nps_category"], "detractor");

    lab.pendo.with(|s| s.data.polls.retain(|p| p.visitor != 0));
    advance(&lab, 7);
    lab.finished_run().await;
    let c = lab.contact(contact);
    assert_eq!(
        c.get("pendo_latest_nps_score").map(String::as_str),
        Some("")
    );
    assert_eq!(c.get("pendo_latest_nps_text").map(String::as_str), Some(""));
}

/// Case 2: score 9 at 23:59:59.999 UTC, text typed 4 s later (the next day). The text is
/// pushed, whether it is already there when the day is read or typed after that run.
#[tokio::test]
async fn nps_text_pairs_across_utc_midnight_and_runs() {
    let (mut lab, contact) = lab_with_visitor0(&[(-3, 10)]).await;
    let day = lab.today();
    let score_at = (day as i64 + 1) * DAY_MS - 1;
    lab.pendo.with(|s| {
        record_nps(s, 0, 9, "love the new reports".into(), score_at);
    });
    lab.finished_run().await;
    let c = lab.contact(contact);
    assert_eq!(c["pendo_latest_nps_score"], "9");
    assert_eq!(c["pendo_latest_nps_text"], "love the new reports");
    assert_eq!(c["pendo_latest_nps_category"], "promoter");

    // Across runs: the score is read by one run, its text typed after it (next day).
    let (mut lab, contact) = lab_with_visitor0(&[(-3, 10)]).await;
    let day = lab.today();
    let score_at = (day as i64 + 1) * DAY_MS - 1;
    let (score_poll, text_poll) = lab.pendo.with(|s| {
        (
            s.data.cfg.nps_score_poll.clone(),
            s.data.cfg.nps_text_poll.clone(),
        )
    });
    lab.pendo.with(|s| {
        s.data.polls.push(sandboxes::pendo::data::PollEvent {
            visitor: 0,
            poll_id: score_poll,
            response: serde_json::json!(9),
            browser_time: score_at,
        })
    });
    lab.finished_run().await;
    assert_eq!(lab.contact(contact)["pendo_latest_nps_score"], "9");
    assert_eq!(
        lab.contact(contact)
            .get("pendo_latest_nps_text")
            .map(String::as_str),
        Some("")
    );
    lab.pendo.with(|s| {
        s.data.polls.push(sandboxes::pendo::data::PollEvent {
            visitor: 0,
            poll_id: text_poll,
            response: serde_json::json!("love the new reports"),
            browser_time: score_at + 4_000,
        })
    });
    advance(&lab, 1);
    lab.finished_run().await;
    assert_eq!(
        lab.contact(contact)["pendo_latest_nps_text"],
        "love the new reports"
    );
}

/// Case 3: a contact edited by hand to Days Active 9999, and an NPS text typed into a contact
/// whose visitor never answered: both are overwritten on the next run with Pendo's values and
/// reported as "overwrote a manual edit".
#[tokio::test]
async fn manual_edits_of_pushed_properties_are_overwritten_and_reported() {
    let (mut lab, contact) = lab_with_visitor0(&[(-10, 200), (-5, 133)]).await;
    lab.finished_run().await;
    assert_eq!(lab.contact(contact)["pendo_days_active"], "2");
    lab.hubspot.with(|s| {
        s.edit_pairs(
            "contacts",
            contact,
            &[
                ("pendo_days_active", "9999"),
                ("pendo_latest_nps_text", "great product"),
            ],
        )
    });
    // The run that reads the edit back repairs it on its next push (the following run).
    let first = lab.finished_run().await;
    let second = lab.finished_run().await;
    let repaired = first.counts.overwritten + second.counts.overwritten;
    assert_eq!(repaired, 1, "{first:?} {second:?}");
    let c = lab.contact(contact);
    assert_eq!(c["pendo_days_active"], "2");
    assert_eq!(c.get("pendo_latest_nps_text").map(String::as_str), Some(""));
    let run = if first.counts.overwritten == 1 {
        &first
    } else {
        &second
    };
    let errors = lab.errors(run).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("overwrote a manual edit"),
        "{errors:?}"
    );
    assert!(
        errors[0].message.contains("pendo_days_active was \"9999\""),
        "{errors:?}"
    );
    assert_eq!(run.status, RunStatus::Succeeded);
    // Repaired and read back: nothing more to write.
    let writes = lab.hubspot_writes();
    let again = lab.finished_run().await;
    assert_eq!(again.counts.overwritten, 0);
    assert_eq!(lab.hubspot_writes(), writes);
}

/// Case 4: a user clears the contact's `pendo_visitor_id`; our stored link still reaches it,
/// and the join id is stamped again. A contact that now carries another visitor's id loses our
/// link, which is reported and resolved again.
#[tokio::test]
async fn cleared_or_changed_join_id_is_restamped_or_re_resolved() {
    let (mut lab, contact) = lab_with_visitor0(&[(-10, 200)]).await;
    lab.finished_run().await;
    assert_eq!(lab.contact(contact)["pendo_visitor_id"], "v000000");
    lab.hubspot
        .with(|s| s.edit_pairs("contacts", contact, &[("pendo_visitor_id", "")]));
    lab.finished_run().await;
    lab.finished_run().await;
    assert_eq!(lab.contact(contact)["pendo_visitor_id"], "v000000");

    lab.hubspot
        .with(|s| s.edit_pairs("contacts", contact, &[("pendo_visitor_id", "v000007")]));
    let run = lab.finished_run().await;
    let errors = lab.errors(&run).await;
    assert!(
        errors.iter().any(|e| e.object_id == "v000000"
            && e.message
                == format!("HubSpot contact {contact} now carries pendo_visitor_id v000007: the link of v000000 was dropped and is resolved again")),
        "{errors:?}"
    );
    let state = lab
        .state(shared::domain::ObjectKind::Visitor, "v000000")
        .await;
    assert_eq!(state.hubspot_id, None);
}

/// Case 7: contacts entered with surrounding spaces (and another case, and the `<…>` HubSpot
/// strips) are stored the way HubSpot stores them (trimmed) and linked to their visitors,
/// whose Pendo e-mail may itself carry spaces.
#[tokio::test]
async fn contact_emails_with_spaces_and_case_are_linked() {
    let mut lab = Lab::new(20, 2, email_config()).await;
    let e0 = lab.email_of(0);
    let e1 = lab.email_of(1);
    lab.pendo.with(|s| {
        s.data
            .email_overrides
            .insert(1, format!(" {} ", e1.to_uppercase()));
    });
    let ids = lab.contacts(vec![
        props(&[("email", &format!("  {}  ", e0.to_uppercase()))]),
        props(&[("email", &format!("<{e1}> "))]),
    ]);
    assert_eq!(lab.contact(ids[0])["email"], e0.to_uppercase());
    assert_eq!(lab.contact(ids[1])["email"], e1);
    let run = lab.finished_run().await;
    assert_eq!(run.counts.ambiguous, 0, "{run:?}");
    assert_eq!(lab.contact(ids[0])["pendo_visitor_id"], "v000000");
    assert_eq!(lab.contact(ids[1])["pendo_visitor_id"], "v000001");
}

/// A small deterministic generator (splitmix64), so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The converge property, seeded: random rounds of edits on both sides through the
/// sandboxes' controls (late activity for past days, erased days, NPS answers at any time of
/// day, accounts moving, visitors added, e-mails changed in Pendo, HubSpot users editing pulled
/// and pushed properties, clearing join ids, archiving contacts, contacts created with e-mail
/// variants), a sync after each, then the reconciliation run. Every linked contact and company
/// must hold exactly the values recomputed from the raw Pendo data by the fixture's own code,
/// every linked visitor the contact's pulled job title, and no visitor or account may be on two
/// records. `CONVERGE_SEED` and `CONVERGE_ROUNDS` (default 4) change the run; the benchmark
/// script runs it longer.
#[tokio::test]
async fn randomised_edits_converge_after_reconciliation() {
    let seed: u64 = std::env::var("CONVERGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let rounds: u32 = std::env::var("CONVERGE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    const ACCOUNTS: usize = 4;
    let mut rng = Rng(seed);
    let mut lab = Lab::new(
        40,
        ACCOUNTS,
        serde_json::json!({
            "identity": {"match_contacts_by_email": true, "account_domain_field": "domain"},
            "pull": [{"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"}]
        }),
    )
    .await;
    // Half the visitors have a contact from the start; every account a company.
    let seeded: Vec<_> = (0..40)
        .filter(|v| v % 2 == 0)
        .map(|v| {
            props(&[
                ("email", &lab.email_of(v)),
                ("jobtitle", &format!("Role {v}")),
            ])
        })
        .collect();
    lab.contacts(seeded);
    lab.hubspot.with(|s| {
        for a in 0..ACCOUNTS {
            s.insert(
                "companies",
                props(&[
                    ("domain", &format!("company{a}.example")),
                    ("name", &format!("Company {a}")),
                ]),
            );
        }
    });
    lab.finished_run().await;
    let mut edits = 0u32;
    for round in 0..rounds {
        let mut m = Mutation {
            advance_days: 1,
            ..Default::default()
        };
        let visitors = lab.pendo.with(|s| s.data.cfg.visitors) as u64;
        let today = lab.today() + 1;
        for _ in 0..8 {
            let v = rng.below(visitors) as usize;
            edits += 1;
            match rng.below(11) {
                0 => m
                    .activity
                    .push((v, -(1 + rng.below(3) as i32), 1 + rng.below(120) as u32, 2)),
                1 => m.erase.push((v, -(1 + rng.below(300) as i32))),
                2 => {
                    let at = today as i64 * DAY_MS - rng.below(3 * DAY_MS as u64) as i64;
                    m.nps_at
                        .push((v, rng.below(11), format!("answer {round} {at}"), at));
                }
                3 => m.moves.push((v, rng.below(ACCOUNTS as u64) as usize)),
                4 => m.add_visitors += 1,
                5 => lab.pendo.with(|s| {
                    s.data.email_overrides.insert(
                        v,
                        format!("moved{v}.{round}@company{}.example", v % ACCOUNTS),
                    );
                }),
                6 => edit_contact(&lab, v, &[("pendo_days_active", "9999")]),
                7 => edit_contact(&lab, v, &[("pendo_visitor_id", "")]),
                8 => edit_contact(&lab, v, &[("jobtitle", &format!("Edited {round}"))]),
                9 => {
                    if let Some(id) = contact_of(&lab, v) {
                        lab.hubspot.with(|s| s.archive("contacts", id));
                    }
                }
                _ => {
                    let email = lab.email_of(v);
                    let exists = lab.hubspot.with(|s| {
                        s.objects["contacts"].values().any(|r| {
                            r.properties.get("email").map(|e| e.to_lowercase())
                                == Some(email.to_lowercase())
                        })
                    });
                    if !exists {
                        let variant = format!("  {}  ", email.to_uppercase());
                        lab.contacts(vec![props(&[("email", &variant), ("jobtitle", "New")])]);
                    }
                }
            }
        }
        lab.pendo.with(|s| apply_mutation(s, m));
        lab.finished_run().await;
    }
    // The reconciliation run (a week on), then one more run for what it read back.
    advance(&lab, 7);
    lab.finished_run().await;
    lab.finished_run().await;
    let today = lab.today();
    let (contacts, companies) = lab.hubspot.with(|s| {
        let all = |o: &str| -> Vec<_> {
            s.objects[o]
                .values()
                .map(|r| r.properties.clone())
                .collect()
        };
        (all("contacts"), all("companies"))
    });
    let mut divergences = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut unlinked = 0;
    for (object, records, join) in [
        ("contact", &contacts, "pendo_visitor_id"),
        ("company", &companies, "pendo_account_id"),
    ] {
        for r in records {
            let Some(id) = r.get(join).filter(|v| !v.is_empty()) else {
                unlinked += 1;
                continue;
            };
            *seen.entry(id.clone()).or_insert(0) += 1;
            let want = lab.pendo.with(|s| match object {
                "contact" => {
                    let v = sandboxes::pendo::data::parse_visitor(id).unwrap();
                    crate::sync_fixture::expected_visitor(&s.data, v, today)
                }
                _ => {
                    let a = sandboxes::pendo::data::parse_account(id).unwrap();
                    crate::sync_fixture::expected_account(&s.data, a, today)
                }
            });
            for (k, w) in &want {
                let have = r.get(k).cloned().unwrap_or_default();
                if &have != w {
                    divergences.push(format!("{id} {k}: {have:?} != {w:?}"));
                }
            }
            if object == "contact" {
                let pulled = lab.pendo.with(|s| {
                    s.data
                        .custom
                        .get(&("visitor".to_string(), id.clone()))
                        .and_then(|c| c.get("hubspot_jobtitle").cloned())
                });
                let want = r
                    .get("jobtitle")
                    .filter(|j| !j.is_empty())
                    .map(|j| serde_json::json!(j));
                if pulled != want {
                    divergences.push(format!("{id} hubspot_jobtitle: {pulled:?} != {want:?}"));
                }
            }
        }
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "converge: seed {seed}, {rounds} rounds, {edits} edits, {} contacts, {} companies, {unlinked} unlinked, {} divergences, {} duplicates",
        contacts.len(),
        companies.len(),
        divergences.len(),
        duplicates.len()
    );
    assert!(duplicates.is_empty(), "{duplicates:?}");
    assert!(divergences.is_empty(), "{divergences:#?}");
}

fn edit_contact(lab: &Lab, v: usize, changes: &[(&str, &str)]) {
    if let Some(id) = contact_of(lab, v) {
        lab.hubspot.with(|s| s.edit_pairs("contacts", id, changes));
    }
}

fn contact_of(lab: &Lab, v: usize) -> Option<u64> {
    let vid = sandboxes::pendo::data::visitor_id(v);
    lab.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .find(|r| r.properties.get("pendo_visitor_id") == Some(&vid))
            .map(|r| r.id)
    })
}
