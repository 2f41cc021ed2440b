//! Values pushed to HubSpot, computed from Pendo data and the stored usage history, and the
//! fingerprint that makes an unchanged record cost nothing.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::domain::{ActivityHistory, PushField};
use crate::hubspot::validate_value;
use crate::pendo::NpsCategory;

/// A `datetime` property value: `2025-11-30T14:03:09.042Z` (UTC, milliseconds); `""` out of
/// chrono's range. Written digit by digit: a format string is parsed on every call, and this
/// runs for every record of every run.
pub fn iso_ms(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    push_iso(&mut s, ms);
    s
}

/// A `date` property value: the UTC day, which HubSpot stores as midnight UTC.
pub fn date_ms(ms: i64) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, ms);
    s
}

/// Appends [`iso_ms`] of `ms` (nothing out of range).
fn push_iso(s: &mut String, ms: i64) {
    use chrono::Timelike;
    let Some(d) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return;
    };
    push_ymd(s, &d);
    let mut t = *b"T00:00:00.000Z";
    put_digits(&mut t[1..3], d.hour());
    put_digits(&mut t[4..6], d.minute());
    put_digits(&mut t[7..9], d.second());
    put_digits(&mut t[10..13], d.timestamp_subsec_millis());
    s.push_str(ascii(&t));
}

/// Appends [`date_ms`] of `ms` (nothing out of range).
fn push_date(s: &mut String, ms: i64) {
    if let Some(d) = DateTime::<Utc>::from_timestamp_millis(ms) {
        push_ymd(s, &d);
    }
}

/// `YYYY-MM-DD`; a year past 9999 is written whole (and fails validation). Formatted in a
/// fixed buffer and appended once: pushing it character by character cost as much as the hash.
fn push_ymd(s: &mut String, d: &DateTime<Utc>) {
    use chrono::Datelike;
    let mut ymd = *b"0000-00-00";
    put_digits(&mut ymd[5..7], d.month());
    put_digits(&mut ymd[8..10], d.day());
    match u32::try_from(d.year()) {
        Ok(y) if y <= 9999 => {
            put_digits(&mut ymd[..4], y);
            s.push_str(ascii(&ymd));
        }
        _ => {
            s.push_str(&d.year().to_string());
            s.push_str(ascii(&ymd[4..]));
        }
    }
}

/// Appends `n` in decimal.
fn number(s: &mut String, n: u64) {
    s.push_str(itoa::Buffer::new().format(n));
}

/// Writes `n` in decimal into all of `dst`, zero-padded (`n` < 10^len).
fn put_digits(dst: &mut [u8], mut n: u32) {
    for b in dst.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The digits and separators written above (ASCII by construction).
fn ascii(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

pub struct FieldInputs<'a> {
    pub first_visit_ms: Option<i64>,
    pub last_visit_ms: Option<i64>,
    pub history: Option<&'a ActivityHistory>,
    pub total_visitors: Option<u64>,
}

/// `fields` in the order of their HubSpot property names, the order a record's values are
/// fingerprinted in. The push sorts its fields once per page with this, so no record sorts
/// its own values (any order still gives the same values and fingerprint).
pub fn in_property_order(fields: impl Iterator<Item = PushField>) -> Vec<PushField> {
    let mut f: Vec<PushField> = fields.collect();
    f.sort_unstable_by_key(|f| f.property());
    f
}

/// The property map for one record; fields whose value fails validation are returned separately.
pub fn push_values(
    fields: impl Iterator<Item = PushField>,
    input: &FieldInputs<'_>,
    today: i32,
) -> (BTreeMap<String, String>, Vec<(PushField, String)>) {
    SCRATCH.with_borrow_mut(|s| {
        let invalid = compute(fields, input, today, s);
        (s.values().to_map(), invalid)
    })
}

/// One record's values against what was last written for it.
pub struct RecordDiff {
    pub fingerprint: String,
    /// The property map to write; `None` when the fingerprint equals the stored one.
    pub values: Option<BTreeMap<String, String>>,
    /// Fields whose value failed validation (left out of the values).
    pub invalid: Vec<(PushField, String)>,
}

/// Computes one record's values and fingerprint and compares it with `stored`: an unchanged
/// record costs its values written into one buffer and one hash, no property map and no
/// allocation but the fingerprint's.
pub fn diff_record(
    fields: impl Iterator<Item = PushField>,
    input: &FieldInputs<'_>,
    today: i32,
    stored: Option<&str>,
) -> RecordDiff {
    SCRATCH.with_borrow_mut(|s| {
        let invalid = compute(fields, input, today, s);
        let Scratch { text, spans, json } = s;
        let values = Values { text, spans };
        let fingerprint = fingerprint_entries(values.entries(), json);
        RecordDiff {
            values: (stored != Some(fingerprint.as_str())).then(|| values.to_map()),
            fingerprint,
            invalid,
        }
    })
}

/// A record's values as [`compute`] writes them (`text`, with (property, start, end) spans
/// sorted by property) and the fingerprint's JSON: buffers kept per thread and reused from
/// record to record, as their allocations were a tenth of a diff.
#[derive(Default)]
struct Scratch {
    text: String,
    spans: Vec<(&'static str, usize, usize)>,
    json: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

impl Scratch {
    fn values(&self) -> Values<'_> {
        Values {
            text: &self.text,
            spans: &self.spans,
        }
    }
}

/// A view of one record's values in a [`Scratch`].
struct Values<'a> {
    text: &'a str,
    spans: &'a [(&'static str, usize, usize)],
}

impl<'a> Values<'a> {
    fn entries(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let text = self.text;
        self.spans.iter().map(move |(k, a, b)| (*k, &text[*a..*b]))
    }

    fn to_map(&self) -> BTreeMap<String, String> {
        self.entries()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Writes one record's values into `scratch` (cleared first); returns the fields whose value
/// failed validation, left out.
fn compute(
    fields: impl Iterator<Item = PushField>,
    input: &FieldInputs<'_>,
    today: i32,
    scratch: &mut Scratch,
) -> Vec<(PushField, String)> {
    let Scratch { text, spans, .. } = scratch;
    text.clear();
    spans.clear();
    let mut invalid = Vec::new();
    let nps = input.history.and_then(|h| h.nps.as_ref());
    let usage = input.history.map(|h| h.usage(today)).unwrap_or_default();
    // No value on Pendo's side is "" on HubSpot's: it clears what an earlier run wrote, and
    // epoch 0 (Pendo's "never") is never written as 1970-01-01.
    let known = |ms: Option<i64>| ms.filter(|m| *m > 0);
    for f in fields {
        let start = text.len();
        let t = &mut *text;
        match f {
            PushField::FirstVisit => known(input.first_visit_ms)
                .into_iter()
                .for_each(|ms| push_iso(t, ms)),
            PushField::LastVisit => known(input.last_visit_ms)
                .into_iter()
                .for_each(|ms| push_iso(t, ms)),
            PushField::UsageTrending => usage
                .trending_tenths()
                .into_iter()
                .for_each(|tenths| crate::domain::push_tenths(t, tenths)),
            PushField::NpsScore => nps.into_iter().for_each(|n| number(t, u64::from(n.score))),
            PushField::NpsText => t.push_str(
                nps.and_then(|n| n.text.as_deref())
                    .map(str::trim)
                    .unwrap_or_default(),
            ),
            PushField::NpsDate => known(nps.map(|n| n.at_ms))
                .into_iter()
                .for_each(|ms| push_date(t, ms)),
            PushField::NpsCategory => t.push_str(
                nps.map(|n| NpsCategory::of(n.score).as_str())
                    .unwrap_or_default(),
            ),
            PushField::DaysActive => number(t, u64::from(usage.days_active)),
            PushField::TimeOnApp => number(t, usage.minutes),
            PushField::TotalVisitors => number(t, input.total_visitors.unwrap_or(0)),
        }
        let v = &text[start..];
        // Numbers formatted above are valid by construction (the NPS score is a u8 written in
        // decimal), and so are dates in years 1000 to 9999 (the fixed length says so); the
        // NPS comment as Pendo sent it, the category's label against the property's options
        // and a date in a five-digit year are checked.
        let checked = match f {
            PushField::NpsText | PushField::NpsCategory => true,
            PushField::FirstVisit | PushField::LastVisit => !matches!(v.len(), 0 | 24),
            PushField::NpsDate => !matches!(v.len(), 0 | 10),
            _ => false,
        };
        match if checked {
            validate_value(f, v)
        } else {
            Ok(())
        } {
            Ok(()) => spans.push((f.property(), start, text.len())),
            Err(e) => {
                invalid.push((f, e));
                text.truncate(start);
            }
        }
    }
    if !spans.is_sorted_by_key(|(k, _, _)| *k) {
        spans.sort_unstable_by_key(|(k, _, _)| *k);
    }
    invalid
}

/// Stable fingerprint of a value map (sorted keys), 128 bits of SHA-256 of its compact JSON.
pub fn fingerprint<V: serde::Serialize>(values: &BTreeMap<String, V>) -> String {
    let bytes = serde_json::to_vec(values).expect("values serialise");
    hex::encode(&Sha256::digest(bytes)[..16])
}

/// [`fingerprint`] of a map of strings, the same to the bit (stored fingerprints stay valid),
/// with the JSON written here: every record of every run is fingerprinted, and serde's
/// machinery was half the cost of diffing one.
pub fn fingerprint_texts(values: &BTreeMap<String, String>) -> String {
    fingerprint_entries(
        values.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &mut Vec::new(),
    )
}

/// The fingerprint of entries given in key order (as a map holds them); `json` is a buffer
/// to write their JSON into (cleared first).
fn fingerprint_entries<'a>(
    entries: impl Iterator<Item = (&'a str, &'a str)>,
    json: &mut Vec<u8>,
) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    json.clear();
    json.push(b'{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json_string(json, k);
        json.push(b':');
        json_string(json, v);
    }
    json.push(b'}');
    let digest = Sha256::digest(&json[..]);
    let mut hex = String::with_capacity(32);
    for b in &digest[..16] {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    hex
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, the control characters as
/// `\b \t \n \f \r` or `\u00xx` (lower-case hex), everything else as its UTF-8 bytes.
fn json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Property names, numbers and dates never need an escape: one scan, one copy.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    let mut unicode = *b"\\u0000";
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => {
                unicode[4] = HEX[usize::from(b >> 4)];
                unicode[5] = HEX[usize::from(b & 0xF)];
                &unicode
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
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
        // The hand-written formats are chrono's, and a year past 9999 is still refused.
        for ms in [1, 1_764_000_000_042, 253_402_300_799_999] {
            let d = DateTime::<Utc>::from_timestamp_millis(ms).expect("in range");
            assert_eq!(iso_ms(ms), d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            assert_eq!(date_ms(ms), d.format("%Y-%m-%d").to_string());
        }
        let far = FieldInputs {
            first_visit_ms: Some(253_402_300_800_000),
            ..input
        };
        let (_, invalid) = push_values(cfg.push_for(ObjectKind::Visitor), &far, 20_000);
        assert_eq!(invalid.len(), 1, "year 10000: {invalid:?}");
        // Written by hand, the same bytes as serde_json's: every control character, quotes,
        // backslashes, non-ASCII, an empty map.
        let mut tricky: BTreeMap<String, String> = (0u8..0x80)
            .map(|b| (format!("k{b:02x}"), format!("a{}z", char::from(b))))
            .collect();
        tricky.insert("ünï\"cødé\\".into(), "日本語 \u{7f} \u{2028} ✓".into());
        tricky.insert(String::new(), String::new());
        for m in [&v, &tricky, &BTreeMap::new()] {
            assert_eq!(fingerprint_texts(m), fingerprint(m));
        }
        // A diff against the stored fingerprint: the same values need no map, others do.
        let fields = || cfg.push_for(ObjectKind::Visitor);
        let same = diff_record(fields(), &input, 20_000, Some(&fp));
        assert_eq!(
            (same.fingerprint.as_str(), same.values),
            (fp.as_str(), None)
        );
        let other = diff_record(fields(), &input, 20_000, Some("stale"));
        assert_eq!(other.values.as_ref(), Some(&v));
        // Fields in property order (as the push passes them) skip the sort: same bits.
        let sorted = in_property_order(fields());
        assert_ne!(
            sorted,
            fields().collect::<Vec<_>>(),
            "the config's order is not sorted"
        );
        let presorted = diff_record(sorted.into_iter(), &input, 20_000, Some("stale"));
        assert_eq!(
            (presorted.fingerprint, presorted.values),
            (fp.clone(), Some(v.clone()))
        );
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
