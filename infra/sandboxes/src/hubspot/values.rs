//! Property definitions and value validation as HubSpot's properties guide describes them.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PropertyDef {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "fieldType")]
    pub field_type: String,
    #[serde(rename = "groupName")]
    pub group_name: String,
    #[serde(rename = "hasUniqueValue", default)]
    pub has_unique_value: bool,
    #[serde(default)]
    pub options: Vec<Value>,
    #[serde(default)]
    pub description: String,
}

impl PropertyDef {
    pub fn simple(name: &str, kind: &str, field_type: &str, group: &str) -> Self {
        Self {
            name: name.into(),
            label: name.into(),
            kind: kind.into(),
            field_type: field_type.into(),
            group_name: group.into(),
            has_unique_value: false,
            options: vec![],
            description: String::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("serialise");
        v["archived"] = json!(false);
        v
    }
}

/// Valid `type` → `fieldType` pairs (properties guide).
pub fn valid_pair(kind: &str, field_type: &str) -> bool {
    let allowed: &[&str] = match kind {
        "bool" => &["booleancheckbox", "calculation_equation"],
        "enumeration" => &[
            "booleancheckbox",
            "checkbox",
            "radio",
            "select",
            "calculation_equation",
        ],
        "date" | "datetime" => &["date"],
        "string" => &[
            "text",
            "textarea",
            "file",
            "html",
            "phonenumber",
            "calculation_equation",
        ],
        "number" => &["number", "calculation_equation"],
        "phone_number" => &["phonenumber"],
        _ => &[],
    };
    allowed.contains(&field_type)
}

/// Parses a datetime value (ISO-8601 or epoch ms) to epoch ms.
pub fn to_ms(v: &str) -> Option<i64> {
    if let Ok(ms) = v.parse::<i64>() {
        return Some(ms);
    }
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|d| d.timestamp_millis())
}

pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Checks a value; `Err((code, message))` in HubSpot's error vocabulary.
pub fn check(def: &PropertyDef, value: &str) -> Result<String, (&'static str, String)> {
    if value.is_empty() {
        return Ok(String::new());
    }
    match def.kind.as_str() {
        "number" => {
            let ok = value.parse::<f64>().is_ok_and(|n| n.is_finite())
                && value.matches('.').count() <= 1;
            if ok {
                Ok(value.to_string())
            } else {
                Err((
                    "INVALID_INTEGER",
                    format!("{value} is not a valid number for {}", def.name),
                ))
            }
        }
        "date" => {
            let ms = match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                Ok(d) => d
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                    .timestamp_millis(),
                Err(_) => match value.parse::<i64>() {
                    Ok(ms) => ms,
                    Err(_) => {
                        return Err((
                            "INVALID_DATE",
                            format!("{value} is not a valid date for {}", def.name),
                        ))
                    }
                },
            };
            let dt = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
            if dt.num_seconds_from_midnight() != 0 || ms % 1000 != 0 {
                return Err((
                    "INVALID_DATE",
                    format!(
                        "{value} is at {}:{}:{}.{} UTC, not midnight!",
                        dt.hour(),
                        dt.minute(),
                        dt.second(),
                        ms % 1000
                    ),
                ));
            }
            Ok(dt.format("%Y-%m-%d").to_string())
        }
        "datetime" => to_ms(value).map(iso).ok_or((
            "INVALID_DATETIME",
            format!("{value} is not a valid datetime for {}", def.name),
        )),
        "enumeration" => {
            let allowed: Vec<&str> = def
                .options
                .iter()
                .filter_map(|o| o["value"].as_str())
                .collect();
            for part in value.split(';').filter(|p| !p.is_empty()) {
                if !allowed.contains(&part) {
                    return Err((
                        "INVALID_OPTION",
                        format!(
                            "{part} was not one of the allowed options: [{}]",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
            Ok(value.to_string())
        }
        "bool" => match value {
            "true" | "false" => Ok(value.to_string()),
            _ => Err(("INVALID_BOOLEAN", format!("{value} is not a valid boolean"))),
        },
        _ => {
            if value.chars().count() > 65_536 {
                Err((
                    "INVALID_STRING",
                    "value longer than 65536 characters".into(),
                ))
            } else {
                Ok(value.to_string())
            }
        }
    }
}

pub fn default_properties(object: &str) -> Vec<PropertyDef> {
    let mut props = vec![
        PropertyDef::simple("hs_object_id", "number", "number", "objectinformation"),
        PropertyDef::simple("createdate", "datetime", "date", "objectinformation"),
        PropertyDef::simple("hubspot_owner_id", "string", "text", "objectinformation"),
    ];
    let lifecycle = {
        let mut p = PropertyDef::simple(
            "lifecyclestage",
            "enumeration",
            "select",
            "objectinformation",
        );
        p.options = [
            "subscriber",
            "lead",
            "marketingqualifiedlead",
            "salesqualifiedlead",
            "opportunity",
            "customer",
        ]
        .iter()
        .map(|v| json!({"label": v, "value": v}))
        .collect();
        p
    };
    match object {
        "contacts" => {
            props.push(PropertyDef::simple(
                "lastmodifieddate",
                "datetime",
                "date",
                "contactinformation",
            ));
            props.push(PropertyDef::simple(
                "email",
                "string",
                "text",
                "contactinformation",
            ));
            props.push(PropertyDef::simple(
                "firstname",
                "string",
                "text",
                "contactinformation",
            ));
            props.push(PropertyDef::simple(
                "lastname",
                "string",
                "text",
                "contactinformation",
            ));
            props.push(PropertyDef::simple(
                "jobtitle",
                "string",
                "text",
                "contactinformation",
            ));
            props.push(lifecycle);
        }
        "companies" => {
            props.push(PropertyDef::simple(
                "hs_lastmodifieddate",
                "datetime",
                "date",
                "companyinformation",
            ));
            props.push(PropertyDef::simple(
                "name",
                "string",
                "text",
                "companyinformation",
            ));
            props.push(PropertyDef::simple(
                "domain",
                "string",
                "text",
                "companyinformation",
            ));
            props.push(PropertyDef::simple(
                "industry",
                "string",
                "text",
                "companyinformation",
            ));
            props.push(PropertyDef::simple(
                "annualrevenue",
                "number",
                "number",
                "companyinformation",
            ));
            let mut tier = PropertyDef::simple(
                "customer_tier",
                "enumeration",
                "select",
                "companyinformation",
            );
            tier.options = ["bronze", "silver", "gold"]
                .iter()
                .map(|v| json!({"label": v, "value": v}))
                .collect();
            props.push(tier);
            props.push(lifecycle);
        }
        "tasks" => {
            props.push(PropertyDef::simple(
                "hs_lastmodifieddate",
                "datetime",
                "date",
                "taskinformation",
            ));
            props.push(PropertyDef::simple(
                "hs_timestamp",
                "datetime",
                "date",
                "taskinformation",
            ));
            props.push(PropertyDef::simple(
                "hs_task_subject",
                "string",
                "text",
                "taskinformation",
            ));
            props.push(PropertyDef::simple(
                "hs_task_body",
                "string",
                "textarea",
                "taskinformation",
            ));
            for (name, opts) in [
                (
                    "hs_task_status",
                    &[
                        "NOT_STARTED",
                        "IN_PROGRESS",
                        "WAITING",
                        "COMPLETED",
                        "DEFERRED",
                    ][..],
                ),
                ("hs_task_priority", &["LOW", "MEDIUM", "HIGH"][..]),
                ("hs_task_type", &["EMAIL", "CALL", "TODO"][..]),
            ] {
                let mut p = PropertyDef::simple(name, "enumeration", "select", "taskinformation");
                p.options = opts
                    .iter()
                    .map(|v| json!({"label": v, "value": v}))
                    .collect();
                props.push(p);
            }
        }
        "deals" => {
            props.push(PropertyDef::simple(
                "hs_lastmodifieddate",
                "datetime",
                "date",
                "dealinformation",
            ));
            props.push(PropertyDef::simple(
                "dealname",
                "string",
                "text",
                "dealinformation",
            ));
            props.push(PropertyDef::simple(
                "dealstage",
                "string",
                "text",
                "dealinformation",
            ));
            props.push(PropertyDef::simple(
                "pipeline",
                "string",
                "text",
                "dealinformation",
            ));
            props.push(PropertyDef::simple(
                "amount",
                "number",
                "number",
                "dealinformation",
            ));
            props.push(PropertyDef::simple(
                "closedate",
                "datetime",
                "date",
                "dealinformation",
            ));
        }
        _ => {}
    }
    props
}

pub fn modified_property(object: &str) -> &'static str {
    if object == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}
