//! A `Store` decorator counting DynamoDB-equivalent capacity units, for the cost model: totals
//! for one tenant, and (for the fleet) the units per partition key and second and the largest
//! item, in a shared [`Ledger`]. The benches keep worker state in embedded SQLite stores (moto
//! cannot hold millions of items here); this is what those calls would cost DynamoDB, and
//! where they would land.

use async_trait::async_trait;
use shared::store::{Condition, Item, Page, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::fleet_store::Ledger;

/// One tenant's totals.
#[derive(Default)]
pub struct Counts {
    pub read_units: AtomicU64,
    pub write_units: AtomicU64,
}

pub struct CountingStore {
    pub inner: Arc<dyn Store>,
    pub counts: Arc<Counts>,
    /// The fleet's per-partition picture; `None` for a single tenant.
    pub ledger: Option<Arc<Ledger>>,
}

/// DynamoDB's item size: attribute names plus values (strings by UTF-8 length, numbers about
/// one byte per two significant digits plus one), for the attributes the adapter writes
/// (`pk`, `sk`, `version`, `data`, optional `expires_at`; shared/src/store/dynamo.rs).
pub fn item_bytes(i: &Item) -> usize {
    let number = |n: u64| n.to_string().len().div_ceil(2) + 1;
    2 + i.pk.len()
        + 2
        + i.sk.len()
        + 7
        + number(i.version)
        + 4
        + i.data.len()
        + i.expires_at.map_or(0, |e| 10 + number(e.unsigned_abs()))
}

/// Strongly consistent reads: 1 unit per 4 KB; writes: 1 unit per 1 KB, per item.
fn read_units(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4096).max(1)
}
fn write_units(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(1024).max(1)
}

impl CountingStore {
    fn add(&self, pk: &str, read: u64, write: u64) {
        self.counts.read_units.fetch_add(read, Ordering::Relaxed);
        self.counts.write_units.fetch_add(write, Ordering::Relaxed);
        if let Some(l) = &self.ledger {
            l.add(pk, read, write);
        }
    }

    fn saw(&self, item: &Item) {
        if let Some(l) = &self.ledger {
            l.saw(item);
        }
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let r = self.inner.get(pk, sk).await?;
        self.add(pk, r.as_ref().map_or(1, |i| read_units(item_bytes(i))), 0);
        Ok(r)
    }
    async fn get_many(&self, pk: &str, sks: &[String]) -> Result<Vec<Item>, StoreError> {
        let r = self.inner.get_many(pk, sks).await?;
        let units: u64 =
            r.iter().map(|i| read_units(item_bytes(i))).sum::<u64>() + (sks.len() - r.len()) as u64;
        self.add(pk, units, 0);
        Ok(r)
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.saw(&item);
        self.add(&item.pk, 0, write_units(item_bytes(&item)));
        self.inner.put(item, condition).await
    }
    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let mut by_pk: HashMap<&str, u64> = HashMap::new();
        for i in &items {
            self.saw(i);
            *by_pk.entry(&i.pk).or_default() += write_units(item_bytes(i));
        }
        for (pk, units) in by_pk {
            self.add(pk, 0, units);
        }
        self.inner.put_many(items).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.add(pk, 0, 1);
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
        // A Query is charged on the summed size of the items it returns, not per item.
        let bytes: usize = r.items.iter().map(item_bytes).sum();
        self.add(pk, read_units(bytes), 0);
        Ok(r)
    }
}
