//! One error body for every HTTP surface: `{"code", "message", "field"?, "action"?}`. Bad input is a 4xx
//! naming the field; internal failures are a 500 with a generic message (details only in logs,
//! and never a secret).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::domain::ValidationError;
use crate::store::StoreError;

/// The error body of every route.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ApiError {
    #[serde(skip)]
    #[schema(ignore)]
    pub status: StatusCode,
    /// Machine-readable: `bad_request`, `invalid_field`, `invalid_body`, `not_found`,
    /// `unauthorized`, `forbidden`, `conflict`, `upstream_error`, `unsupported_media_type`,
    /// `body_too_large`, `internal`, …
    #[schema(value_type = String)]
    pub code: &'static str,
    /// For people: what is wrong and what to do.
    pub message: String,
    /// The request field at fault, as a path (`pull[0].pendo_field`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What an admin must do when only an admin can fix it (`needs_attention` errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            action: None,
        }
    }
    /// 409 `needs_attention`: the error, and the admin's remedy in `action`.
    pub fn needs_attention(attention: &crate::domain::Attention) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "needs_attention",
            attention.reason.clone(),
        );
        e.action = Some(attention.action.clone());
        e
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).field(field)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
    }
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConditionFailed { .. } => ApiError::conflict(
                "the resource changed concurrently or already exists; reload and retry",
            ),
            other => ApiError::internal("store", other),
        }
    }
}

impl From<crate::secrets::SecretsError> for ApiError {
    fn from(e: crate::secrets::SecretsError) -> Self {
        ApiError::internal("secrets", e)
    }
}

impl From<crate::queue::QueueError> for ApiError {
    fn from(e: crate::queue::QueueError) -> Self {
        ApiError::internal("queue", e)
    }
}

/// Any error answered without our body (a framework rejection such as an undecodable path
/// segment) gets it, so every error a client sees has the documented shape.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_media_type);
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text.trim().to_string()
    };
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    ApiError::new(status, code, message).into_response()
}

/// JSON body extractor whose rejections use our error body and name the problem: the body must
/// be a JSON object, and a field of the wrong type is named by its path.
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_ct = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_media_type);
        if !json_ct {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Content-Type must be application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("request body rejected: {}", e.body_text()),
                )
            })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::bad_request("body is not valid UTF-8"))?;
        let value = parse_unique_keys(text)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
        if !value.is_object() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "the body must be a JSON object",
            ));
        }
        serde_path_to_error::deserialize(value.clone())
            .map(JsonBody)
            .map_err(|e| {
                let message = e.inner().to_string();
                let mut err = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    message.clone(),
                );
                err.field = field_path(&e.path().to_string(), &message, &value);
                err
            })
    }
}

/// The full path of the field a deserialisation error is about. serde reports some errors at
/// the parent object (`rules[0]`): a missing or unknown field by name ("missing field `id`"),
/// and every error inside an internally tagged enum (serde buffers its fields, so the path
/// stops at the enum). The name is appended when the message and the body (`body`) say which
/// field it is: the named field, the key holding the unknown variant, or the one key whose value
/// is the "invalid type/value" the message describes. `None` for the body as a whole.
fn field_path(path: &str, message: &str, body: &serde_json::Value) -> Option<String> {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|m| m.split('`').next())
        .map(str::to_string)
        .or_else(|| culprit_key(value_at(body, path)?, message));
    match (path, named) {
        (".", None) => None,
        (".", Some(f)) => Some(f),
        (p, Some(f)) => Some(format!("{p}.{f}")),
        (p, None) => Some(p.to_string()),
    }
}

/// The value at a serde_path_to_error path (`.`, `a.b`, `rules[1]`, `a[0].b`).
fn value_at<'v>(body: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    if path == "." {
        return Some(body);
    }
    let mut at = body;
    for segment in path.split('.') {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            at = at.get(key)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            at = at.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(at)
}

/// The one key of `object` that an "unknown variant `x`" or "invalid type/value: <v>" message
/// is about, if exactly one value matches.
fn culprit_key(object: &serde_json::Value, message: &str) -> Option<String> {
    use serde_json::Value;
    let map = object.as_object()?;
    let variant = message
        .strip_prefix("unknown variant `")
        .and_then(|m| m.split('`').next());
    let unexpected = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|m| m.rsplit_once(", expected").map(|(u, _)| u));
    let described = |v: &Value| -> Vec<String> {
        match v {
            Value::Null => vec!["null".into(), "unit value".into()],
            Value::Bool(b) => vec![format!("boolean `{b}`")],
            Value::Number(n) if n.is_f64() => vec![format!("floating point `{n}`")],
            Value::Number(n) => vec![format!("integer `{n}`")],
            Value::String(s) => vec![format!("string {s:?}")],
            Value::Array(_) => vec!["sequence".into()],
            Value::Object(_) => vec!["map".into()],
        }
    };
    let mut hits = map.iter().filter(|(_, v)| match (variant, unexpected) {
        (Some(x), _) => v.as_str() == Some(x),
        (None, Some(u)) => described(v).iter().any(|d| d == u),
        _ => false,
    });
    match (hits.next(), hits.next()) {
        (Some((k, _)), None) => Some(k.clone()),
        _ => None,
    }
}

/// `application/json` by its media type (RFC 9110 §8.3.1: type and subtype are
/// case-insensitive; parameters such as `charset` follow a `;`). `application/jsonp` is not JSON.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Parses JSON, refusing an object that names a key twice: serde_json would keep the last one
/// silently, so a request could mean two things. The error names the key.
pub fn parse_unique_keys(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let v = UniqueKeys.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct UniqueKeys;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys {
    type Value = serde_json::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(UniqueKeys)? {
            out.push(v);
        }
        Ok(out.into())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(UniqueKeys)?;
            if out.insert(k.clone(), v).is_some() {
                return Err(serde::de::Error::custom(format!("duplicate key \"{k}\"")));
            }
        }
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_fields_are_named_in_full() {
        assert_eq!(
            field_path("rules[0]", "missing field `id`", &serde_json::Value::Null).as_deref(),
            Some("rules[0].id")
        );
        assert_eq!(
            field_path(".", "missing field `id`", &serde_json::Value::Null).as_deref(),
            Some("id")
        );
        assert_eq!(
            field_path(".", "expected a map", &serde_json::Value::Null).as_deref(),
            None
        );
        assert_eq!(
            field_path(
                "pull[1].object",
                "unknown variant `x`",
                &serde_json::json!({"pull": [{}, {"object": "x"}]})
            )
            .as_deref(),
            Some("pull[1].object")
        );
    }

    #[test]
    fn errors_inside_tagged_enums_name_the_field() {
        let body = json!({"rules": [{"id": "a"}, {"id": "c", "type": "teleport", "drop_percent": "x", "n": 1.5}]});
        let at = |m: &str| field_path("rules[1]", m, &body);
        assert_eq!(
            at("unknown variant `teleport`, expected one of `a`").as_deref(),
            Some("rules[1].type")
        );
        assert_eq!(
            at("invalid type: string \"x\", expected f64").as_deref(),
            Some("rules[1].drop_percent")
        );
        assert_eq!(
            at("invalid type: floating point `1.5`, expected u32").as_deref(),
            Some("rules[1].n")
        );
        assert_eq!(
            at("missing field `pipeline`").as_deref(),
            Some("rules[1].pipeline")
        );
        // Two keys hold the value the message describes: no guess.
        let twice = json!({"a": "x", "b": "x"});
        assert_eq!(
            field_path(".", "invalid type: string \"x\", expected u8", &twice),
            None
        );
        assert_eq!(
            field_path(".", "unknown field `zzz`, expected `a`", &twice).as_deref(),
            Some("zzz")
        );
    }

    #[test]
    fn media_types_are_parsed_not_prefixed() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("APPLICATION/JSON; charset=utf-8"));
        assert!(!is_json_media_type("application/jsonp"));
        assert!(!is_json_media_type("text/json"));
    }

    #[test]
    fn a_key_named_twice_is_refused_at_any_depth() {
        assert!(parse_unique_keys(r#"{"a":1,"b":{"c":2}}"#).is_ok());
        let e = parse_unique_keys(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key \"a\""), "{e}");
        assert!(parse_unique_keys(r#"{"x":[{"k":1,"k":1}]}"#).is_err());
        assert_eq!(
            parse_unique_keys(r#"{"n":12345678901234567890}"#).unwrap()["n"],
            serde_json::json!(12345678901234567890u64)
        );
    }
}
