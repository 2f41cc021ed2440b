//! Per-visitor erasure: every item stored about one visitor.

use super::*;

impl Repo {
    /// Deletes every item kept about one visitor: push state (link, fingerprint), usage
    /// history, the pull fingerprint of its linked contact, rule fingerprints and PQL action
    /// records. Returns how many existed.
    pub async fn forget_visitor(
        &self,
        id: &TenantId,
        visitor: &str,
        contact: Option<&str>,
    ) -> Result<u64, StoreError> {
        let code = ObjectKind::Visitor.code();
        let mut sks = vec![
            format!("OBJ#{code}#{visitor}"),
            format!("ACT#{code}#{visitor}"),
        ];
        if let Some(c) = contact {
            sks.push(format!("PULL#{code}#{c}"));
        }
        for rule in self.get_rules(id).await?.rules {
            sks.push(format!("RFP#{}#{code}#{visitor}", rule.id));
            sks.push(format!("ACTION#pql:{}:{visitor}", rule.id));
        }
        let pk = tenant_pk(id);
        let existing = self.store.get_many(&pk, &sks).await?;
        for i in &existing {
            self.store.delete(&pk, &i.sk, Condition::Always).await?;
        }
        Ok(existing.len() as u64)
    }
}
