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

    /// The property as HubSpot returns it: every enumeration option carries `hidden` and
    /// `displayOrder` (the 2026-03 API requires the latter on input too; defaults as HubSpot's
    /// UI assigns them: visible, in list order).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("serialise");
        v["archived"] = json!(false);
        for (i, o) in v["options"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if o.get("hidden").is_none_or(Value::is_null) {
                o["hidden"] = json!(false);
            }
            if o.get("displayOrder").is_none_or(Value::is_null) {
                o["displayOrder"] = json!(i);
            }
        }
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

/// An enumeration whose options are (internal value, label): HubSpot stores and returns the
/// value, its UI shows the label (custom options get numeric values, e.g. "1234567").
fn enumeration(name: &str, group: &str, options: &[(&str, &str)]) -> PropertyDef {
    let mut p = PropertyDef::simple(name, "enumeration", "select", group);
    p.options = options
        .iter()
        .enumerate()
        .map(|(i, (v, l))| json!({"label": l, "value": v, "displayOrder": i, "hidden": false}))
        .collect();
    p
}

/// An e-mail address as HubSpot stores it and looks it up: surrounding whitespace and the
/// invalid characters `<` `>` removed (HubSpot normalises addresses on create and on GET by
/// e-mail, developer changelog "Change to behaviour between GET and POST Contacts V1 endpoints",
/// 2021-10-29); case is kept and compared case-insensitively (search filter values are
/// case-insensitive, hubspot.md §5).
pub fn normalise_email(email: &str) -> String {
    email.trim().replace(['<', '>'], "").trim().to_string()
}

/// E-mail syntax as HubSpot enforces it (`INVALID_EMAIL`): one `@`, a non-empty local part
/// without spaces, a dotted domain of letter/digit/hyphen labels and a top-level domain of
/// letters only.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    !local.is_empty()
        && local.len() <= 64
        && !local.contains(char::is_whitespace)
        && !domain.contains('@')
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
}

/// The built-in properties of each object type the sandbox serves.
pub fn default_properties(object: &str) -> Vec<PropertyDef> {
    const INFO: &str = "objectinformation";
    // (name, type, fieldType)
    let common: &[(&str, &str, &str)] = &[
        ("hs_object_id", "number", "number"),
        ("createdate", "datetime", "date"),
        ("hubspot_owner_id", "string", "text"),
    ];
    let (group, specific): (&str, &[(&str, &str, &str)]) = match object {
        "contacts" => (
            "contactinformation",
            &[
                ("lastmodifieddate", "datetime", "date"),
                ("email", "string", "text"),
                ("firstname", "string", "text"),
                ("lastname", "string", "text"),
                ("jobtitle", "string", "text"),
                ("upsell_candidate", "string", "text"),
                // `;`-separated secondary addresses (hubspot.md §8 pitfall 5).
                ("hs_additional_emails", "string", "textarea"),
                ("hs_merged_object_ids", "string", "text"),
            ],
        ),
        "companies" => (
            "companyinformation",
            &[
                ("hs_lastmodifieddate", "datetime", "date"),
                ("name", "string", "text"),
                ("domain", "string", "text"),
                ("industry", "string", "text"),
                ("annualrevenue", "number", "number"),
                ("hs_merged_object_ids", "string", "text"),
            ],
        ),
        "tasks" => (
            "taskinformation",
            &[
                ("hs_lastmodifieddate", "datetime", "date"),
                ("hs_timestamp", "datetime", "date"),
                ("hs_task_subject", "string", "text"),
                ("hs_task_body", "string", "textarea"),
            ],
        ),
        "deals" => (
            "dealinformation",
            &[
                ("hs_lastmodifieddate", "datetime", "date"),
                ("dealname", "string", "text"),
                ("dealstage", "string", "text"),
                ("pipeline", "string", "text"),
                ("amount", "number", "number"),
                ("closedate", "datetime", "date"),
                ("description", "string", "textarea"),
            ],
        ),
        _ => ("objectinformation", &[]),
    };
    let mut props: Vec<PropertyDef> = common
        .iter()
        .map(|(n, t, f)| PropertyDef::simple(n, t, f, INFO))
        .chain(
            specific
                .iter()
                .map(|(n, t, f)| PropertyDef::simple(n, t, f, group)),
        )
        .collect();
    let lifecycle = [
        ("subscriber", "Subscriber"),
        ("lead", "Lead"),
        ("marketingqualifiedlead", "Marketing Qualified Lead"),
        ("salesqualifiedlead", "Sales Qualified Lead"),
        ("opportunity", "Opportunity"),
        ("customer", "Customer"),
    ];
    match object {
        "contacts" => props.push(enumeration("lifecyclestage", INFO, &lifecycle)),
        "companies" => {
            props.push(enumeration("lifecyclestage", INFO, &lifecycle));
            props.push(enumeration(
                "customer_tier",
                group,
                &[("bronze", "Bronze"), ("silver", "Silver"), ("gold", "Gold")],
            ));
        }
        "tasks" => {
            props.push(enumeration(
                "hs_task_status",
                group,
                &[
                    ("NOT_STARTED", "Not started"),
                    ("IN_PROGRESS", "In progress"),
                    ("WAITING", "Waiting"),
                    ("COMPLETED", "Completed"),
                    ("DEFERRED", "Deferred"),
                ],
            ));
            props.push(enumeration(
                "hs_task_priority",
                group,
                &[("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High")],
            ));
            props.push(enumeration(
                "hs_task_type",
                group,
                &[("EMAIL", "Email"), ("CALL", "Call"), ("TODO", "To-do")],
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
