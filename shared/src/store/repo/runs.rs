//! Run records, their per-record errors, and dedupe markers.

use super::*;

impl Repo {
    // ---- runs ----------------------------------------------------------------------------

    fn run_expiry(run: &RunRecord) -> i64 {
        (run.started_at + Duration::days(RUN_RETENTION_DAYS)).timestamp()
    }

    pub async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.store
            .put(
                item(
                    tenant_pk(&run.tenant_id),
                    format!("RUN#{}", run.run_id),
                    1,
                    Some(Self::run_expiry(run)),
                    run,
                ),
                Condition::Always,
            )
            .await
    }

    pub async fn get_run(
        &self,
        id: &TenantId,
        run_id: &RunId,
    ) -> Result<Option<RunRecord>, StoreError> {
        match self
            .store
            .get(&tenant_pk(id), &format!("RUN#{run_id}"))
            .await?
        {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }

    /// Newest first.
    pub async fn list_runs(
        &self,
        id: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<RunRecord>, StoreError> {
        let page = self
            .store
            .query(&tenant_pk(id), "RUN#", after, limit, true)
            .await?;
        Ok(Page {
            items: page.items.iter().map(decode).collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    /// Appends per-record errors of a run, numbered from `first_seq`.
    pub async fn put_run_errors(
        &self,
        run: &RunRecord,
        first_seq: u64,
        errors: &[RecordError],
    ) -> Result<(), StoreError> {
        let pk = tenant_pk(&run.tenant_id);
        let exp = Some(Self::run_expiry(run));
        let items = errors
            .iter()
            .enumerate()
            .map(|(i, e)| {
                item(
                    pk.clone(),
                    format!("RERR#{}#{:08}", run.run_id, first_seq + i as u64),
                    1,
                    exp,
                    e,
                )
            })
            .collect();
        self.store.put_many(items).await
    }

    pub async fn list_run_errors(
        &self,
        id: &TenantId,
        run_id: &RunId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<RecordError>, StoreError> {
        let page = self
            .store
            .query(
                &tenant_pk(id),
                &format!("RERR#{run_id}#"),
                after,
                limit,
                false,
            )
            .await?;
        Ok(Page {
            items: page.items.iter().map(decode).collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    // ---- dedupe --------------------------------------------------------------------------

    /// Records `key` once for `ttl`; `true` the first time, `false` for a duplicate.
    pub async fn mark_once(
        &self,
        id: &TenantId,
        key: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let expires = (Utc::now() + ttl).timestamp();
        match self
            .store
            .put(
                item(
                    tenant_pk(id),
                    format!("DEDUPE#{key}"),
                    1,
                    Some(expires),
                    &expires,
                ),
                Condition::NotExists,
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_condition_failed() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `key` is marked (and the mark has not expired).
    pub async fn is_marked(&self, id: &TenantId, key: &str) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp();
        Ok(self
            .store
            .get(&tenant_pk(id), &format!("DEDUPE#{key}"))
            .await?
            .is_some_and(|i| i.expires_at.is_none_or(|e| e > now)))
    }

    /// Forgets a dedupe marker (when the work it guarded could not be handed off).
    pub async fn unmark(&self, id: &TenantId, key: &str) -> Result<(), StoreError> {
        self.store
            .delete(&tenant_pk(id), &format!("DEDUPE#{key}"), Condition::Always)
            .await
    }
}
