//! Lanes that store the same items: the usage backfill and NPS both fold into each visitor's
//! and account's stored history, from lanes that run side by side, and each stores whole items.

use async_trait::async_trait;
use shared::store::{Condition, Item, Page, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

use crate::record_lab::{props, Lab};

/// A store whose reads of usage histories take a while, as a DynamoDB read under load does:
/// two lanes that read, change and store the same history then overlap on every fold.
struct SlowHistoryReads(Arc<dyn Store>);

#[async_trait]
impl Store for SlowHistoryReads {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.0.get(pk, sk).await
    }
    async fn get_many(&self, pk: &str, sks: &[String]) -> Result<Vec<Item>, StoreError> {
        if sks.iter().any(|k| k.starts_with("ACT#")) {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.0.get_many(pk, sks).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.0.put(item, condition).await
    }
    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.0.put_many(items).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.0.delete(pk, sk, condition).await
    }
    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Item>, StoreError> {
        self.0.query(pk, prefix, after, limit, descending).await
    }
}

/// Every contact ends with both its usage and its latest NPS answer as the dataset has them:
/// neither lane's store of a history drops what the other folded into it meanwhile.
#[tokio::test]
async fn usage_and_nps_folded_side_by_side_both_reach_the_contacts() {
    let visitors = 400;
    let mut lab = Lab::with_store(
        visitors,
        20,
        serde_json::json!({"identity": {"match_contacts_by_email": true}}),
        |s| Arc::new(SlowHistoryReads(s)),
    )
    .await;
    let ids = lab.contacts(
        (0..visitors)
            .map(|v| props(&[("email", &lab.email_of(v))]))
            .collect(),
    );
    let run = lab.finished_run().await;
    assert_eq!(run.counts.failed, 0, "{:?}", lab.errors(&run).await);
    let today = lab.today();
    let (mut compared, mut answered, mut wrong) = (0, 0, Vec::new());
    lab.pendo.with(|p| {
        let reference = suites::expected::Reference::new(&p.data);
        for (v, id) in ids.iter().enumerate() {
            let contact = lab.contact(*id);
            for (k, want) in reference.visitor(v, today) {
                let have = contact.get(&k).map(String::as_str).unwrap_or("");
                compared += 1;
                answered += usize::from(k == "pendo_latest_nps_score" && !want.is_empty());
                if have != want {
                    wrong.push(format!("visitor {v}: {k} is {have:?}, expected {want:?}"));
                }
            }
        }
    });
    assert!(answered > 20, "the dataset gives NPS answers ({answered})");
    assert!(
        wrong.is_empty(),
        "{} of {compared}: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}
