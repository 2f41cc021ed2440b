//! Values pushed to HubSpot, computed from Pendo data and the stored usage history, and the
//! fingerprint that makes an unchanged record cost nothing.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::domain::{ActivityHistory, PushField};
use crate::hubspot::validate_value;
use crate::pendo::NpsCategory;

pub fn iso_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A `date` property value: the UTC day, which HubSpot stores as midnight UTC.
pub fn date_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

pub struct FieldInputs<'a> {
    pub first_visit_ms: Option<i64>,
    pub last_visit_ms: Option<i64>,
    pub history: Option<&'a ActivityHistory>,
    pub total_visitors: Option<u64>,
}

/// The property map for one record; fields whose value fails validation are returned separately.
pub fn push_values(
    fields: impl Iterator<Item = PushField>,
    input: &FieldInputs<'_>,
    today: i32,
) -> (BTreeMap<String, String>, Vec<(PushField, String)>) {
    let mut out = BTreeMap::new();
    let mut invalid = Vec::new();
    let nps = input.history.and_then(|h| h.nps.as_ref());
    // No value on Pendo's side is "" on HubSpot's: it clears what an earlier run wrote, and
    // epoch 0 (Pendo's "never") is never written as 1970-01-01.
    let known = |ms: Option<i64>| ms.filter(|m| *m > 0);
    for f in fields {
        let v = match f {
            PushField::FirstVisit => known(input.first_visit_ms).map(iso_ms).unwrap_or_default(),
            PushField::LastVisit => known(input.last_visit_ms).map(iso_ms).unwrap_or_default(),
            PushField::UsageTrending => input
                .history
                .and_then(|h| h.trending_tenths(today))
                .map(crate::domain::format_tenths)
                .unwrap_or_default(),
            PushField::NpsScore => nps.map(|n| n.score.to_string()).unwrap_or_default(),
            PushField::NpsText => nps
                .and_then(|n| n.text.as_deref())
                .map(str::trim)
                .unwrap_or_default()
                .to_string(),
            PushField::NpsDate => known(nps.map(|n| n.at_ms)).map(date_ms).unwrap_or_default(),
            PushField::NpsCategory => nps
                .map(|n| NpsCategory::of(n.score).as_str().to_string())
                .unwrap_or_default(),
            PushField::DaysActive => input
                .history
                .map_or(0, |h| h.days_active(today))
                .to_string(),
            PushField::TimeOnApp => input.history.map_or(0, |h| h.minutes(today)).to_string(),
            PushField::TotalVisitors => input.total_visitors.unwrap_or(0).to_string(),
        };
        match validate_value(f, &v) {
            Ok(()) => {
                out.insert(f.property().to_string(), v);
            }
            Err(e) => invalid.push((f, e)),
        }
    }
    (out, invalid)
}

/// Stable fingerprint of a value map (sorted keys), 128 bits of SHA-256.
pub fn fingerprint<V: serde::Serialize>(values: &BTreeMap<String, V>) -> String {
    let bytes = serde_json::to_vec(values).expect("values serialise");
    hex::encode(&Sha256::digest(bytes)[..16])
}

/// Free-mail domains never identify a company.
pub fn is_free_mail(domain: &str) -> bool {
    const FREE: &[&str] = &[
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "yandex.com",
        "mail.com",
    ];
    FREE.contains(&domain)
}

pub fn normalise_email(e: &str) -> Option<String> {
    let e = e.trim().to_lowercase();
    (e.contains('@') && !e.starts_with('@') && !e.ends_with('@')).then_some(e)
}

/// Whether HubSpot would accept `e` as an e-mail address (it refuses others as
/// `INVALID_EMAIL`, hubspot.md §8 pitfall 3): one `@`, a local part of at most 64 printable
/// characters without spaces or quotes, a domain of dot-separated letter/digit/hyphen labels
/// (no leading or trailing hyphen), and a top-level domain of at least two letters only.
pub fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '@' | '"' | '(' | ')' | ',' | ':' | ';' | '<' | '>' | '[' | ']' | '\\'
                )
        });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    let tld = labels.last().copied().unwrap_or_default();
    local_ok && domain_ok && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
}

pub fn normalise_domain(d: &str) -> Option<String> {
    let d = d.trim().to_lowercase();
    let d = d
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.");
    let d = d.split('/').next().unwrap_or_default().to_string();
    (d.contains('.') && !is_free_mail(&d)).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LatestNps, ObjectKind, SyncConfig};

    #[test]
    fn values_and_fingerprints() {
        let mut h = ActivityHistory::default();
        h.record(20_000, 30);
        h.record(19_800, 10);
        h.nps = Some(LatestNps {
            score: 6,
            text: Some("meh".into()),
            at_ms: 1_764_000_000_000,
        });
        let cfg = SyncConfig::default();
        let input = FieldInputs {
            first_visit_ms: Some(1_700_000_000_000),
            last_visit_ms: None,
            history: Some(&h),
            total_visitors: None,
        };
        let (v, invalid) = push_values(cfg.push_for(ObjectKind::Visitor), &input, 20_000);
        assert!(invalid.is_empty());
        assert_eq!(v["pendo_first_visit"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["pendo_last_visit"], "");
        assert_eq!(v["pendo_days_active"], "1");
        assert_eq!(v["pendo_time_on_app"], "30");
        assert_eq!(v["pendo_usage_trending"], "200.0");
        assert_eq!(v["pendo_latest_nps_category"], "detractor");
        assert_eq!(v["pendo_latest_nps_date"], "2025-11-24");
        assert!(!v.contains_key("pendo_total_visitors"));
        let fp = fingerprint(&v);
        assert_eq!(fp, fingerprint(&v.clone()));
        let mut changed = v.clone();
        changed.insert("pendo_days_active".into(), "2".into());
        assert_ne!(fp, fingerprint(&changed));
    }

    #[test]
    fn identity_normalisation() {
        assert_eq!(
            normalise_email("  Ann@Example.COM ").as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(normalise_email("nope"), None);
        assert_eq!(
            normalise_domain("https://www.Acme.io/about").as_deref(),
            Some("acme.io")
        );
        assert_eq!(normalise_domain("gmail.com"), None);
        for ok in [
            "ann.lee@example.com",
            "a+tag@sub.example.co.uk",
            "o'neil@x.io",
        ] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "ann.lee@example.c0m",
            "ann lee@example.com",
            "ann@example",
            "@example.com",
            "ann@-x.com",
            "ann@x..com",
            "ann..lee@x.com",
            "ann@x.c",
            "ann@@x.com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
