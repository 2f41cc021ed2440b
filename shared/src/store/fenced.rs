//! The store as a running sync sees it: every write first checks the run's stop flag, so a
//! run stopped because its tenant is being deleted (or its lease was lost) cannot recreate
//! anything of that tenant, whatever step it was in.

use async_trait::async_trait;
use std::sync::Arc;

use super::{Condition, Item, Page, Store, StoreError};
use crate::http::Cancel;

pub struct FencedStore {
    inner: Arc<dyn Store>,
    cancel: Cancel,
}

impl FencedStore {
    pub fn new(inner: Arc<dyn Store>, cancel: Cancel) -> Self {
        Self { inner, cancel }
    }

    fn open(&self) -> Result<(), StoreError> {
        self.cancel.check().map_err(StoreError::Fenced)
    }
}

#[async_trait]
impl Store for FencedStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn get_many(&self, pk: &str, sks: &[String]) -> Result<Vec<Item>, StoreError> {
        self.inner.get_many(pk, sks).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.open()?;
        self.inner.put(item, condition).await
    }
    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.open()?;
        self.inner.put_many(items).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.open()?;
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
        self.inner.query(pk, prefix, after, limit, descending).await
    }
}
