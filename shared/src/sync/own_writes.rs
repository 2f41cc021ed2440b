//! Our own writes, remembered so the daily pull need not read them back.
//!
//! Every full run's push records the time windows in which it wrote to HubSpot. When the
//! tenant's HubSpot webhooks are live (an event arrived within [`LIVE_WITHIN_MS`]), the
//! daily pull's keyset search leaves those windows out: a record whose last modification
//! falls inside one was last modified by our push, and a change someone else made there
//! reached us as a webhook event (HubSpot retries a failed delivery for 24 h) and was pulled
//! by the change-log job. Outside the windows the search reads as before, so a change whose
//! event was lost for good (or a property the app does not subscribe to) is still caught,
//! unless it landed inside a window: that is the price of not re-reading ~⌈pushed/200⌉
//! pages a day. With webhooks not live the search covers everything, as before.

use chrono::Utc;

use super::engine::RunCtx;
use super::SyncError;
use crate::domain::{PullCursor, Trigger};
use crate::store::repo::{LiveStatus, LIVE_CURSOR};

const WINDOWS: &str = "push-windows";
/// HubSpot stamps `lastmodifieddate` with its own clock: windows are widened by this much.
const CLOCK_PAD_MS: i64 = 60_000;
/// Windows closer than this are one window.
const MERGE_GAP_MS: i64 = 5 * 60_000;
/// The search has at most 5 filter groups, so at most 4 windows can be left out.
const MAX_WINDOWS: usize = 4;
/// Webhooks count as live when the last event arrived this recently.
pub const LIVE_WITHIN_MS: i64 = 24 * 3600 * 1000;

/// Records that the run wrote to HubSpot between `from_ms` and `to_ms`. Only full runs'
/// pushes (the large ones) are left out of the daily read; a scoped job's few writes are
/// read back as before.
pub(crate) async fn note_push(ctx: &RunCtx<'_>, from_ms: i64, to_ms: i64) -> Result<(), SyncError> {
    if ctx.opts.dry_run || ctx.run.trigger == Trigger::Webhook {
        return Ok(());
    }
    let mut windows: Vec<(i64, i64)> = ctx
        .repo
        .get_cursor(ctx.tenant, WINDOWS)
        .await?
        .unwrap_or_default();
    let w = (from_ms - CLOCK_PAD_MS, to_ms + CLOCK_PAD_MS);
    match windows.last_mut() {
        Some(last) if w.0 <= last.1 + MERGE_GAP_MS => last.1 = last.1.max(w.1),
        _ => windows.push(w),
    }
    ctx.repo.put_cursor(ctx.tenant, WINDOWS, &windows).await?;
    Ok(())
}

/// The windows a pull pass starting at `cursor.since_ms` may leave out (empty when webhooks
/// are not live); windows ending before the pass are forgotten.
pub(crate) async fn windows_for_pass(
    ctx: &RunCtx<'_>,
    cursor: &PullCursor,
) -> Result<Vec<(i64, i64)>, SyncError> {
    let mut windows: Vec<(i64, i64)> = ctx
        .repo
        .get_cursor(ctx.tenant, WINDOWS)
        .await?
        .unwrap_or_default();
    let before = windows.len();
    windows.retain(|w| w.1 >= cursor.since_ms);
    if windows.len() != before && !ctx.opts.dry_run {
        ctx.repo.put_cursor(ctx.tenant, WINDOWS, &windows).await?;
    }
    let live: Option<LiveStatus> = ctx.repo.get_cursor(ctx.tenant, LIVE_CURSOR).await?;
    let now = Utc::now().timestamp_millis();
    if live.is_none_or(|l| now - l.last_received_at.timestamp_millis() > LIVE_WITHIN_MS) {
        return Ok(Vec::new());
    }
    Ok(fit(windows))
}

/// At most [`MAX_WINDOWS`] windows: the two closest are merged until they fit.
fn fit(mut w: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    w.sort();
    while w.len() > MAX_WINDOWS {
        let i = (0..w.len() - 1)
            .min_by_key(|&i| w[i + 1].0 - w[i].1)
            .expect("two windows at least");
        w[i].1 = w[i].1.max(w[i + 1].1);
        w.remove(i + 1);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn windows_fit_the_search_by_merging_the_closest() {
        let w = vec![(0, 10), (100, 110), (115, 120), (300, 310), (1000, 1010)];
        assert_eq!(fit(w), vec![(0, 10), (100, 120), (300, 310), (1000, 1010)]);
    }
}
