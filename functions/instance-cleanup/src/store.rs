//! Where instance-cleanup keeps the set of instances it has marked.
//!
//! `ListWorkspaceInstances` can filter by state but not by tag, so an
//! instance that was marked while errored and then recovered cannot be found
//! again by the errored-state listing. The store remembers every mark this
//! warden wrote; each run re-checks the remembered ids that the listing did
//! not return (one `GetWorkspaceInstance` + `ListTagsForResource` each)
//! instead of listing the whole fleet.
//!
//! The store is also the authority on marks: a mark tag on an instance
//! counts only when the store knows the instance (see `docs/instance-cleanup.md`).
//! Losing the store can therefore only delay a deletion (the instance is
//! marked afresh), never hasten one.
//!
//! Two implementations: [`MemoryMarkStore`] (demo, tests) and, with the
//! `dynamodb` feature, [`DynamoMarkStore`] (one item per marked instance).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;

/// One remembered mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkRecord {
    /// The marked instance (`WorkspaceInstanceId`), the item key.
    pub instance_id: String,
    /// When it was marked (the mark tag's value). `None`: the store holds
    /// a time that cannot be read (hand-edited, another writer, numeric):
    /// such a record never vouches for a mark tag, so the instance is
    /// marked afresh instead of trusting a tag of unknown age.
    pub marked_at: Option<Timestamp>,
    /// Why (the first error code), as tagged.
    pub reason: String,
}

/// A store operation that failed; names the store and the operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mark store {store}: {operation} failed: {message}")]
pub struct StoreError {
    /// Which store (`dynamodb table NAME`, `memory`).
    pub store: String,
    /// The operation (`Scan`, `BatchWriteItem`, ...).
    pub operation: String,
    /// What went wrong.
    pub message: String,
}

/// The set of marked instances, read once and updated in small batches per
/// run.
pub trait MarkStore: Send + Sync {
    /// Every remembered mark, by instance id.
    fn load(&self)
        -> impl Future<Output = Result<BTreeMap<String, MarkRecord>, StoreError>> + Send;
    /// Remembers marks (overwriting any for the same ids).
    fn put(&self, records: &[MarkRecord]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets ids (absent ids are fine).
    fn remove(&self, ids: &[String]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A description for logs and errors.
    fn describe(&self) -> String;
}

/// In memory: for the demo, tests, and one process's lifetime only.
#[derive(Debug, Default)]
pub struct MemoryMarkStore {
    marks: Mutex<BTreeMap<String, MarkRecord>>,
}

impl MemoryMarkStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the remembered marks.
    pub fn snapshot(&self) -> BTreeMap<String, MarkRecord> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets everything (simulates a lost store).
    pub fn clear(&self) {
        self.marks.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl MarkStore for MemoryMarkStore {
    async fn load(&self) -> Result<BTreeMap<String, MarkRecord>, StoreError> {
        Ok(self.snapshot())
    }

    async fn put(&self, records: &[MarkRecord]) -> Result<(), StoreError> {
        let mut m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        for r in records {
            m.insert(r.instance_id.clone(), r.clone());
        }
        Ok(())
    }

    async fn remove(&self, ids: &[String]) -> Result<(), StoreError> {
        let mut m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            m.remove(id);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

pub use dynamo::DynamoMarkStore;

mod dynamo {
    use std::collections::{BTreeMap, HashMap};
    use std::time::Duration;

    use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

    use super::{MarkRecord, MarkStore, StoreError};
    use warden_core::aws::deadline::classify;

    /// The partition key (string): the WorkspaceInstanceId.
    pub const KEY: &str = "instance_id";
    const MARKED_AT: &str = "marked_at";
    const REASON: &str = "reason";
    /// BatchWriteItem takes at most 25 requests.
    const BATCH: usize = 25;
    /// Rounds of re-sending `UnprocessedItems` (throttled writes) before
    /// giving up on a batch.
    const UNPROCESSED_ROUNDS: u32 = 5;

    /// One item per marked instance in a table whose partition key is
    /// `instance_id` (S). Reads are one consistent `Scan` per run (the set is
    /// small: the errored instances); writes are `BatchWriteItem`s of 25.
    #[derive(Debug, Clone)]
    pub struct DynamoMarkStore {
        client: aws_sdk_dynamodb::Client,
        table: String,
    }

    impl DynamoMarkStore {
        /// The store in `table`.
        pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
            DynamoMarkStore {
                client,
                table: table.into(),
            }
        }

        /// The store in `table`, with a client built from the shared config
        /// (so the function crate needs no DynamoDB dependency of its own).
        pub fn from_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
            Self::new(aws_sdk_dynamodb::Client::new(config), table)
        }

        /// The table name.
        pub fn table(&self) -> &str {
            &self.table
        }

        fn err(&self, operation: &str, message: impl Into<String>) -> StoreError {
            StoreError {
                store: self.describe(),
                operation: operation.into(),
                message: message.into(),
            }
        }

        /// Creates the table (on-demand, key `instance_id`) if it does not
        /// exist: for local runs and tests. The SAM template creates it in AWS.
        pub async fn ensure_table(&self) -> Result<(), StoreError> {
            use aws_sdk_dynamodb::types::{
                AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            };
            if self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .is_ok()
            {
                return Ok(());
            }
            let attr = AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| self.err("CreateTable", e.to_string()))?;
            let key = KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| self.err("CreateTable", e.to_string()))?;
            self.client
                .create_table()
                .table_name(&self.table)
                .attribute_definitions(attr)
                .key_schema(key)
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .map_err(|e| self.err("CreateTable", classify(&e).to_string()))?;
            Ok(())
        }

        async fn write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
            for chunk in requests.chunks(BATCH) {
                let mut pending = chunk.to_vec();
                let mut round = 0;
                while !pending.is_empty() {
                    let out = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, pending)
                        .send()
                        .await
                        .map_err(|e| self.err("BatchWriteItem", classify(&e).to_string()))?;
                    pending = out
                        .unprocessed_items()
                        .and_then(|m| m.get(&self.table))
                        .cloned()
                        .unwrap_or_default();
                    if pending.is_empty() {
                        break;
                    }
                    round += 1;
                    if round > UNPROCESSED_ROUNDS {
                        return Err(self.err(
                            "BatchWriteItem",
                            format!(
                                "{} items still unprocessed after {UNPROCESSED_ROUNDS} retries",
                                pending.len()
                            ),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50 << round.min(5))).await;
                }
            }
            Ok(())
        }
    }

    fn s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
        item.get(k).and_then(|v| v.as_s().ok()).cloned()
    }

    impl MarkStore for DynamoMarkStore {
        async fn load(&self) -> Result<BTreeMap<String, MarkRecord>, StoreError> {
            let mut out = BTreeMap::new();
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            loop {
                let page = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| self.err("Scan", classify(&e).to_string()))?;
                for item in page.items() {
                    let Some(id) = s(item, KEY) else {
                        tracing::warn!(table = %self.table, "mark store item without a string `{KEY}` ignored");
                        continue;
                    };
                    // An unreadable time trusts nothing: the mark tag of
                    // this instance is treated as unknown and marked afresh.
                    let marked_at = s(item, MARKED_AT).and_then(|t| t.parse().ok());
                    if marked_at.is_none() {
                        tracing::warn!(
                            table = %self.table,
                            instance_id = %id,
                            value = ?item.get(MARKED_AT),
                            "mark store: `{MARKED_AT}` is missing or not an RFC 3339 string: the instance's mark is not trusted and is written afresh"
                        );
                    }
                    let reason = s(item, REASON).unwrap_or_default();
                    out.insert(
                        id.clone(),
                        MarkRecord {
                            instance_id: id,
                            marked_at,
                            reason,
                        },
                    );
                }
                match page.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => break,
                }
            }
            Ok(out)
        }

        async fn put(&self, records: &[MarkRecord]) -> Result<(), StoreError> {
            let mut reqs = Vec::with_capacity(records.len());
            for r in records {
                let put = PutRequest::builder()
                    .item(KEY, AttributeValue::S(r.instance_id.clone()))
                    .item(
                        MARKED_AT,
                        AttributeValue::S(r.marked_at.map(|t| t.to_string()).unwrap_or_default()),
                    )
                    .item(REASON, AttributeValue::S(r.reason.clone()))
                    .build()
                    .map_err(|e| self.err("BatchWriteItem", e.to_string()))?;
                reqs.push(WriteRequest::builder().put_request(put).build());
            }
            self.write(reqs).await
        }

        async fn remove(&self, ids: &[String]) -> Result<(), StoreError> {
            let mut reqs = Vec::with_capacity(ids.len());
            for id in ids {
                let del = DeleteRequest::builder()
                    .key(KEY, AttributeValue::S(id.clone()))
                    .build()
                    .map_err(|e| self.err("BatchWriteItem", e.to_string()))?;
                reqs.push(WriteRequest::builder().delete_request(del).build());
            }
            self.write(reqs).await
        }

        fn describe(&self) -> String {
            format!("dynamodb table {}", self.table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_puts_overwrites_and_removes() {
        let s = MemoryMarkStore::new();
        let t: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let rec = |id: &str, reason: &str| MarkRecord {
            instance_id: id.into(),
            marked_at: Some(t),
            reason: reason.into(),
        };
        s.put(&[rec("wsinst-a", "X"), rec("wsinst-b", "Y")])
            .await
            .unwrap();
        s.put(&[rec("wsinst-a", "Z")]).await.unwrap();
        let m = s.load().await.unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["wsinst-a"].reason, "Z");
        s.remove(&["wsinst-a".into(), "wsinst-nope".into()])
            .await
            .unwrap();
        assert_eq!(
            s.load().await.unwrap().keys().collect::<Vec<_>>(),
            ["wsinst-b"]
        );
    }
}
