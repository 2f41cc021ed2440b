//! OAuth `state`: binds the tenant, expires after 10 minutes, is HMAC-SHA256-signed with the
//! app's state key, and carries a nonce so the callback can accept it once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::TenantId;
use crate::secret::SecretString;

pub const STATE_TTL_SECS: i64 = 600;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatePayload {
    #[serde(rename = "t")]
    pub tenant: TenantId,
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// The admin asked to replace an already connected portal.
    #[serde(rename = "r", default)]
    pub reconnect: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the sign-in link is malformed or was tampered with")]
    Tampered,
    #[error("the sign-in link expired; start the connection again")]
    Expired,
}

fn mac(key: &SecretString) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length")
}

pub fn sign(
    key: &SecretString,
    tenant: &TenantId,
    reconnect: bool,
    now: i64,
) -> (String, StatePayload) {
    let payload = StatePayload {
        tenant: tenant.clone(),
        nonce: uuid::Uuid::new_v4().simple().to_string(),
        expires_at: now + STATE_TTL_SECS,
        reconnect,
    };
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).expect("payload serialises"));
    let mut m = mac(key);
    m.update(body.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    (format!("{body}.{sig}"), payload)
}

pub fn verify(key: &SecretString, state: &str, now: i64) -> Result<StatePayload, StateError> {
    let (body, sig) = state.split_once('.').ok_or(StateError::Tampered)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| StateError::Tampered)?;
    let mut m = mac(key);
    m.update(body.as_bytes());
    m.verify_slice(&sig).map_err(|_| StateError::Tampered)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| StateError::Tampered)?;
    let payload: StatePayload = serde_json::from_slice(&bytes).map_err(|_| StateError::Tampered)?;
    if payload.expires_at <= now {
        return Err(StateError::Expired);
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_expire_tamper() {
        let key = SecretString::new("k1");
        let t = TenantId::parse("acme").unwrap();
        let (s, p) = sign(&key, &t, false, 1000);
        assert_eq!(verify(&key, &s, 1001).unwrap(), p);
        assert_eq!(
            verify(&key, &s, 1000 + STATE_TTL_SECS),
            Err(StateError::Expired)
        );
        assert_eq!(
            verify(&SecretString::new("k2"), &s, 1001),
            Err(StateError::Tampered)
        );
        let mut forged = s.clone();
        forged.replace_range(0..1, if s.starts_with('e') { "f" } else { "e" });
        assert_eq!(verify(&key, &forged, 1001), Err(StateError::Tampered));
        assert_eq!(verify(&key, "garbage", 1001), Err(StateError::Tampered));
    }
}
