//! Every HubSpot path the client uses, for both path families (reference/hubspot.md §0).
//!
//! HubSpot's date-versioned paths (`2026-03`) take and return the same bodies as the legacy
//! `/crm/v3`, `/crm/v4` and `/oauth/v3` ones (§0: "every v3 schema unchanged"), so a family is
//! a choice of prefix only. The legacy family ends in September 2027; v4 associations must move
//! before 2027-03-30. One difference in bodies: 2026-03 requires `displayOrder` on enumeration
//! options, which [`super::pendo_property_specs`] always sends.
//!
//! | call | 2026-03 | legacy |
//! |---|---|---|
//! | token, introspect, revoke | `/oauth/2026-03/token[/introspect\|/revoke]` | `/oauth/v3/token[…]` |
//! | list / create properties | `/crm/properties/2026-03/{object}[/batch/create]` | `/crm/v3/properties/…` |
//! | property groups | `/crm/properties/2026-03/{object}/groups[/{name}]` | `/crm/v3/properties/…/groups…` |
//! | batch read/update/upsert | `/crm/objects/2026-03/{object}/batch/{op}` | `/crm/v3/objects/…` |
//! | search | `/crm/objects/2026-03/{object}/search` | `/crm/v3/objects/…/search` |
//! | create / update one record | `/crm/objects/2026-03/{object}[/{id}]` | `/crm/v3/objects/…` |
//! | a record's associations | `/crm/objects/2026-03/{object}/{id}/associations/{to}` | `/crm/v4/objects/…` |
//! | deal pipelines | none published: `/crm/v3/pipelines/deals` in both | `/crm/v3/pipelines/deals` |
//! | owners | `/crm/v3/owners` in both (the owners guide's path) | `/crm/v3/owners` |

pub use crate::domain::HubSpotApiVersion;

/// The install page (not versioned).
pub const AUTHORIZE: &str = "https://app.hubspot.com/oauth/authorize";

/// Pipelines have no date-versioned path in what HubSpot published (only `/crm/v3/pipelines`),
/// so both families read them here; revisit before the legacy paths end in September 2027.
pub const DEAL_PIPELINES: &str = "/crm/v3/pipelines/deals";

/// Owners: HubSpot's owners guide documents `/crm/v3/owners` (v2 was retired in March 2025);
/// read there in both families, like pipelines.
pub const OWNERS: &str = "/crm/v3/owners";

/// The paths of one family. Cheap to copy; built from a tenant's [`HubSpotApiVersion`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paths(pub HubSpotApiVersion);

impl Paths {
    fn objects_root(self) -> &'static str {
        match self.0 {
            HubSpotApiVersion::V2026_03 => "/crm/objects/2026-03",
            HubSpotApiVersion::Legacy => "/crm/v3/objects",
        }
    }

    fn properties_root(self) -> &'static str {
        match self.0 {
            HubSpotApiVersion::V2026_03 => "/crm/properties/2026-03",
            HubSpotApiVersion::Legacy => "/crm/v3/properties",
        }
    }

    fn oauth_root(self) -> &'static str {
        match self.0 {
            HubSpotApiVersion::V2026_03 => "/oauth/2026-03",
            HubSpotApiVersion::Legacy => "/oauth/v3",
        }
    }

    /// `POST` form: authorization-code and refresh grants (§1).
    pub fn token(self) -> String {
        format!("{}/token", self.oauth_root())
    }

    /// `POST` form: `{active, hub_id, …}` of a token (§1).
    pub fn introspect(self) -> String {
        format!("{}/token/introspect", self.oauth_root())
    }

    /// `POST` form: revokes a refresh token (§1).
    pub fn revoke(self) -> String {
        format!("{}/token/revoke", self.oauth_root())
    }

    /// `POST` `{inputs}`: `op` is `read`, `update`, `upsert` or `create` (§3).
    pub fn batch(self, object: &str, op: &str) -> String {
        format!("{}/{object}/batch/{op}", self.objects_root())
    }

    /// `POST` search body (§4).
    pub fn search(self, object: &str) -> String {
        format!("{}/{object}/search", self.objects_root())
    }

    /// `GET`: every property of an object type (§2).
    pub fn properties(self, object: &str) -> String {
        format!("{}/{object}", self.properties_root())
    }

    /// `POST {inputs:[PropertyCreate]}` (§2).
    pub fn properties_batch_create(self, object: &str) -> String {
        format!("{}/{object}/batch/create", self.properties_root())
    }

    /// `GET` one property group (404 when absent) (§2).
    pub fn group(self, object: &str, name: &str) -> String {
        format!("{}/{object}/groups/{name}", self.properties_root())
    }

    /// `POST {name, label, displayOrder}` creates a group (§2).
    pub fn groups(self, object: &str) -> String {
        format!("{}/{object}/groups", self.properties_root())
    }

    /// `POST {properties, associations}` creates one record (§5).
    pub fn object(self, object: &str) -> String {
        format!("{}/{object}", self.objects_root())
    }

    /// `PATCH {properties}` updates one record (§5).
    pub fn object_id(self, object: &str, id: &str) -> String {
        format!("{}/{object}/{id}", self.objects_root())
    }

    /// `GET`: one record's associations to `to` records, up to 500 (§5). The 2026-03 family
    /// puts record associations under the objects path (HubSpot's 2026-03 "associate records"
    /// reference: `/crm/objects/2026-03/{objectType}/{objectId}/associations/{toObjectType}/…`).
    pub fn associations(self, from: &str, id: &str, to: &str) -> String {
        match self.0 {
            HubSpotApiVersion::V2026_03 => {
                format!("/crm/objects/2026-03/{from}/{id}/associations/{to}?limit=500")
            }
            HubSpotApiVersion::Legacy => {
                format!("/crm/v4/objects/{from}/{id}/associations/{to}?limit=500")
            }
        }
    }

    fn events_root(self) -> &'static str {
        match self.0 {
            HubSpotApiVersion::V2026_03 => "/events/2026-03",
            HubSpotApiVersion::Legacy => "/events/v3",
        }
    }

    /// `GET ?limit&after` lists / `POST` creates custom event definitions (§7b; the 2026-03
    /// twin follows the documented `/events/2026-03/send/batch` prefix).
    pub fn event_definitions(self) -> String {
        format!("{}/event-definitions", self.events_root())
    }

    /// `POST {inputs:[…]}` sends custom event occurrences; success has no body (§7b).
    pub fn event_send_batch(self) -> String {
        format!("{}/send/batch", self.events_root())
    }

    fn lists_root(self) -> &'static str {
        match self.0 {
            HubSpotApiVersion::V2026_03 => "/crm/lists/2026-03",
            HubSpotApiVersion::Legacy => "/crm/v3/lists",
        }
    }

    /// `POST {name, objectTypeId, processingType}` creates a list → `{list:{listId,…}}`
    /// (HubSpot 2026-03 reference "crm/lists").
    pub fn lists(self) -> String {
        self.lists_root().to_string()
    }

    /// `GET` one list by name → `{list:{listId,…}}`, 404 when none.
    pub fn list_by_name(self, object_type_id: &str, name: &str) -> String {
        format!(
            "{}/object-type-id/{object_type_id}/name/{}",
            self.lists_root(),
            encode_segment(name)
        )
    }

    /// `PUT {recordIdsToAdd, recordIdsToRemove}` on a MANUAL list (HubSpot 2026-03 reference
    /// "Update list memberships").
    pub fn list_memberships(self, list_id: &str) -> String {
        format!("{}/{list_id}/memberships/add-and-remove", self.lists_root())
    }

    /// `GET` deal pipelines with stages: legacy in both families (see [`DEAL_PIPELINES`]).
    pub fn deal_pipelines(self) -> &'static str {
        DEAL_PIPELINES
    }

    /// `GET ?limit=500&after=`: the portal's active owners, paged (see [`OWNERS`]).
    pub fn owners(self) -> &'static str {
        OWNERS
    }
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters stay).
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_has_its_own_prefix_and_the_same_tail() {
        let new = Paths(HubSpotApiVersion::V2026_03);
        let old = Paths(HubSpotApiVersion::Legacy);
        assert_eq!(
            new.batch("contacts", "upsert"),
            "/crm/objects/2026-03/contacts/batch/upsert"
        );
        assert_eq!(
            old.batch("contacts", "upsert"),
            "/crm/v3/objects/contacts/batch/upsert"
        );
        assert_eq!(new.token(), "/oauth/2026-03/token");
        assert_eq!(old.introspect(), "/oauth/v3/token/introspect");
        assert_eq!(
            new.group("companies", "pendo"),
            "/crm/properties/2026-03/companies/groups/pendo"
        );
        assert_eq!(
            new.associations("tasks", "7", "contacts"),
            "/crm/objects/2026-03/tasks/7/associations/contacts?limit=500"
        );
        assert_eq!(
            old.associations("tasks", "7", "contacts"),
            "/crm/v4/objects/tasks/7/associations/contacts?limit=500"
        );
        assert_eq!(new.deal_pipelines(), old.deal_pipelines());
    }
}
