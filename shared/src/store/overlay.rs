//! A copy-on-write view of a store for dry runs: reads see the base store plus this run's own
//! writes, writes stay in memory, so a dry run computes exactly what a real run would and
//! leaves the stored state untouched (issue 14, defect 2).

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{is_live, now_epoch, Condition, Item, Page, Store, StoreError};

type Key = (String, String);

/// Reads through to `base`; every write lands in memory (`None` = deleted here).
pub struct OverlayStore {
    base: Arc<dyn Store>,
    writes: Mutex<BTreeMap<Key, Option<Item>>>,
}

impl OverlayStore {
    pub fn new(base: Arc<dyn Store>) -> Self {
        Self {
            base,
            writes: Mutex::new(BTreeMap::new()),
        }
    }

    fn local(&self, pk: &str, sk: &str) -> Option<Option<Item>> {
        self.writes
            .lock()
            .expect("overlay lock")
            .get(&(pk.to_string(), sk.to_string()))
            .cloned()
    }

    async fn current(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        match self.local(pk, sk) {
            Some(v) => Ok(v.filter(|i| is_live(i.expires_at, now_epoch()))),
            None => self.base.get(pk, sk).await,
        }
    }

    async fn check(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let cur = self.current(pk, sk).await?;
        let ok = match condition {
            Condition::Always => true,
            Condition::NotExists => cur.is_none(),
            Condition::VersionIs(v) => cur.is_some_and(|i| i.version == v),
            Condition::NotExistsOrExpired { now } => {
                cur.is_none_or(|i| i.expires_at.is_some_and(|e| e <= now))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::ConditionFailed {
                pk: pk.into(),
                sk: sk.into(),
            })
        }
    }

    fn set(&self, pk: &str, sk: &str, item: Option<Item>) {
        self.writes
            .lock()
            .expect("overlay lock")
            .insert((pk.to_string(), sk.to_string()), item);
    }
}

#[async_trait]
impl Store for OverlayStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.current(pk, sk).await
    }

    async fn get_many(&self, pk: &str, sks: &[String]) -> Result<Vec<Item>, StoreError> {
        let (mut out, mut rest) = (Vec::new(), Vec::new());
        for sk in sks {
            match self.local(pk, sk) {
                Some(Some(i)) if is_live(i.expires_at, now_epoch()) => out.push(i),
                Some(_) => {}
                None => rest.push(sk.clone()),
            }
        }
        if !rest.is_empty() {
            out.extend(self.base.get_many(pk, &rest).await?);
        }
        Ok(out)
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.check(&item.pk, &item.sk, condition).await?;
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        self.set(&pk, &sk, Some(item));
        Ok(())
    }

    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for i in items {
            let (pk, sk) = (i.pk.clone(), i.sk.clone());
            self.set(&pk, &sk, Some(i));
        }
        Ok(())
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.check(pk, sk, condition).await?;
        self.set(pk, sk, None);
        Ok(())
    }

    /// The base page, with this overlay's items of the same key range merged in (a page may
    /// hold a few more items than `limit`; `next` is the base's, which is the last key read).
    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Item>, StoreError> {
        let base = self
            .base
            .query(pk, prefix, after, limit, descending)
            .await?;
        let bound = base.next.clone();
        let in_range = |sk: &str| {
            if !sk.starts_with(prefix) {
                return false;
            }
            let past_after = after.is_none_or(|a| if descending { sk < a } else { sk > a });
            let before_bound =
                bound
                    .as_deref()
                    .is_none_or(|b| if descending { sk >= b } else { sk <= b });
            past_after && before_bound
        };
        let mut merged: BTreeMap<String, Option<Item>> = base
            .items
            .into_iter()
            .map(|i| (i.sk.clone(), Some(i)))
            .collect();
        let now = now_epoch();
        for ((p, sk), v) in self.writes.lock().expect("overlay lock").iter() {
            if p == pk && in_range(sk) {
                merged.insert(sk.clone(), v.clone().filter(|i| is_live(i.expires_at, now)));
            }
        }
        let mut items: Vec<Item> = merged.into_values().flatten().collect();
        if descending {
            items.reverse();
        }
        Ok(Page { items, next: bound })
    }
}
