//! Identifiers that are validated once, at the edge, so the rest of the code can trust them.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::ValidationError;

/// A tenant id: 3–64 characters of `[a-z0-9-]`, starting with a letter or digit.
/// It becomes part of DynamoDB keys, secret names and URLs, so it must never need escaping.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok_len = (3..=64).contains(&raw.len());
        let ok_chars = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let ok_start = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if ok_len && ok_chars && ok_start {
            Ok(Self(raw.to_string()))
        } else {
            Err(ValidationError::new(
                "tenant_id",
                "must be 3-64 characters of a-z, 0-9 and '-', starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

/// Pattern of a tenant id, for the OpenAPI document (the same rule as [`TenantId::parse`]).
pub const TENANT_ID_PATTERN: &str = "^[a-z0-9][a-z0-9-]{2,63}$";

impl utoipa::PartialSchema for TenantId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(TENANT_ID_PATTERN))
            .min_length(Some(3))
            .max_length(Some(64))
            .description(Some(
                "3-64 characters of a-z, 0-9 and '-', starting with a letter or digit",
            ))
            .into()
    }
}

impl utoipa::ToSchema for TenantId {}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Time-sortable run id (`r` + UTC timestamp + random suffix), so run history pages newest-first by key order.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[schema(value_type = String)]
pub struct RunId(pub String);

impl RunId {
    pub fn new_at(now: chrono::DateTime<chrono::Utc>) -> Self {
        let suffix: u32 = rand::random();
        Self(format!(
            "r{}-{:08x}",
            now.format("%Y%m%dT%H%M%S%3f"),
            suffix
        ))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_id_rules() {
        assert!(TenantId::parse("acme-01").is_ok());
        for bad in ["", "ab", "-abc", "ACME", "a b c", "acme#1", &"a".repeat(65)] {
            let err = TenantId::parse(bad).unwrap_err();
            assert_eq!(err.field, "tenant_id", "{bad}");
        }
    }

    #[test]
    fn tenant_id_deserialize_validates() {
        assert!(serde_json::from_str::<TenantId>("\"ok-tenant\"").is_ok());
        assert!(serde_json::from_str::<TenantId>("\"Bad Tenant\"").is_err());
    }
}
