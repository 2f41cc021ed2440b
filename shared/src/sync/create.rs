//! Contacts for visitors with no match (`identity.create_missing_contacts`): upserted on our
//! unique id property, so a retry can never duplicate one. Only addresses HubSpot accepts are
//! sent (it refuses an invalid one with `INVALID_EMAIL`, in practice for the whole batch), and
//! a create that finds the address already taken (409 "Contact already exists. Existing ID: N",
//! e.g. a secondary e-mail indexed after our search) links to that contact instead.

use chrono::Utc;
use std::collections::HashMap;

use super::engine::RunCtx;
use super::fields::valid_email;
use super::identity::{claim, Matched};
use super::push::{failed, succeeded, Candidate};
use super::SyncError;
use crate::domain::{
    Direction, ObjectKind, ObjectState, RecordError, ACCOUNT_ID_PROPERTY, VISITOR_ID_PROPERTY,
};
use crate::hubspot::WriteInput;

/// Creates `creates`; returns their states and the candidates found to exist after all
/// (with the existing record's id), to be written as updates.
pub(crate) async fn create_missing(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    join: &str,
    creates: Vec<Candidate>,
) -> Result<(Vec<(String, ObjectState)>, Vec<Matched>), SyncError> {
    let today = ctx.opts.today;
    let mut done = Vec::new();
    let mut recovered = Vec::new();
    let id_prop = match kind {
        ObjectKind::Visitor => VISITOR_ID_PROPERTY,
        ObjectKind::Account => ACCOUNT_ID_PROPERTY,
    };
    let mut by_key: HashMap<String, Candidate> = HashMap::new();
    let mut inputs = Vec::new();
    for mut c in creates {
        if let Some(e) = c.email.as_deref().filter(|e| !valid_email(e)) {
            ctx.run.counts.failed += 1;
            ctx.errors.push(RecordError {
                direction: Direction::Push,
                object: kind,
                object_id: c.id.clone(),
                field: Some("email".into()),
                message: format!(
                    "contact not created: '{e}' is not a valid e-mail address (HubSpot refuses it as INVALID_EMAIL); fix it in Pendo"
                ),
            });
            // Looked at again tomorrow, when the address may have been fixed.
            c.state.unmatched_day = Some(today);
            done.push((c.id.clone(), c.state));
            continue;
        }
        let mut properties = c.values.clone();
        if let Some(e) = &c.email {
            properties.insert("email".into(), e.clone());
        }
        if join != id_prop {
            properties.insert(join.to_string(), c.id.clone());
        }
        inputs.push(WriteInput {
            key: c.id.clone(),
            properties,
        });
        by_key.insert(c.id.clone(), c);
    }
    if inputs.is_empty() {
        return Ok((done, recovered));
    }
    let outcome = ctx.hubspot.upsert(kind, id_prop, inputs).await?;
    let mut links = Vec::new();
    for (key, hs) in outcome.ok {
        if let Some(c) = by_key.remove(&key) {
            ctx.run.counts.resolved += 1;
            links.push((hs.clone(), c.id.clone()));
            done.push(succeeded(ctx, kind, c, hs));
        }
    }
    ctx.repo.put_links(ctx.tenant, kind, &links).await?;
    let now = Utc::now();
    for f in outcome.failed {
        let Some(c) = by_key.remove(&f.key) else {
            continue;
        };
        match existing_id(&f.message).filter(|_| f.category == "CONFLICT") {
            Some(hs) if claim(ctx, kind, &hs, &c.id) => {
                ctx.run.counts.resolved += 1;
                recovered.push((c, hs, true));
            }
            _ => done.push(failed(ctx, kind, c, f, now, false, "create failed: ")),
        }
    }
    Ok((done, recovered))
}

/// The id in HubSpot's "Contact already exists. Existing ID: 123".
fn existing_id(message: &str) -> Option<String> {
    let rest = &message[message.find("Existing ID: ")? + "Existing ID: ".len()..];
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn existing_id_is_read_from_the_conflict_message() {
        assert_eq!(
            super::existing_id("HubSpot refused the batch because of this record: Contact already exists. Existing ID: 5009").as_deref(),
            Some("5009")
        );
        assert_eq!(
            super::existing_id("Duplicate IDs found in batch input"),
            None
        );
    }
}
