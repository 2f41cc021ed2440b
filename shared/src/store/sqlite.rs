//! Embedded SQLite adapter: the local default. One file, created on first use, WAL journal.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{is_live, now_epoch, Condition, Item, Page, Store, StoreError};

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::backend("open", e))?;
            }
        }
        let conn = Connection::open(path).map_err(|e| StoreError::backend("open", e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| StoreError::backend("open", e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| StoreError::backend("open", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| StoreError::backend("open", e))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS items (
                pk TEXT NOT NULL, sk TEXT NOT NULL, version INTEGER NOT NULL,
                expires_at INTEGER, data TEXT NOT NULL, PRIMARY KEY (pk, sk)) WITHOUT ROWID;",
        )
        .map_err(|e| StoreError::backend("open", e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::backend(operation, "connection lock poisoned"))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::backend(operation, e))?
    }
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        version: row.get::<_, i64>(2)? as u64,
        expires_at: row.get(3)?,
        data: row.get(4)?,
    })
}

fn check(
    tx: &rusqlite::Transaction<'_>,
    pk: &str,
    sk: &str,
    condition: Condition,
) -> Result<(), StoreError> {
    if condition == Condition::Always {
        return Ok(());
    }
    let current: Option<(i64, Option<i64>)> = tx
        .query_row(
            "SELECT version, expires_at FROM items WHERE pk = ?1 AND sk = ?2",
            params![pk, sk],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| StoreError::backend("condition", e))?;
    let now = now_epoch();
    let ok = match condition {
        Condition::Always => true,
        Condition::NotExists => current.is_none_or(|(_, exp)| !is_live(exp, now)),
        Condition::VersionIs(v) => {
            current.is_some_and(|(cv, exp)| cv as u64 == v && is_live(exp, now))
        }
        Condition::NotExistsOrExpired { now } => {
            current.is_none_or(|(_, exp)| exp.is_some_and(|e| e <= now))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::ConditionFailed {
            pk: pk.to_string(),
            sk: sk.to_string(),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_string(), sk.to_string());
        self.with("get", move |c| {
            let item = c
                .query_row(
                    "SELECT pk, sk, version, expires_at, data FROM items WHERE pk = ?1 AND sk = ?2",
                    params![pk, sk],
                    row_to_item,
                )
                .optional()
                .map_err(|e| StoreError::backend("get", e))?;
            Ok(item.filter(|i| is_live(i.expires_at, now_epoch())))
        })
        .await
    }

    async fn get_many(&self, pk: &str, sks: &[String]) -> Result<Vec<Item>, StoreError> {
        let (pk, sks) = (pk.to_string(), sks.to_vec());
        self.with("get_many", move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT pk, sk, version, expires_at, data FROM items WHERE pk = ?1 AND sk = ?2",
                )
                .map_err(|e| StoreError::backend("get_many", e))?;
            let now = now_epoch();
            let mut out = Vec::with_capacity(sks.len());
            for sk in &sks {
                if let Some(item) = stmt
                    .query_row(params![pk, sk], row_to_item)
                    .optional()
                    .map_err(|e| StoreError::backend("get_many", e))?
                {
                    if is_live(item.expires_at, now) {
                        out.push(item);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.with("put", move |c| {
            // IMMEDIATE takes the write lock before the read, so check-then-write is atomic
            // across connections and processes.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| StoreError::backend("put", e))?;
            check(&tx, &item.pk, &item.sk, condition)?;
            tx.execute(
                "INSERT OR REPLACE INTO items (pk, sk, version, expires_at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![item.pk, item.sk, item.version as i64, item.expires_at, item.data],
            )
            .map_err(|e| StoreError::backend("put", e))?;
            tx.commit().map_err(|e| StoreError::backend("put", e))
        })
        .await
    }

    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.with("put_many", move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| StoreError::backend("put_many", e))?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO items (pk, sk, version, expires_at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(|e| StoreError::backend("put_many", e))?;
                for item in &items {
                    stmt.execute(params![item.pk, item.sk, item.version as i64, item.expires_at, item.data])
                        .map_err(|e| StoreError::backend("put_many", e))?;
                }
            }
            tx.commit().map_err(|e| StoreError::backend("put_many", e))
        })
        .await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let (pk, sk) = (pk.to_string(), sk.to_string());
        self.with("delete", move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| StoreError::backend("delete", e))?;
            check(&tx, &pk, &sk, condition)?;
            tx.execute(
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                params![pk, sk],
            )
            .map_err(|e| StoreError::backend("delete", e))?;
            tx.commit().map_err(|e| StoreError::backend("delete", e))
        })
        .await
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Item>, StoreError> {
        let (pk, prefix, after) = (
            pk.to_string(),
            prefix.to_string(),
            after.map(str::to_string),
        );
        let limit = limit.clamp(1, 1000);
        self.with("query", move |c| {
            // Upper bound of the prefix range: prefix + U+10FFFF sorts after every key with it.
            let upper = format!("{prefix}\u{10FFFF}");
            let sql = if descending {
                "SELECT pk, sk, version, expires_at, data FROM items
                 WHERE pk = ?1 AND sk >= ?2 AND sk < ?3 AND (?4 IS NULL OR sk < ?4)
                 ORDER BY sk DESC LIMIT ?5"
            } else {
                "SELECT pk, sk, version, expires_at, data FROM items
                 WHERE pk = ?1 AND sk >= ?2 AND sk < ?3 AND (?4 IS NULL OR sk > ?4)
                 ORDER BY sk ASC LIMIT ?5"
            };
            let mut stmt = c
                .prepare_cached(sql)
                .map_err(|e| StoreError::backend("query", e))?;
            let rows: Vec<Item> = stmt
                .query_map(
                    params![pk, prefix, upper, after, (limit + 1) as i64],
                    row_to_item,
                )
                .map_err(|e| StoreError::backend("query", e))?
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::backend("query", e))?;
            let more = rows.len() > limit;
            let mut items: Vec<Item> = rows.into_iter().take(limit).collect();
            let next = if more {
                items.last().map(|i| i.sk.clone())
            } else {
                None
            };
            let now = now_epoch();
            items.retain(|i| is_live(i.expires_at, now));
            Ok(Page { items, next })
        })
        .await
    }
}
