//! A `Store` decorator counting item reads and writes, for the DynamoDB cost model.

use async_trait::async_trait;
use shared::store::{Condition, Item, Page, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Counts {
    pub read_units: AtomicU64,
    pub write_units: AtomicU64,
}

pub struct CountingStore {
    pub inner: Arc<dyn Store>,
    pub counts: Arc<Counts>,
}

/// Strongly consistent reads cost 1 unit per 4 KB, writes 1 unit per 1 KB (rounded up).
fn read_units(i: &Item) -> u64 {
    ((i.data.len() + i.pk.len() + i.sk.len() + 40) as u64).div_ceil(4096)
}
fn write_units(i: &Item) -> u64 {
    ((i.data.len() + i.pk.len() + i.sk.len() + 40) as u64).div_ceil(1024)
}

#[async_trait]
impl Store for CountingStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let r = self.inner.get(pk, sk).await?;
        self.counts
            .read_units
            .fetch_add(r.as_ref().map_or(1, read_units), Ordering::Relaxed);
        Ok(r)
    }
    async fn get_many(&self, pk: &str, sks: &[String]) -> Result<Vec<Item>, StoreError> {
        let r = self.inner.get_many(pk, sks).await?;
        let units: u64 = r.iter().map(read_units).sum::<u64>() + (sks.len() - r.len()) as u64;
        self.counts.read_units.fetch_add(units, Ordering::Relaxed);
        Ok(r)
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.counts
            .write_units
            .fetch_add(write_units(&item), Ordering::Relaxed);
        self.inner.put(item, condition).await
    }
    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let units: u64 = items.iter().map(write_units).sum();
        self.counts.write_units.fetch_add(units, Ordering::Relaxed);
        self.inner.put_many(items).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.counts.write_units.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(pk, sk, condition).await
    }
    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Item>, StoreError> {
        let r = self
            .inner
            .query(pk, prefix, after, limit, descending)
            .await?;
        let bytes: usize = r.items.iter().map(|i| i.data.len() + 60).sum();
        self.counts
            .read_units
            .fetch_add((bytes as u64).div_ceil(4096).max(1), Ordering::Relaxed);
        Ok(r)
    }
}
