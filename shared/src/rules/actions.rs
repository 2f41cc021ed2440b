//! Idempotent HubSpot actions for the lifecycle rules.
//!
//! Each action has a key. The key is claimed with a conditional write *before* the HubSpot call
//! and marked done after it. Created tasks and deals carry the key as a marker in their body,
//! so an attempt that died between the call and the "done" write is found on the next run
//! (through the record's associations) instead of being created twice.

use chrono::{Duration, Utc};
use std::collections::BTreeMap;

use crate::domain::{ActionRecord, Rule};
use crate::hubspot::association_types::{DEAL_TO_COMPANY, TASK_TO_COMPANY, TASK_TO_CONTACT};
use crate::hubspot::HubSpotError;
use crate::store::repo::ActionClaim;
use crate::sync::engine::RunCtx;
use crate::sync::SyncError;

/// What a rule asks HubSpot to do.
#[derive(Clone)]
pub(crate) enum Effect {
    /// A task for a contact (`contacts`) or company (`companies`).
    Task {
        on: &'static str,
        record: String,
        subject: String,
        body: String,
        owner: Option<String>,
    },
    Deal {
        company: String,
        name: String,
        pipeline: String,
        stage: String,
    },
    /// Idempotent by nature (setting a value twice is harmless).
    Update {
        object: &'static str,
        record: String,
        properties: BTreeMap<String, String>,
    },
}

impl Effect {
    /// The side of the join the action is about (for its record error).
    fn object_kind(&self) -> crate::domain::ObjectKind {
        use crate::domain::ObjectKind;
        match self {
            Effect::Task { on: "contacts", .. }
            | Effect::Update {
                object: "contacts", ..
            } => ObjectKind::Visitor,
            _ => ObjectKind::Account,
        }
    }

    fn describe(&self) -> String {
        match self {
            Effect::Task {
                on,
                record,
                subject,
                ..
            } => format!("create task '{subject}' on {on} {record}"),
            Effect::Deal {
                company,
                name,
                stage,
                ..
            } => format!("create deal '{name}' at {stage} for company {company}"),
            Effect::Update {
                object,
                record,
                properties,
            } => {
                let p: Vec<String> = properties.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("update {object} {record}: {}", p.join(", "))
            }
        }
    }
}

pub(crate) fn marker(key: &str) -> String {
    format!("[pendo-sync:{key}]")
}

/// Runs one action at most once. Returns the HubSpot id of the record it produced: created
/// now, or found done (a stored claim, or a HubSpot record carrying its marker); `None` for an
/// update action already done, a dry run, or a failure recorded against the record.
pub(crate) async fn execute(
    ctx: &mut RunCtx<'_>,
    rule: &Rule,
    object_id: &str,
    key: &str,
    effect: Effect,
) -> Result<Option<String>, SyncError> {
    let description = effect.describe();
    if rule.dry_run || ctx.opts.dry_run {
        record(ctx, rule, object_id, description, None, true);
        return Ok(None);
    }
    // The claim in our store is a shortcut, not the truth: HubSpot's records carry the marker,
    // so a lost or fresh claim still looks there before creating anything.
    let claim = ctx.repo.claim_action(ctx.tenant, key).await?;
    if let ActionClaim::Done(id) = claim {
        return Ok(Some(id));
    }
    if let Some(found) = find_created(ctx, key, &effect).await? {
        ctx.repo.complete_action(ctx.tenant, key, &found).await?;
        let why = match claim {
            ActionClaim::Pending => "found from an interrupted attempt",
            _ => "found in HubSpot by its marker; not created again",
        };
        record(
            ctx,
            rule,
            object_id,
            format!("{description} ({why})"),
            Some(found.clone()),
            false,
        );
        return Ok(Some(found));
    }
    let (id, description) = match perform_reconciled(ctx, key, &effect).await {
        Ok(Done::Sent(id)) => (id, description),
        Ok(Done::Found(id)) => (
            id,
            format!("{description} (found after its answer was lost)"),
        ),
        Err(SyncError::HubSpot(e))
            if !e.needs_attention() && !matches!(e, HubSpotError::Stopped(_)) =>
        {
            // One action that keeps failing is this record's problem, not the run's: the claim
            // stays pending, so the next run looks for it before trying again.
            ctx.run.counts.failed += 1;
            ctx.errors.push(crate::domain::RecordError {
                direction: crate::domain::Direction::Push,
                object: effect.object_kind(),
                object_id: object_id.to_string(),
                field: None,
                message: format!("rule {}: {description} failed: {e}", rule.id),
            });
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    ctx.repo.complete_action(ctx.tenant, key, &id).await?;
    record(ctx, rule, object_id, description, Some(id.clone()), false);
    // Stored as it happens: a run killed later still shows what it did.
    ctx.repo.put_run(&ctx.run).await?;
    Ok(Some(id))
}

pub(crate) fn record(
    ctx: &mut RunCtx<'_>,
    rule: &Rule,
    object_id: &str,
    action: String,
    hubspot_id: Option<String>,
    dry_run: bool,
) {
    ctx.run.counts.actions += 1;
    if ctx.run.actions.len() < 1000 {
        ctx.run.actions.push(ActionRecord {
            rule: rule.id.clone(),
            object_id: object_id.to_string(),
            action,
            hubspot_id,
            dry_run,
        });
    }
}

enum Done {
    Sent(String),
    /// The answer was lost, but the record carrying the action's marker exists.
    Found(String),
}

/// Attempts before an action counts as failed for its record.
const ATTEMPTS: u32 = 3;

/// Performs an action; when HubSpot may have done it without us hearing back (outcome
/// unknown), looks for its marker first and sends again only if nothing carries it.
async fn perform_reconciled(
    ctx: &RunCtx<'_>,
    key: &str,
    effect: &Effect,
) -> Result<Done, SyncError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match perform(ctx, key, effect.clone()).await {
            Ok(id) => return Ok(Done::Sent(id)),
            Err(SyncError::HubSpot(HubSpotError::OutcomeUnknown { .. })) if attempt < ATTEMPTS => {
                if let Some(found) = find_created(ctx, key, effect).await? {
                    return Ok(Done::Found(found));
                }
                tracing::info!(
                    key,
                    attempt,
                    "action's outcome unknown and not found; sending again"
                );
            }
            Err(e) => return Err(e),
        }
    }
}

async fn perform(ctx: &RunCtx<'_>, key: &str, effect: Effect) -> Result<String, SyncError> {
    let hs = ctx.hubspot;
    let id = match effect {
        Effect::Task {
            on,
            record,
            subject,
            body,
            owner,
        } => {
            let mut p = BTreeMap::from([
                (
                    "hs_timestamp".to_string(),
                    (Utc::now() + Duration::days(1))
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string(),
                ),
                ("hs_task_subject".to_string(), subject),
                (
                    "hs_task_body".to_string(),
                    format!("{body}\n\n{}", marker(key)),
                ),
                ("hs_task_status".to_string(), "NOT_STARTED".to_string()),
                ("hs_task_priority".to_string(), "HIGH".to_string()),
                ("hs_task_type".to_string(), "TODO".to_string()),
            ]);
            if let Some(o) = owner {
                p.insert("hubspot_owner_id".into(), o);
            }
            let assoc = if on == "contacts" {
                TASK_TO_CONTACT
            } else {
                TASK_TO_COMPANY
            };
            hs.create_record("tasks", p, &[(record, assoc)]).await?
        }
        Effect::Deal {
            company,
            name,
            pipeline,
            stage,
        } => {
            let p = BTreeMap::from([
                ("dealname".to_string(), name),
                ("pipeline".to_string(), pipeline),
                ("dealstage".to_string(), stage),
                ("description".to_string(), marker(key)),
            ]);
            hs.create_record("deals", p, &[(company, DEAL_TO_COMPANY)])
                .await?
        }
        Effect::Update {
            object,
            record,
            properties,
        } => {
            hs.update_record(object, &record, properties).await?;
            record
        }
    };
    Ok(id)
}

/// Looks for a record an interrupted attempt created: the marker in a task body or deal
/// description among the records associated with the target.
async fn find_created(
    ctx: &RunCtx<'_>,
    key: &str,
    effect: &Effect,
) -> Result<Option<String>, HubSpotError> {
    let target = match effect {
        Effect::Task { on, record, .. } => MarkedOn::tasks_of(on, record),
        Effect::Deal { company, .. } => MarkedOn::deals_of(company),
        Effect::Update { .. } => return Ok(None),
    };
    Ok(find_marked(ctx, &target, key)
        .await?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, id)| id))
}

/// Where markers of created records are looked for: the `to` records associated with one
/// `from` record, in their `field`.
pub(crate) struct MarkedOn<'a> {
    from: &'static str,
    record: &'a str,
    to: &'static str,
    field: &'static str,
}

impl<'a> MarkedOn<'a> {
    /// Tasks associated with a contact (`on` = "contacts") or company ("companies").
    pub(crate) fn tasks_of(on: &'static str, record: &'a str) -> Self {
        Self {
            from: on,
            record,
            to: "tasks",
            field: "hs_task_body",
        }
    }
    /// Deals associated with a company.
    pub(crate) fn deals_of(company: &'a str) -> Self {
        Self {
            from: "companies",
            record: company,
            to: "deals",
            field: "description",
        }
    }
}

/// Every action key starting with `prefix` whose marker a record associated with the target
/// carries, with that record's id: `[(key, hubspot_id)]`. Two HubSpot calls at most
/// (associations, then one batch read); the rules' memory is rebuilt from this when our stored
/// copy is gone.
pub(crate) async fn find_marked(
    ctx: &RunCtx<'_>,
    on: &MarkedOn<'_>,
    prefix: &str,
) -> Result<Vec<(String, String)>, HubSpotError> {
    let ids = ctx.hubspot.associations(on.from, on.record, on.to).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let records = ctx
        .hubspot
        .read_records(on.to, &ids, &[on.field.to_string()])
        .await?;
    let opening = marker(prefix);
    let opening = opening.trim_end_matches(']');
    let mut found = Vec::new();
    for r in records {
        let Some(text) = r.prop(on.field) else {
            continue;
        };
        for (at, _) in text.match_indices(opening) {
            let rest = &text[at + "[pendo-sync:".len()..];
            if let Some(end) = rest.find(']') {
                found.push((rest[..end].to_string(), r.id.clone()));
            }
        }
    }
    found.sort();
    Ok(found)
}
