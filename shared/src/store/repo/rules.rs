//! Lifecycle rules, action idempotency records, rule fingerprints.

use super::*;

impl Repo {
    // ---- lifecycle rules ---------------------------------------------------------------------

    pub async fn get_rules(&self, id: &TenantId) -> Result<RuleSet, StoreError> {
        match self.store.get(&tenant_pk(id), "RULES").await? {
            Some(i) => decode(&i),
            None => Ok(RuleSet::default()),
        }
    }

    pub async fn put_rules(&self, id: &TenantId, rules: &RuleSet) -> Result<(), StoreError> {
        self.store
            .put(
                item(tenant_pk(id), "RULES".into(), 1, None, rules),
                Condition::Always,
            )
            .await
    }

    /// Fingerprints of what a rule last wrote, per visitor.
    pub async fn get_rule_fingerprints(
        &self,
        id: &TenantId,
        rule: &str,
        visitors: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        self.get_keyed(id, &format!("RFP#{rule}"), ObjectKind::Visitor, visitors)
            .await
    }

    pub async fn put_rule_fingerprints(
        &self,
        id: &TenantId,
        rule: &str,
        values: &[(String, String)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, &format!("RFP#{rule}"), ObjectKind::Visitor, values)
            .await
    }

    /// Every visitor a rule has written to (paged internally; ids only).
    pub async fn list_rule_fingerprint_ids(
        &self,
        id: &TenantId,
        rule: &str,
    ) -> Result<Vec<String>, StoreError> {
        let head = format!("RFP#{rule}#{}#", ObjectKind::Visitor.code());
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .query(&tenant_pk(id), &head, after.as_deref(), 1000, false)
                .await?;
            out.extend(page.items.iter().map(|i| i.sk[head.len()..].to_string()));
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Claims an action's idempotency key before the HubSpot call (conditional write).
    pub async fn claim_action(&self, id: &TenantId, key: &str) -> Result<ActionClaim, StoreError> {
        let pk = tenant_pk(id);
        let sk = format!("ACTION#{key}");
        let pending = ActionState { hubspot_id: None };
        match self
            .store
            .put(
                item(pk.clone(), sk.clone(), 1, None, &pending),
                Condition::NotExists,
            )
            .await
        {
            Ok(()) => Ok(ActionClaim::New),
            Err(e) if e.is_condition_failed() => {
                let existing: ActionState = match self.store.get(&pk, &sk).await? {
                    Some(i) => decode(&i)?,
                    None => return Ok(ActionClaim::Pending),
                };
                Ok(match existing.hubspot_id {
                    Some(h) => ActionClaim::Done(h),
                    None => ActionClaim::Pending,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Marks a claimed action done, with the HubSpot record it created or changed.
    pub async fn complete_action(
        &self,
        id: &TenantId,
        key: &str,
        hubspot_id: &str,
    ) -> Result<(), StoreError> {
        let done = ActionState {
            hubspot_id: Some(hubspot_id.to_string()),
        };
        self.store
            .put(
                item(tenant_pk(id), format!("ACTION#{key}"), 2, None, &done),
                Condition::Always,
            )
            .await
    }
}
