//! HubSpot webhooks: the v3 request signature and the event payload.
//!
//! Signature (../shared/reference/hubspot.md §7, HubSpot changelog "introducing version 3 of
//! webhook signatures", HubSpot's Python SDK `hubspot/utils/signature.py`): headers
//! `X-HubSpot-Signature-v3` (base64 HMAC-SHA256) and `X-HubSpot-Request-Timestamp` (epoch ms);
//! the signed string is `method + uri + body + timestamp`, keyed with the app's client secret;
//! requests older than 5 minutes are refused; the comparison is constant-time.
//!
//! Events (same §7): a JSON array of `{eventId, subscriptionId, portalId, appId, occurredAt,
//! subscriptionType, attemptNumber, objectId, changeSource, propertyName, propertyValue}`;
//! merges add `primaryObjectId`, `mergedObjectIds` and `newObjectId`.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::domain::ObjectKind;

pub const SIGNATURE_HEADER: &str = "x-hubspot-signature-v3";
pub const TIMESTAMP_HEADER: &str = "x-hubspot-request-timestamp";
/// HubSpot's `MAX_ALLOWED_TIMESTAMP` (300 s), in milliseconds.
pub const MAX_AGE_MS: i64 = 5 * 60 * 1000;

/// Why a request's signature was refused. Never carries the secret or the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or unreadable header {0}")]
    MissingHeader(&'static str),
    #[error("request timestamp is more than 5 minutes away from now")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// HubSpot percent-encodes these characters in the URI it signs and expects them decoded
/// (the table on HubSpot's request-validation page, as HubSpot's client libraries apply it).
const DECODED: [(&str, &str); 12] = [
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

fn decode_uri(uri: &str) -> String {
    let mut out = uri.to_string();
    for (enc, dec) in DECODED {
        out = out.replace(enc, dec).replace(&enc.to_lowercase(), dec);
    }
    out
}

/// The `X-HubSpot-Signature-v3` value for a request: base64(HMAC-SHA256(secret,
/// method + uri + body + timestamp)). `uri` is the full URL HubSpot called (scheme, host,
/// path, query).
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(method.as_bytes());
    mac.update(decode_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// One request as received, for [`verify_v3`].
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub body: &'a [u8],
    pub signature: Option<&'a str>,
    /// The raw `X-HubSpot-Request-Timestamp` header (epoch ms).
    pub timestamp: Option<&'a str>,
}

/// Checks a request's v3 signature at `now_ms`. A timestamp more than 5 minutes in the past
/// (or, from a skewed clock, in the future) is refused before the HMAC is computed.
pub fn verify_v3(secret: &str, req: &SignedRequest<'_>, now_ms: i64) -> Result<(), SignatureError> {
    let signature = req
        .signature
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::MissingHeader(SIGNATURE_HEADER))?;
    let ts: i64 = req
        .timestamp
        .and_then(|t| t.trim().parse().ok())
        .ok_or(SignatureError::MissingHeader(TIMESTAMP_HEADER))?;
    if (now_ms - ts).abs() > MAX_AGE_MS {
        return Err(SignatureError::Stale);
    }
    let expected = sign_v3(secret, req.method, req.uri, req.body, ts);
    if crate::api::constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// One event of a delivery, as HubSpot sends it (unknown fields ignored).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawHubSpotEvent {
    pub event_id: Option<serde_json::Value>,
    pub portal_id: Option<u64>,
    pub occurred_at: Option<i64>,
    pub subscription_type: Option<String>,
    pub object_id: Option<u64>,
    #[serde(default)]
    pub property_name: Option<String>,
    #[serde(default)]
    pub change_source: Option<String>,
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub primary_object_id: Option<u64>,
    #[serde(default)]
    pub merged_object_ids: Vec<u64>,
    #[serde(default)]
    pub new_object_id: Option<u64>,
}

/// What an event means for the sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Created, restored, a property changed, or an association changed: read it again.
    Changed,
    /// Deleted in HubSpot: stop syncing it.
    Deleted,
    /// Merged into `survivor`: the join moves there.
    MergedInto(u64),
}

/// A validated event: one record of one object kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubSpotEvent {
    pub event_id: String,
    pub portal_id: u64,
    pub kind: ObjectKind,
    pub object_id: u64,
    /// Epoch milliseconds.
    pub occurred_at_ms: i64,
    pub change: Change,
    /// The changed property, for `*.propertyChange`.
    pub property: Option<String>,
    pub change_source: Option<String>,
}

impl RawHubSpotEvent {
    /// Validates one event into the records it touches (a merge names every merged id);
    /// `Ok(vec![])` for a subscription type the sync does not use. `Err` names the field.
    pub fn validate(self) -> Result<Vec<HubSpotEvent>, (&'static str, String)> {
        let event_id = match self.event_id {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= 100 => s,
            _ => return Err(("eventId", "is required".into())),
        };
        let portal_id = self.portal_id.ok_or(("portalId", "is required".into()))?;
        let occurred_at_ms = self
            .occurred_at
            .filter(|t| *t > 0)
            .ok_or(("occurredAt", "is required (epoch ms)".into()))?;
        let sub = self
            .subscription_type
            .ok_or(("subscriptionType", "is required".into()))?;
        let (object, action) = sub
            .split_once('.')
            .ok_or(("subscriptionType", format!("'{sub}' is not object.action")))?;
        let kind = match object {
            "contact" => ObjectKind::Visitor,
            "company" => ObjectKind::Account,
            _ => return Ok(Vec::new()),
        };
        let object_id = self.object_id.ok_or(("objectId", "is required".into()))?;
        let base = HubSpotEvent {
            event_id,
            portal_id,
            kind,
            object_id,
            occurred_at_ms,
            change: Change::Changed,
            property: self.property_name,
            change_source: self.change_source,
        };
        Ok(match action {
            "propertyChange" | "creation" | "restore" | "associationChange" => vec![base],
            "deletion" | "privacyDeletion" => vec![HubSpotEvent {
                change: Change::Deleted,
                ..base
            }],
            "merge" => {
                let survivor = self
                    .new_object_id
                    .or(self.primary_object_id)
                    .unwrap_or(object_id);
                let mut out: Vec<HubSpotEvent> = self
                    .merged_object_ids
                    .iter()
                    .chain(self.primary_object_id.iter())
                    .filter(|id| **id != survivor)
                    .map(|id| HubSpotEvent {
                        object_id: *id,
                        change: Change::MergedInto(survivor),
                        ..base.clone()
                    })
                    .collect();
                out.push(HubSpotEvent {
                    object_id: survivor,
                    ..base
                });
                out
            }
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_764_460_800_000;

    fn req<'a>(sig: &'a str, ts: &'a str, body: &'a [u8]) -> SignedRequest<'a> {
        SignedRequest {
            method: "POST",
            uri: "https://hooks.example.com/webhooks/hubspot",
            body,
            signature: Some(sig),
            timestamp: Some(ts),
        }
    }

    #[test]
    fn known_vector() {
        // Computed independently: printf 'POSThttps://example.com/hook{"a":1}1700000000000'
        //   | openssl dgst -sha256 -hmac secret -binary | base64
        assert_eq!(
            sign_v3(
                "secret",
                "POST",
                "https://example.com/hook",
                br#"{"a":1}"#,
                1_700_000_000_000
            ),
            "hqBIlfEV33VJdmaT5HywrynIn3NURN7MPP8XagCfa14="
        );
    }

    #[test]
    fn valid_stale_wrong_secret_tampered_missing() {
        let body = br#"[{"eventId":1}]"#;
        let ts = NOW.to_string();
        let sig = sign_v3(
            "s3cret",
            "POST",
            "https://hooks.example.com/webhooks/hubspot",
            body,
            NOW,
        );
        assert_eq!(
            verify_v3("s3cret", &req(&sig, &ts, body), NOW + 1000),
            Ok(())
        );
        assert_eq!(
            verify_v3("s3cret", &req(&sig, &ts, body), NOW + MAX_AGE_MS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_v3("other", &req(&sig, &ts, body), NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_v3("s3cret", &req(&sig, &ts, br#"[{"eventId":2}]"#), NOW),
            Err(SignatureError::Mismatch)
        );
        let mut missing = req(&sig, &ts, body);
        missing.signature = None;
        assert_eq!(
            verify_v3("s3cret", &missing, NOW),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER))
        );
        let mut missing = req(&sig, &ts, body);
        missing.timestamp = None;
        assert_eq!(
            verify_v3("s3cret", &missing, NOW),
            Err(SignatureError::MissingHeader(TIMESTAMP_HEADER))
        );
    }

    #[test]
    fn encoded_uri_characters_are_signed_decoded() {
        let a = sign_v3("k", "POST", "https://h.test/w?x=a%3Ab", b"", 1);
        let b = sign_v3("k", "POST", "https://h.test/w?x=a:b", b"", 1);
        assert_eq!(a, b);
    }

    #[test]
    fn merge_names_every_merged_record() {
        let raw: RawHubSpotEvent = serde_json::from_value(json!({
            "eventId": 77, "portalId": 9, "occurredAt": NOW, "subscriptionType": "contact.merge",
            "objectId": 300, "primaryObjectId": 300, "mergedObjectIds": [200, 300], "newObjectId": 300
        }))
        .unwrap();
        let evs = raw.validate().unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].object_id, 200);
        assert_eq!(evs[0].change, Change::MergedInto(300));
        assert_eq!(evs[1].object_id, 300);
        assert_eq!(evs[1].change, Change::Changed);
        let deal: RawHubSpotEvent = serde_json::from_value(json!({
            "eventId": "e", "portalId": 9, "occurredAt": NOW, "subscriptionType": "deal.creation", "objectId": 1
        }))
        .unwrap();
        assert_eq!(deal.validate().unwrap(), vec![]);
        let bad: RawHubSpotEvent =
            serde_json::from_value(json!({"eventId": 1, "occurredAt": NOW})).unwrap();
        assert_eq!(bad.validate().unwrap_err().0, "portalId");
    }
}
