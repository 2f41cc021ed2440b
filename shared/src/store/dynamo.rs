//! DynamoDB adapter: single table (`pk`, `sk`), `version` for optimistic concurrency,
//! `expires_at` as the TTL attribute. See the key design in [`super`].

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

use super::{is_live, now_epoch, Condition, Item, Page, Store, StoreError};

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

const MAX_BATCH_WRITE: usize = 25;
const MAX_BATCH_GET: usize = 100;

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table with the same shape template.yaml declares (tests and local infra).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::backend("create_table", e))
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(|e| StoreError::backend("create_table", e))
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await
            .map_err(|e| {
                StoreError::backend(
                    "create_table",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e),
                )
            })?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .map_err(|e| StoreError::backend("create_table", e))?,
            )
            .send()
            .await
            .map_err(|e| {
                StoreError::backend(
                    "create_table",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e),
                )
            })?;
        Ok(())
    }

    fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk.to_string())),
            ("sk".to_string(), AttributeValue::S(sk.to_string())),
        ])
    }
}

fn to_attrs(item: Item) -> HashMap<String, AttributeValue> {
    let mut m = HashMap::from([
        ("pk".to_string(), AttributeValue::S(item.pk)),
        ("sk".to_string(), AttributeValue::S(item.sk)),
        (
            "version".to_string(),
            AttributeValue::N(item.version.to_string()),
        ),
        ("data".to_string(), AttributeValue::S(item.data)),
    ]);
    if let Some(e) = item.expires_at {
        m.insert("expires_at".to_string(), AttributeValue::N(e.to_string()));
    }
    m
}

fn from_attrs(mut m: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let s = |m: &mut HashMap<String, AttributeValue>, k: &str| match m.remove(k) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    };
    let pk = s(&mut m, "pk").unwrap_or_default();
    let sk = s(&mut m, "sk").unwrap_or_default();
    let corrupt = |reason: &str| StoreError::Corrupt {
        pk: pk.clone(),
        sk: sk.clone(),
        reason: reason.to_string(),
    };
    let version = match m.remove("version") {
        Some(AttributeValue::N(n)) => n
            .parse::<u64>()
            .map_err(|_| corrupt("version is not an integer"))?,
        _ => return Err(corrupt("missing version")),
    };
    let expires_at = match m.remove("expires_at") {
        Some(AttributeValue::N(n)) => Some(
            n.parse::<i64>()
                .map_err(|_| corrupt("expires_at is not an integer"))?,
        ),
        None => None,
        Some(_) => return Err(corrupt("expires_at is not a number")),
    };
    let data = s(&mut m, "data").ok_or_else(|| corrupt("missing data"))?;
    Ok(Item {
        pk,
        sk,
        version,
        expires_at,
        data,
    })
}

/// Condition expression, attribute names and values for a conditional write.
type ConditionParts = (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
);

fn condition_parts(condition: Condition) -> Option<ConditionParts> {
    match condition {
        Condition::Always => None,
        // An expired-but-not-yet-deleted item counts as absent.
        Condition::NotExists => Some((
            "attribute_not_exists(pk) OR (attribute_exists(#e) AND #e <= :now)".into(),
            HashMap::from([("#e".into(), "expires_at".into())]),
            HashMap::from([(":now".into(), AttributeValue::N(now_epoch().to_string()))]),
        )),
        // An expired item has no version any more: the same as absent.
        Condition::VersionIs(v) => Some((
            "#v = :v AND (attribute_not_exists(#e) OR #e > :now)".into(),
            HashMap::from([
                ("#v".into(), "version".into()),
                ("#e".into(), "expires_at".into()),
            ]),
            HashMap::from([
                (":v".into(), AttributeValue::N(v.to_string())),
                (":now".into(), AttributeValue::N(now_epoch().to_string())),
            ]),
        )),
        Condition::NotExistsOrExpired { now } => Some((
            "attribute_not_exists(pk) OR #e <= :now".into(),
            HashMap::from([("#e".into(), "expires_at".into())]),
            HashMap::from([(":now".into(), AttributeValue::N(now.to_string()))]),
        )),
    }
}

/// Adds a condition expression to a put or delete request (their builders share no trait).
macro_rules! conditioned {
    ($req:expr, $condition:expr) => {{
        let req = $req;
        match condition_parts($condition) {
            Some((expr, names, values)) => req
                .condition_expression(expr)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values)),
            None => req,
        }
    }};
}

fn write_error(
    condition_failed: bool,
    pk: &str,
    sk: &str,
    operation: &'static str,
    e: impl std::fmt::Display,
) -> StoreError {
    if condition_failed {
        StoreError::ConditionFailed {
            pk: pk.to_string(),
            sk: sk.to_string(),
        }
    } else {
        StoreError::backend(operation, e)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                StoreError::backend("get", aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
        match out.item {
            Some(m) => {
                let item = from_attrs(m)?;
                Ok(is_live(item.expires_at, now_epoch()).then_some(item))
            }
            None => Ok(None),
        }
    }

    async fn get_many(&self, pk: &str, sks: &[String]) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::with_capacity(sks.len());
        let now = now_epoch();
        for chunk in sks.chunks(MAX_BATCH_GET) {
            let mut pending: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(|sk| Self::key(pk, sk)).collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let keys = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::backend("get_many", e))?;
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| {
                        StoreError::backend(
                            "get_many",
                            aws_sdk_dynamodb::error::DisplayErrorContext(e),
                        )
                    })?;
                for m in resp
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    let item = from_attrs(m)?;
                    if is_live(item.expires_at, now) {
                        out.push(item);
                    }
                }
                if let Some(mut unprocessed) = resp.unprocessed_keys {
                    if let Some(k) = unprocessed.remove(&self.table) {
                        pending = k.keys;
                    }
                }
                if !pending.is_empty() {
                    attempt += 1;
                    backoff(attempt, "get_many").await?;
                }
            }
        }
        Ok(out)
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        let req = conditioned!(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_attrs(item))),
            condition
        );
        req.send().await.map(|_| ()).map_err(|e| {
            let failed = e
                .as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception());
            write_error(
                failed,
                &pk,
                &sk,
                "put",
                aws_sdk_dynamodb::error::DisplayErrorContext(e),
            )
        })
    }

    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|i| {
                PutRequest::builder()
                    .set_item(Some(to_attrs(i)))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| StoreError::backend("put_many", e))
            })
            .collect::<Result<_, _>>()?;
        self.batch_write(requests, "put_many").await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let req = conditioned!(
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(pk, sk))),
            condition
        );
        req.send().await.map(|_| ()).map_err(|e| {
            let failed = e
                .as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception());
            write_error(
                failed,
                pk,
                sk,
                "delete",
                aws_sdk_dynamodb::error::DisplayErrorContext(e),
            )
        })
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Item>, StoreError> {
        let limit = limit.clamp(1, 1000);
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
            .scan_index_forward(!descending)
            .consistent_read(true)
            .limit(limit as i32);
        // An empty string is not a valid key-condition value, so "whole partition" omits it.
        req = if prefix.is_empty() {
            req.key_condition_expression("pk = :pk")
        } else {
            req.key_condition_expression("pk = :pk AND begins_with(sk, :pre)")
                .expression_attribute_values(":pre", AttributeValue::S(prefix.to_string()))
        };
        if let Some(a) = after {
            req = req.set_exclusive_start_key(Some(Self::key(pk, a)));
        }
        let resp = req.send().await.map_err(|e| {
            StoreError::backend("query", aws_sdk_dynamodb::error::DisplayErrorContext(e))
        })?;
        let now = now_epoch();
        let raw = resp.items.unwrap_or_default();
        let full_page = raw.len() >= limit;
        let mut items = Vec::with_capacity(raw.len());
        let mut last_sk = None;
        for m in raw {
            let item = from_attrs(m)?;
            last_sk = Some(item.sk.clone());
            if is_live(item.expires_at, now) {
                items.push(item);
            }
        }
        // LastEvaluatedKey alone can point at an empty tail page; only offer `next` when
        // DynamoDB says there is more.
        let next = resp
            .last_evaluated_key
            .and_then(|mut k| match k.remove("sk") {
                Some(AttributeValue::S(s)) => Some(s),
                _ => None,
            })
            .or(if full_page { last_sk } else { None })
            .filter(|_| full_page);
        Ok(Page { items, next })
    }

    async fn delete_partition(&self, pk: &str) -> Result<u64, StoreError> {
        self.delete_partition_batched(pk).await
    }
}

impl DynamoStore {
    async fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        for chunk in requests.chunks(MAX_BATCH_WRITE) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let resp = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(|e| {
                        StoreError::backend(
                            operation,
                            aws_sdk_dynamodb::error::DisplayErrorContext(e),
                        )
                    })?;
                if let Some(mut unprocessed) = resp.unprocessed_items {
                    pending = unprocessed.remove(&self.table).unwrap_or_default();
                }
                if !pending.is_empty() {
                    attempt += 1;
                    backoff(attempt, operation).await?;
                }
            }
        }
        Ok(())
    }

    async fn delete_partition_batched(&self, pk: &str) -> Result<u64, StoreError> {
        let mut deleted = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self.query(pk, "", after.as_deref(), 500, false).await?;
            let reqs: Vec<WriteRequest> = page
                .items
                .iter()
                .map(|i| {
                    DeleteRequest::builder()
                        .set_key(Some(Self::key(&i.pk, &i.sk)))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| StoreError::backend("delete_partition", e))
                })
                .collect::<Result<_, _>>()?;
            deleted += reqs.len() as u64;
            self.batch_write(reqs, "delete_partition").await?;
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(deleted),
            }
        }
    }
}

async fn backoff(attempt: u32, operation: &'static str) -> Result<(), StoreError> {
    if attempt > 8 {
        return Err(StoreError::backend(
            operation,
            "unprocessed items after 8 retries",
        ));
    }
    let ms = 25u64 << attempt.min(6);
    tokio::time::sleep(std::time::Duration::from_millis(
        ms + rand::random::<u64>() % ms,
    ))
    .await;
    Ok(())
}
