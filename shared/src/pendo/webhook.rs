//! Pendo webhook payloads (URL webhooks). Field names follow Pendo's published example
//! (`event`, `uniqueId`, `visitorId`, `accountId`, `timestamp`, `properties`); the NPS/poll
//! answer fields are not documented, so several spellings are accepted.

use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum WebhookKind {
    NpsSubmitted,
    PollSubmitted,
    GuideDisplayed,
    TrackEvent,
    VisitorFirstSeen,
    AccountFirstSeen,
    /// A type we do not use: accepted and ignored.
    Other(String),
}

impl WebhookKind {
    pub fn parse(name: &str) -> Self {
        match name {
            "npsSubmitted" | "NPSSubmitted" => WebhookKind::NpsSubmitted,
            "pollSubmitted" => WebhookKind::PollSubmitted,
            "guideDisplayed" => WebhookKind::GuideDisplayed,
            "trackEvent" | "trackEventReceived" => WebhookKind::TrackEvent,
            "visitorCreated" | "visitorFirstSeen" => WebhookKind::VisitorFirstSeen,
            "accountCreated" | "accountFirstSeen" => WebhookKind::AccountFirstSeen,
            other => WebhookKind::Other(other.to_string()),
        }
    }

    /// Events that change what the sync pushes.
    pub fn relevant(&self) -> bool {
        !matches!(self, WebhookKind::Other(_) | WebhookKind::GuideDisplayed)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct RawWebhookEvent {
    pub event: Option<String>,
    #[serde(rename = "uniqueId")]
    pub unique_id: Option<String>,
    #[serde(rename = "visitorId")]
    pub visitor_id: Option<Value>,
    #[serde(rename = "accountId")]
    pub account_id: Option<Value>,
    pub timestamp: Option<Value>,
    #[serde(default)]
    pub properties: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEvent {
    pub kind: WebhookKind,
    pub unique_id: String,
    pub visitor_id: Option<String>,
    pub account_id: Option<String>,
    /// Epoch milliseconds.
    pub timestamp_ms: Option<i64>,
    pub nps_score: Option<u8>,
}

/// Webhook timestamps are seconds in Pendo's example, the API uses milliseconds: anything
/// below 10^11 (year 5138 in seconds, 1973 in ms) is taken as seconds.
pub fn timestamp_ms(v: &Value) -> Option<i64> {
    let n = v
        .as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    Some(if n < 1e11 {
        (n * 1000.0) as i64
    } else {
        n as i64
    })
}

/// The earliest event time we accept: 2010-01-01T00:00:00Z, before Pendo existed (2013).
pub const EARLIEST_EVENT_MS: i64 = 1_262_304_000_000;
/// How far ahead of our clock an event may be stamped (clock skew), in milliseconds.
pub const MAX_FUTURE_SKEW_MS: i64 = 24 * 3600 * 1000;

/// An event stamped before Pendo existed or more than a day ahead of now is a broken sender
/// (1970 from a zero default, 2999 from a sentinel), not data to sync.
fn plausible(ms: i64, now_ms: i64) -> Result<i64, (&'static str, String)> {
    if ms < EARLIEST_EVENT_MS || ms > now_ms + MAX_FUTURE_SKEW_MS {
        let shown = chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| ms.to_string());
        return Err((
            "timestamp",
            format!("{shown} is not a plausible event time (2010-01-01 up to one day from now)"),
        ));
    }
    Ok(ms)
}

fn id(v: &Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

impl RawWebhookEvent {
    /// Validates one event against the current time; `Err` names the field.
    pub fn validate(self) -> Result<WebhookEvent, (&'static str, String)> {
        self.validate_at(chrono::Utc::now().timestamp_millis())
    }

    /// Validates one event as of `now_ms` (epoch milliseconds); `Err` names the field.
    pub fn validate_at(self, now_ms: i64) -> Result<WebhookEvent, (&'static str, String)> {
        let kind = WebhookKind::parse(
            self.event
                .as_deref()
                .ok_or(("event", "is required".to_string()))?,
        );
        let unique_id = self
            .unique_id
            .filter(|u| !u.is_empty() && u.len() <= 200)
            .ok_or(("uniqueId", "is required (1-200 characters)".to_string()))?;
        let timestamp_ms = match &self.timestamp {
            None => None,
            Some(v) => {
                let ms = timestamp_ms(v).ok_or((
                    "timestamp",
                    "must be epoch seconds or milliseconds".to_string(),
                ))?;
                Some(plausible(ms, now_ms)?)
            }
        };
        let p = &self.properties;
        let nps_score = ["pollResponse", "score", "response"]
            .iter()
            .find_map(|k| {
                p.get(*k)
                    .or_else(|| p.get("pollResponse").and_then(|r| r.get(*k)))
            })
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .filter(|s| *s <= 10)
            .map(|s| s as u8);
        Ok(WebhookEvent {
            kind,
            unique_id,
            visitor_id: id(&self.visitor_id),
            account_id: id(&self.account_id),
            timestamp_ms,
            nps_score,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seconds_and_milliseconds() {
        assert_eq!(timestamp_ms(&json!(1626803876)), Some(1_626_803_876_000));
        assert_eq!(
            timestamp_ms(&json!(1626803876123i64)),
            Some(1_626_803_876_123)
        );
        assert_eq!(timestamp_ms(&json!("1626803876")), Some(1_626_803_876_000));
        assert_eq!(timestamp_ms(&json!(-1)), None);
    }

    #[test]
    fn parses_pendo_example() {
        let raw: RawWebhookEvent = serde_json::from_value(json!({
            "app": {"id": -323232}, "accountId": "Webhook Account", "event": "guideDisplayed",
            "properties": {"guideId": "Kg92"}, "timestamp": 1626803876, "visitorId": "Webhook Visitor",
            "uniqueId": "f9610795860d89fe29491846fe297bcc922e460b"
        }))
        .unwrap();
        let e = raw.validate().unwrap();
        assert_eq!(e.kind, WebhookKind::GuideDisplayed);
        assert_eq!(e.visitor_id.as_deref(), Some("Webhook Visitor"));
        assert_eq!(e.timestamp_ms, Some(1_626_803_876_000));
        let nps: RawWebhookEvent = serde_json::from_value(json!({
            "event": "npsSubmitted", "uniqueId": "u1", "visitorId": "v1", "properties": {"pollResponse": 9}
        }))
        .unwrap();
        assert_eq!(nps.validate().unwrap().nps_score, Some(9));
        let missing: RawWebhookEvent =
            serde_json::from_value(json!({"event": "npsSubmitted"})).unwrap();
        assert_eq!(missing.validate().unwrap_err().0, "uniqueId");
    }

    #[test]
    fn impossible_timestamps_name_the_field() {
        // 2026-11-30T00:00:00Z
        let now = 1_796_083_200_000i64;
        let event = |ts: Value| -> RawWebhookEvent {
            serde_json::from_value(
                json!({"event": "npsSubmitted", "uniqueId": "u", "timestamp": ts}),
            )
            .unwrap()
        };
        for bad in [
            json!(0),
            json!(86_400),
            json!(32_503_680_000i64),
            json!(32_503_680_000_000i64),
        ] {
            let (field, msg) = event(bad.clone()).validate_at(now).unwrap_err();
            assert_eq!(field, "timestamp", "{bad}");
            assert!(msg.contains("not a plausible event time"), "{msg}");
        }
        // An hour of clock skew ahead is fine; seconds and milliseconds both land on one instant.
        let skewed = event(json!(now / 1000 + 3600)).validate_at(now).unwrap();
        assert_eq!(skewed.timestamp_ms, Some(now + 3_600_000));
        assert_eq!(
            event(json!(1626803876123i64))
                .validate_at(now)
                .unwrap()
                .timestamp_ms,
            Some(1_626_803_876_123)
        );
    }
}
