//! The properties we own in HubSpot, and client-side value checks (HubSpot rejects a `date`
//! that is not midnight UTC and an enumeration value outside the options with a 207 error;
//! catching it here names the field before a call is spent).

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::domain::{
    ObjectKind, PropertyType, PushField, ACCOUNT_ID_PROPERTY, PENDO_GROUP, VISITOR_ID_PROPERTY,
};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchemaReport {
    pub group_created: bool,
    pub created: Vec<String>,
    /// Existing properties whose type differs from ours: reported, never overwritten.
    pub wrong_type: Vec<(String, String)>,
    /// Every property of the object as listed (option labels for the pull, at no extra call).
    pub properties: Vec<super::PropertyInfo>,
}

/// (name, expected type, create body) for every property we need on `kind`.
pub fn pendo_property_specs(kind: ObjectKind) -> Vec<(String, &'static str, Value)> {
    let mut out: Vec<(String, &'static str, Value)> = PushField::ALL
        .iter()
        .filter(|f| f.applies_to(kind))
        .map(|f| {
            let (ty, field_type, options) = match f.property_type() {
                PropertyType::Datetime => ("datetime", "date", None),
                PropertyType::Date => ("date", "date", None),
                PropertyType::Number => ("number", "number", None),
                PropertyType::String => ("string", "textarea", None),
                PropertyType::Enumeration(opts) => ("enumeration", "select", Some(opts)),
            };
            let mut body = json!({
                "name": f.property(), "label": f.label(), "type": ty, "fieldType": field_type,
                "groupName": PENDO_GROUP, "description": "Synced from Pendo; edits are overwritten on the next sync.",
            });
            if let Some(opts) = options {
                body["options"] = Value::Array(
                    opts.iter()
                        .enumerate()
                        .map(|(i, o)| json!({"label": capitalise(o), "value": o, "displayOrder": i, "hidden": false}))
                        .collect(),
                );
            }
            (f.property().to_string(), ty, body)
        })
        .collect();
    let (id_prop, label) = match kind {
        ObjectKind::Visitor => (VISITOR_ID_PROPERTY, "Pendo Visitor ID"),
        ObjectKind::Account => (ACCOUNT_ID_PROPERTY, "Pendo Account ID"),
    };
    out.push((
        id_prop.to_string(),
        "string",
        json!({"name": id_prop, "label": label, "type": "string", "fieldType": "text",
               "groupName": PENDO_GROUP, "hasUniqueValue": true}),
    ));
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Checks one value against the type of one of our push properties.
pub fn validate_value(field: PushField, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(()); // "" clears a value
    }
    match field.property_type() {
        PropertyType::Date => NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(|_| ())
            .map_err(|_| {
                format!("'{value}' is not a YYYY-MM-DD date (dates must be midnight UTC)")
            }),
        PropertyType::Datetime => chrono::DateTime::parse_from_rfc3339(value)
            .map(|_| ())
            .map_err(|_| format!("'{value}' is not an ISO-8601 datetime")),
        PropertyType::Number => value
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|_| ())
            .ok_or_else(|| format!("'{value}' is not a number")),
        PropertyType::Enumeration(options) => {
            if options.contains(&value) {
                Ok(())
            } else {
                Err(format!("'{value}' is not one of {}", options.join(", ")))
            }
        }
        PropertyType::String => {
            if value.chars().count() <= 65_536 {
                Ok(())
            } else {
                Err("longer than 65,536 characters".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_cover_every_field_and_the_id_property() {
        let contacts = pendo_property_specs(ObjectKind::Visitor);
        assert_eq!(contacts.len(), 10);
        assert!(contacts
            .iter()
            .any(|(n, _, b)| n == VISITOR_ID_PROPERTY && b["hasUniqueValue"] == true));
        let companies = pendo_property_specs(ObjectKind::Account);
        assert!(companies
            .iter()
            .any(|(n, _, _)| n == "pendo_total_visitors"));
        let cat = contacts
            .iter()
            .find(|(n, _, _)| n == "pendo_latest_nps_category")
            .unwrap();
        assert_eq!(cat.2["options"].as_array().unwrap().len(), 3);
    }

    /// The 2026-03 properties API requires `displayOrder` on every enumeration option
    /// (reference/hubspot.md §0); the legacy paths accept it too.
    #[test]
    fn enumeration_options_carry_display_order() {
        for kind in ObjectKind::ALL {
            for (name, _, body) in pendo_property_specs(kind) {
                for (i, o) in body["options"].as_array().into_iter().flatten().enumerate() {
                    assert_eq!(o["displayOrder"], i, "{name}: {o}");
                    assert_eq!(o["hidden"], false, "{name}: {o}");
                }
            }
        }
    }

    #[test]
    fn value_checks() {
        assert!(validate_value(PushField::NpsDate, "2026-11-30").is_ok());
        assert!(validate_value(PushField::NpsDate, "2026-11-30T10:00:00Z").is_err());
        assert!(validate_value(PushField::NpsCategory, "promoter").is_ok());
        assert!(validate_value(PushField::NpsCategory, "fan").is_err());
        assert!(validate_value(PushField::DaysActive, "12").is_ok());
        assert!(validate_value(PushField::DaysActive, "twelve").is_err());
        assert!(validate_value(PushField::FirstVisit, "2026-01-01T00:00:00.000Z").is_ok());
        assert!(validate_value(PushField::FirstVisit, "").is_ok());
    }
}
