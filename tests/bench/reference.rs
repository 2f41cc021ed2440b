//! After a sync: both sandboxes against values computed from the raw dataset
//! (`suites::expected`), not through the engine. Every contact and company is compared, and
//! every record a Pendo id should have exactly once is counted.

use sandboxes::pendo::data::{parse_account, parse_visitor};
use std::collections::HashMap;
use std::fmt::Write as _;
use suites::expected::Reference;

use crate::world::World;

#[derive(Clone, Debug, Default)]
pub struct EndCheck {
    /// Property values compared (pushed and pulled).
    pub values: u64,
    pub divergences: u64,
    /// Pendo ids with more than one HubSpot record, or none.
    pub duplicates: u64,
    pub missing: u64,
    /// Record inputs HubSpot received in batch writes during the sync, against records pushed:
    /// more inputs than records would mean a record written twice.
    pub inputs_written: u64,
    pub examples: Vec<String>,
}

impl EndCheck {
    pub fn clean(&self) -> bool {
        self.divergences == 0 && self.duplicates == 0 && self.missing == 0
    }

    fn diverged(&mut self, what: String) {
        self.divergences += 1;
        if self.examples.len() < 5 {
            self.examples.push(what);
        }
    }
}

/// Checks the bench tenant's contacts, companies and pulled Pendo values.
pub fn check(world: &World) -> EndCheck {
    let today = world.today();
    let mut out = EndCheck::default();
    world.pendo.with(|p| {
        let reference = Reference::new(&p.data);
        world.hubspot.with(|s| {
            for (object, key, kind, pulled) in [
                (
                    "contacts",
                    "pendo_visitor_id",
                    "visitor",
                    ("jobtitle", "hubspot_jobtitle"),
                ),
                (
                    "companies",
                    "pendo_account_id",
                    "account",
                    ("industry", "hubspot_industry"),
                ),
            ] {
                let mut seen: HashMap<&str, u32> = HashMap::new();
                for r in s.objects[object].values() {
                    let Some(id) = r.properties.get(key) else {
                        continue;
                    };
                    *seen.entry(id.as_str()).or_default() += 1;
                    let expected = match kind {
                        "visitor" => parse_visitor(id).map(|v| reference.visitor(v, today)),
                        _ => parse_account(id).map(|a| reference.account(a, today)),
                    };
                    let Some(expected) = expected else {
                        out.diverged(format!("{object} {} carries unknown {key} {id}", r.id));
                        continue;
                    };
                    for (k, want) in &expected {
                        out.values += 1;
                        let have = r.properties.get(k).map(String::as_str).unwrap_or("");
                        if have != want {
                            out.diverged(format!(
                                "{kind} {id}: {k} is {have:?}, expected {want:?}"
                            ));
                        }
                    }
                    out.values += 1;
                    let sent = p
                        .data
                        .custom
                        .get(&(kind.to_string(), id.clone()))
                        .and_then(|c| c.get(pulled.1))
                        .and_then(|v| v.as_str().map(str::to_string));
                    if sent.as_deref() != r.properties.get(pulled.0).map(String::as_str) {
                        out.diverged(format!(
                            "{kind} {id}: Pendo {} is {sent:?}, HubSpot {} is {:?}",
                            pulled.1,
                            pulled.0,
                            r.properties.get(pulled.0)
                        ));
                    }
                }
                let wanted = match kind {
                    "visitor" => p.data.cfg.visitors,
                    _ => p.data.cfg.accounts,
                };
                out.duplicates += seen.values().filter(|n| **n > 1).count() as u64;
                out.missing += wanted.saturating_sub(seen.len()) as u64;
            }
        });
    });
    out
}

/// One line for the report.
pub fn describe(c: &EndCheck) -> String {
    let mut s = format!(
        "{} values compared: {} divergences, {} duplicated and {} missing records",
        crate::report::thousands(c.values),
        c.divergences,
        c.duplicates,
        c.missing
    );
    for e in &c.examples {
        let _ = write!(s, "; e.g. {e}");
    }
    s
}
