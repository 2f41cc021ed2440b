//! Members of a mapped segment last written to HubSpot: one item per member
//! (`SEGM#<segment>#V#<visitor>` → contact id), so a segment of any size fits (one item per
//! segment would pass DynamoDB's 400 KB item limit at ~15,000 members).

use super::*;
use std::collections::BTreeMap;

fn segment_prefix(segment: &str) -> String {
    // `#` separates key parts; a segment id never needs one.
    format!("SEGM#{}", segment.replace('#', "%23"))
}

impl Repo {
    /// Visitor id → contact id of every stored member of `segment`.
    pub async fn segment_members(
        &self,
        id: &TenantId,
        segment: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let head = format!(
            "{}#{}#",
            segment_prefix(segment),
            ObjectKind::Visitor.code()
        );
        let pk = tenant_pk(id);
        let mut out = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .query(&pk, &head, after.as_deref(), 1000, false)
                .await?;
            for i in &page.items {
                let contact: String = decode(i)?;
                out.insert(i.sk[head.len()..].to_string(), contact);
            }
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Stores (visitor, contact) members of `segment`.
    pub async fn put_segment_members(
        &self,
        id: &TenantId,
        segment: &str,
        members: &[(String, String)],
    ) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        self.put_keyed(id, &segment_prefix(segment), ObjectKind::Visitor, members)
            .await
    }

    /// Forgets members of `segment`.
    pub async fn delete_segment_members(
        &self,
        id: &TenantId,
        segment: &str,
        visitors: &[String],
    ) -> Result<(), StoreError> {
        let pk = tenant_pk(id);
        let head = format!(
            "{}#{}#",
            segment_prefix(segment),
            ObjectKind::Visitor.code()
        );
        for v in visitors {
            self.store
                .delete(&pk, &format!("{head}{v}"), Condition::Always)
                .await?;
        }
        Ok(())
    }
}
