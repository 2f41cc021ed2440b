//! Per-object sync state, usage history, pull state, cursors and checkpoints.

use super::*;

impl Repo {
    // ---- per-object state ----------------------------------------------------------------

    pub(super) async fn get_keyed<T: DeserializeOwned>(
        &self,
        id: &TenantId,
        prefix: &str,
        kind: ObjectKind,
        keys: &[String],
    ) -> Result<HashMap<String, T>, StoreError> {
        let head = format!("{prefix}#{}#", kind.code());
        let sks: Vec<String> = keys.iter().map(|k| format!("{head}{k}")).collect();
        let items = self.store.get_many(&tenant_pk(id), &sks).await?;
        items
            .iter()
            .map(|i| Ok((i.sk[head.len()..].to_string(), decode(i)?)))
            .collect()
    }

    pub(super) async fn put_keyed<T: Serialize>(
        &self,
        id: &TenantId,
        prefix: &str,
        kind: ObjectKind,
        values: &[(String, T)],
    ) -> Result<(), StoreError> {
        let pk = tenant_pk(id);
        let items = values
            .iter()
            .map(|(k, v)| {
                item(
                    pk.clone(),
                    format!("{prefix}#{}#{k}", kind.code()),
                    1,
                    None,
                    v,
                )
            })
            .collect();
        self.store.put_many(items).await
    }

    pub async fn get_object_states(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        object_ids: &[String],
    ) -> Result<HashMap<String, ObjectState>, StoreError> {
        self.get_keyed(id, "OBJ", kind, object_ids).await
    }

    pub async fn put_object_states(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        states: &[(String, ObjectState)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, "OBJ", kind, states).await
    }

    /// The Pendo id each HubSpot record was last written for (HubSpot id → Pendo id), so a
    /// record read back by the pull is recognised even when its join property was cleared.
    pub async fn get_links(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        hubspot_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        self.get_keyed(id, "LNK", kind, hubspot_ids).await
    }

    pub async fn put_links(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        links: &[(String, String)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, "LNK", kind, links).await
    }

    pub async fn get_activity(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        object_ids: &[String],
    ) -> Result<HashMap<String, ActivityHistory>, StoreError> {
        self.get_keyed(id, "ACT", kind, object_ids).await
    }

    pub async fn put_activity(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        values: &[(String, ActivityHistory)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, "ACT", kind, values).await
    }

    /// Pages through every stored activity history of one kind (for the daily fold-in).
    pub async fn list_activity(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<(String, ActivityHistory)>, StoreError> {
        let head = format!("ACT#{}#", kind.code());
        let page = self
            .store
            .query(&tenant_pk(id), &head, after, limit, false)
            .await?;
        Ok(Page {
            items: page
                .items
                .iter()
                .map(|i| Ok((i.sk[head.len()..].to_string(), decode(i)?)))
                .collect::<Result<_, StoreError>>()?,
            next: page.next,
        })
    }

    pub async fn get_pull_states(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        hubspot_ids: &[String],
    ) -> Result<HashMap<String, PullState>, StoreError> {
        self.get_keyed(id, "PULL", kind, hubspot_ids).await
    }

    pub async fn put_pull_states(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        states: &[(String, PullState)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, "PULL", kind, states).await
    }

    // ---- cursors and checkpoints ---------------------------------------------------------

    pub async fn get_cursor<T: DeserializeOwned>(
        &self,
        id: &TenantId,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        match self
            .store
            .get(&tenant_pk(id), &format!("CUR#{name}"))
            .await?
        {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }

    pub async fn put_cursor<T: Serialize>(
        &self,
        id: &TenantId,
        name: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.store
            .put(
                item(tenant_pk(id), format!("CUR#{name}"), 1, None, value),
                Condition::Always,
            )
            .await
    }

    pub async fn delete_cursor(&self, id: &TenantId, name: &str) -> Result<(), StoreError> {
        self.store
            .delete(&tenant_pk(id), &format!("CUR#{name}"), Condition::Always)
            .await
    }
}
