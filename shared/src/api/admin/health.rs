//! `GET /v1/tenants/{id}/status`: connection, schedule and health of one tenant.

use std::collections::BTreeMap;

use super::*;
use crate::domain::{reason_key, Direction, RecordError, RunRecord};

/// Runs looked at for the consecutive-failure count (the count says "at least" past this).
const RUN_WINDOW: usize = 50;
/// Record errors of the last run grouped at most (pages of 200).
const ERRORS_READ: usize = 5_000;
/// Example record ids per group.
const EXAMPLES: usize = 5;

/// Failing records of one kind: `{"direction", "object", "field"?, "reason", "count", "examples"}`.
#[derive(Serialize, Debug, PartialEq, utoipa::ToSchema)]
pub struct FailureGroup {
    direction: Direction,
    object: ObjectKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// The message with record names masked (see [`reason_key`]).
    reason: String,
    count: u64,
    /// Up to five ids of records that failed this way (HubSpot or Pendo ids, or `schema:…`).
    examples: Vec<String>,
}

/// Groups record errors by direction, object, field and masked message, largest group first.
pub(crate) fn group_failures(errors: &[RecordError]) -> Vec<FailureGroup> {
    let mut groups: BTreeMap<(String, String, String, String), FailureGroup> = BTreeMap::new();
    for e in errors {
        let reason = reason_key(&e.message);
        let key = (
            format!("{:?}", e.direction),
            format!("{:?}", e.object),
            e.field.clone().unwrap_or_default(),
            reason.clone(),
        );
        let g = groups.entry(key).or_insert_with(|| FailureGroup {
            direction: e.direction,
            object: e.object,
            field: e.field.clone(),
            reason,
            count: 0,
            examples: Vec::new(),
        });
        g.count += 1;
        if g.examples.len() < EXAMPLES && !g.examples.contains(&e.object_id) {
            g.examples.push(e.object_id.clone());
        }
    }
    let mut out: Vec<FailureGroup> = groups.into_values().collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.count));
    out
}

/// Failed runs in a row, newest first, ignoring runs still going (running, continued).
fn consecutive_failed(runs: &[RunRecord]) -> u64 {
    runs.iter()
        .filter(|r| {
            !matches!(
                r.status,
                RunStatus::Running | RunStatus::Continued | RunStatus::Interrupted
            )
        })
        .take_while(|r| r.status == RunStatus::Failed)
        .count() as u64
}

/// Connection health, last success, next run, lag, and what fails and why (see [`Health`]).
#[utoipa::path(get, path = "/v1/tenants/{id}/status", tag = "sync", params(("id" = TenantId, Path)),
    responses((status = 200, description = "The tenant's status", body = StatusView)))]
pub(super) async fn status(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StatusView>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let secrets = s.secrets.tenant(&t.id).await?;
    let config = s.repo.get_config(&t.id).await?.unwrap_or_default();
    let runs = s.repo.list_runs(&t.id, None, RUN_WINDOW).await?.items;
    let last = runs.first();
    let last_finished = runs.iter().find(|r| {
        !matches!(
            r.status,
            RunStatus::Running | RunStatus::Continued | RunStatus::Interrupted
        )
    });
    let last_success = runs
        .iter()
        .find(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Partial))
        .and_then(|r| r.finished_at);
    let mut errors = Vec::new();
    if let Some(r) = last_finished {
        let mut after: Option<String> = None;
        while errors.len() < ERRORS_READ {
            let page = s
                .repo
                .list_run_errors(&t.id, &r.run_id, after.as_deref(), 200)
                .await?;
            errors.extend(page.items);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    let live: Option<crate::store::repo::LiveStatus> = s
        .repo
        .get_cursor(&t.id, crate::store::repo::LIVE_CURSOR)
        .await?;
    let failed_runs = consecutive_failed(&runs);
    let health = if t.status == TenantStatus::NeedsAttention {
        Health::NeedsAttention
    } else if failed_runs > 0 {
        Health::Failing
    } else if last_finished.is_some_and(|r| r.status == RunStatus::Partial) {
        Health::Degraded
    } else {
        Health::Ok
    };
    let now = Utc::now();
    let today_slot = now
        .date_naive()
        .and_hms_opt(config.schedule.hour_utc as u32, 0, 0)
        .expect("valid hour")
        .and_utc();
    let next = if t.status != TenantStatus::Enabled {
        None
    } else if now.hour() < config.schedule.hour_utc as u32 {
        Some(today_slot)
    } else {
        Some(today_slot + Duration::days(1))
    };
    Ok(Json(StatusView {
        tenant_id: t.id.clone(),
        status: t.status,
        health,
        attention_reason: t.attention_reason.clone(),
        attention: t.attention.clone(),
        consecutive_failed_runs: failed_runs,
        last_error: last_finished
            .filter(|r| r.status == RunStatus::Failed)
            .and_then(|r| r.error.clone()),
        pendo_connected: secrets.pendo_integration_key.is_some(),
        hubspot_connected: secrets.hubspot_refresh_token.is_some(),
        hubspot_portal_id: t.hubspot_portal_id,
        last_run: last.map(|r| LastRun {
            run_id: r.run_id.clone(),
            status: r.status,
            started_at: r.started_at,
        }),
        last_success,
        lag_seconds: last_success.map(|f| (now - f).num_seconds()),
        next_scheduled: next,
        failing_records: last_finished.map_or(0, |r| r.counts.failed),
        failures_by_reason: group_failures(&errors),
        events: match config.events {
            Some(_) => {
                s.repo
                    .get_cursor(&t.id, crate::sync::events::STATUS_CURSOR)
                    .await?
            }
            None => None,
        },
        hubspot_last_event_at: live
            .and_then(|l| chrono::DateTime::from_timestamp_millis(l.last_event_at_ms)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(object_id: &str, message: &str) -> RecordError {
        RecordError {
            direction: Direction::Pull,
            object: ObjectKind::Visitor,
            object_id: object_id.into(),
            field: None,
            message: message.into(),
        }
    }

    #[test]
    fn failures_group_by_masked_reason_with_examples() {
        let mut errors: Vec<RecordError> = (0..7)
            .map(|i| {
                err(
                    &format!("10{i}"),
                    &format!("Pendo v00000{i}: visitor not found"),
                )
            })
            .collect();
        errors.push(err("900", "'abc' is not a number"));
        let g = group_failures(&errors);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].count, 7);
        assert_eq!(g[0].reason, "Pendo …: visitor not found");
        assert_eq!(g[0].examples, vec!["100", "101", "102", "103", "104"]);
        assert_eq!(g[1].count, 1);
        assert_eq!(g[1].examples, vec!["900"]);
    }
}
