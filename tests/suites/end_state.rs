//! What both systems hold after a sync, checked against values computed from the raw dataset
//! (not through the engine): the fault suites compare an interrupted or fault-ridden sync with
//! this and with an uninterrupted one.

use sandboxes::hubspot::HubSpotSandbox;
use sandboxes::pendo::data::{parse_account, parse_visitor};
use sandboxes::pendo::PendoSandbox;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

use crate::sync_fixture::{expected_account, expected_visitor};

/// Divergences from the expected values and duplicated records, as readable lines.
#[derive(Debug, Default)]
pub struct EndState {
    /// A value (or link) that differs from what the dataset says it should be.
    pub divergences: Vec<String>,
    /// Two records for one visitor, account, e-mail or action marker.
    pub duplicates: Vec<String>,
    /// Values compared.
    pub values_checked: usize,
    /// Comparable view of both systems (for "equals an uninterrupted run").
    pub snapshot: Snapshot,
}

/// Both systems reduced to what a sync decides: pushed properties by Pendo id, created tasks and
/// deals by target and marker, pulled Pendo metadata. No HubSpot ids or timestamps.
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot {
    pub contacts: BTreeMap<String, BTreeMap<String, String>>,
    pub companies: BTreeMap<String, BTreeMap<String, String>>,
    /// (object the task/deal is attached to, its subject or name, its marker)
    pub created: BTreeSet<(String, String, String)>,
    pub pendo_metadata: BTreeMap<(String, String), String>,
}

fn marker_of(text: &str) -> Option<String> {
    let at = text.find("[pendo-sync:")?;
    let end = text[at..].find(']')?;
    Some(text[at..at + end + 1].to_string())
}

fn pendo_props(props: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    props
        .iter()
        .filter(|(k, _)| k.starts_with("pendo_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Checks both sandboxes after a sync of the `sync_fixture` tenant on `today` (day number).
pub fn check(hubspot: &HubSpotSandbox, pendo: &PendoSandbox, today: i32) -> EndState {
    let mut out = EndState::default();
    let (contacts, companies, created) = hubspot.with(|s| {
        let by = |object: &str, key: &str| -> Vec<(String, BTreeMap<String, String>)> {
            s.objects[object]
                .values()
                .filter_map(|r| Some((r.properties.get(key)?.clone(), r.properties.clone())))
                .collect()
        };
        let mut created = Vec::new();
        for a in &s.associations {
            let (kind, field, title) = match a.from.0.as_str() {
                "tasks" => ("tasks", "hs_task_body", "hs_task_subject"),
                "deals" => ("deals", "description", "dealname"),
                _ => continue,
            };
            let Some(record) = s.objects[kind].get(&a.from.1) else {
                continue;
            };
            let Some(marker) = record.properties.get(field).and_then(|b| marker_of(b)) else {
                continue;
            };
            let target = s.objects[&a.to.0]
                .get(&a.to.1)
                .and_then(|t| {
                    t.properties
                        .get("pendo_visitor_id")
                        .or_else(|| t.properties.get("pendo_account_id"))
                })
                .cloned()
                .unwrap_or_else(|| format!("{}:{}", a.to.0, a.to.1));
            created.push((
                target,
                record.properties.get(title).cloned().unwrap_or_default(),
                marker,
                a.from.1,
            ));
        }
        // Markers on records without an association still count as created.
        let mut markers: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        for kind in ["tasks", "deals"] {
            let field = if kind == "tasks" {
                "hs_task_body"
            } else {
                "description"
            };
            for r in s.objects.get(kind).into_iter().flat_map(|m| m.values()) {
                if let Some(m) = r.properties.get(field).and_then(|b| marker_of(b)) {
                    markers.entry(m).or_default().insert(r.id);
                }
            }
        }
        let emails: Vec<String> = s.objects["contacts"]
            .values()
            .filter_map(|r| r.properties.get("email").map(|e| e.to_lowercase()))
            .collect();
        (
            (by("contacts", "pendo_visitor_id"), emails),
            by("companies", "pendo_account_id"),
            (created, markers),
        )
    });
    let ((contacts, emails), (created, markers)) = (contacts, created);

    let mut seen = BTreeMap::<String, usize>::new();
    for e in emails {
        *seen.entry(format!("contact with e-mail {e}")).or_default() += 1;
    }
    for (v, _) in &contacts {
        *seen.entry(format!("contact for visitor {v}")).or_default() += 1;
    }
    for (a, _) in &companies {
        *seen.entry(format!("company for account {a}")).or_default() += 1;
    }
    for (m, ids) in &markers {
        if ids.len() > 1 {
            out.duplicates
                .push(format!("{} records carry {m}: {ids:?}", ids.len()));
        }
    }
    out.duplicates.extend(
        seen.into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(what, n)| format!("{n} × {what}")),
    );

    pendo.with(|s| {
        for (vid, props) in &contacts {
            let Some(v) = parse_visitor(vid) else {
                continue;
            };
            for (k, want) in expected_visitor(&s.data, v, today) {
                out.values_checked += 1;
                let have = props.get(&k).cloned().unwrap_or_default();
                if have != want {
                    out.divergences
                        .push(format!("contact {vid}: {k} = {have:?}, expected {want:?}"));
                }
            }
            let custom = s.data.custom.get(&("visitor".to_string(), vid.clone()));
            let pulled = custom.and_then(|c| c.get("hubspot_jobtitle"));
            out.values_checked += 1;
            if pulled != props.get("jobtitle").map(|j| json!(j)).as_ref() {
                out.divergences.push(format!(
                    "visitor {vid}: hubspot_jobtitle = {pulled:?}, expected {:?}",
                    props.get("jobtitle")
                ));
            }
            out.snapshot
                .contacts
                .insert(vid.clone(), pendo_props(props));
        }
        for (aid, props) in &companies {
            let Some(a) = parse_account(aid) else {
                continue;
            };
            for (k, want) in expected_account(&s.data, a, today) {
                out.values_checked += 1;
                let have = props.get(&k).cloned().unwrap_or_default();
                if have != want {
                    out.divergences
                        .push(format!("company {aid}: {k} = {have:?}, expected {want:?}"));
                }
            }
            let custom = s.data.custom.get(&("account".to_string(), aid.clone()));
            let pulled = custom.and_then(|c| c.get("hubspot_industry"));
            out.values_checked += 1;
            if pulled != props.get("industry").map(|j| json!(j)).as_ref() {
                out.divergences.push(format!(
                    "account {aid}: hubspot_industry = {pulled:?}, expected {:?}",
                    props.get("industry")
                ));
            }
            out.snapshot
                .companies
                .insert(aid.clone(), pendo_props(props));
        }
        // Every visitor whose e-mail a contact has is linked to it (nothing lost).
        for (v, email) in (0..s.data.cfg.visitors).map(|v| (v, s.data.email(v))) {
            let vid = sandboxes::pendo::data::visitor_id(v);
            let has_contact = hubspot.with(|h| {
                h.objects["contacts"].values().any(|r| {
                    r.properties
                        .get("email")
                        .is_some_and(|e| e.eq_ignore_ascii_case(&email))
                })
            });
            if has_contact && !contacts.iter().any(|(id, _)| *id == vid) {
                out.divergences
                    .push(format!("visitor {vid} ({email}) has a contact but no link"));
            }
        }
        for ((kind, id), fields) in &s.data.custom {
            for (field, value) in fields {
                out.snapshot
                    .pendo_metadata
                    .insert((format!("{kind}:{id}"), field.clone()), value.to_string());
            }
        }
    });
    out.snapshot.created = created
        .into_iter()
        .map(|(target, title, marker, _)| (target, title, marker))
        .collect();
    out
}
