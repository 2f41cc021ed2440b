//! Every HubSpot path the client uses. The v3/v4 paths retire in September 2027; the
//! date-versioned equivalents take the same bodies, so switching is a change here only.

pub const TOKEN: &str = "/oauth/v3/token";
pub const INTROSPECT: &str = "/oauth/v3/token/introspect";
pub const REVOKE: &str = "/oauth/v3/token/revoke";
pub const AUTHORIZE: &str = "https://app.hubspot.com/oauth/authorize";

const OBJECTS: &str = "/crm/v3/objects";
const PROPERTIES: &str = "/crm/v3/properties";

pub fn batch(object: &str, op: &str) -> String {
    format!("{OBJECTS}/{object}/batch/{op}")
}

pub fn search(object: &str) -> String {
    format!("{OBJECTS}/{object}/search")
}

pub fn properties(object: &str) -> String {
    format!("{PROPERTIES}/{object}")
}

pub fn properties_batch_create(object: &str) -> String {
    format!("{PROPERTIES}/{object}/batch/create")
}

pub fn group(object: &str, name: &str) -> String {
    format!("{PROPERTIES}/{object}/groups/{name}")
}

pub fn groups(object: &str) -> String {
    format!("{PROPERTIES}/{object}/groups")
}

pub fn object(object: &str) -> String {
    format!("{OBJECTS}/{object}")
}

pub fn object_id(object: &str, id: &str) -> String {
    format!("{OBJECTS}/{object}/{id}")
}

pub const DEAL_PIPELINES: &str = "/crm/v3/pipelines/deals";

/// Associations stay on v4 until the date-versioned associations API is adopted (before 2027-03-30).
pub fn associations(from: &str, id: &str, to: &str) -> String {
    format!("/crm/v4/objects/{from}/{id}/associations/{to}?limit=500")
}
