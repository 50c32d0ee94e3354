//! [`DynamoStateStore`]: the state in one DynamoDB table (on demand, string
//! keys `pk` and `sk`, TTL attribute `ttl`). The item layout, the calls per
//! batch and their cost are in `docs/state.md`.
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | threshold window | `w#RULE#KEY` | `w` | `sw` (the [`WindowState`], CBOR; the JSON `st` of earlier versions is still read), `v` (version), `ttl` |
//! | budget period | `b#KIND` | period start (RFC 3339) | `used`, `max`, `end`, `ttl` |
//! | executed action | `a#KIND#TARGET#CAUSE` | `a` | `rule`, `at`, `ttl` |
//! | revocation | `r#FLEET#DOMAIN` | `r` | `fleet`, `domain`, `rule`, `at`, `cause`, `hold`, `ttl` (with a hold) |
//! | run lease | `l#NAME` | `l` | `owner`, `exp` (ms), `ttl` |
//! | population bucket | `u#population` | hour start (Unix seconds) | `users` (string set), `ttl` |
//!
//! Key components escape `%` and `#` (`%25`, `%23`), so no rule, key,
//! target or cause can reach into another item's key. DynamoDB deletes
//! expired items lazily (within days), so every read also treats an item
//! whose `ttl` has passed as absent.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    PutRequest, ReturnValue, ScalarAttributeType, TimeToLiveSpecification, WriteRequest,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::Blob;
use futures::stream::{self, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::window::WindowState;
use super::{
    budget_period, limits, normalise_domain, validate_batch, BudgetGrant, BudgetRequest,
    BudgetView, LeaseOutcome, LeaseView, LedgerEntry, LedgerKey, Revocation, StateError,
    StateFuture, StateSnapshot, StateStore, WindowHits, WindowKey, WindowOutcome, WindowView,
};
use crate::aws::deadline::error_chain;

type Item = HashMap<String, AttributeValue>;

/// The partition key attribute (S).
pub const PK: &str = "pk";
/// The sort key attribute (S).
pub const SK: &str = "sk";
/// The TTL attribute (N, Unix seconds).
pub const TTL: &str = "ttl";

/// A window item's state attribute (B, [`WindowState::to_bytes`]).
const WINDOW_STATE: &str = "sw";
/// The JSON state attribute of the first item format (still read).
const WINDOW_STATE_JSON: &str = "st";

/// `BatchWriteItem` takes at most 25 requests.
const WRITE_BATCH: usize = 25;
/// Rounds of re-sending unprocessed keys or items before giving up.
const UNPROCESSED_ROUNDS: u32 = 5;

/// How the DynamoDB store behaves. Every field has a production default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoSettings {
    /// Conditional `PutItem`s of changed windows in flight at once.
    pub write_concurrency: usize,
    /// Optimistic write rounds (read, compute, conditional write) before a
    /// hot key is reported as [`StateError::Contention`].
    pub write_attempts: u32,
    /// Latency added before every call (benchmarks only: models the
    /// round trip to DynamoDB when the table is on loopback).
    pub call_latency: Option<Duration>,
}

impl Default for DynamoSettings {
    fn default() -> Self {
        DynamoSettings {
            write_concurrency: 32,
            write_attempts: 6,
            call_latency: None,
        }
    }
}

/// Calls made and write units spent, per operation, since the store was
/// built (or [`DynamoStateStore::reset_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreStats {
    /// Calls per DynamoDB operation.
    pub calls: BTreeMap<String, u64>,
    /// Write request units (1 per started KB of each item written), as
    /// DynamoDB on-demand bills them.
    pub write_units: u64,
    /// Read request units: 1 per started 4 KB of an item read strongly
    /// consistent, half that eventually consistent.
    pub read_units: f64,
}

impl StoreStats {
    /// Calls of every operation together.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// The state in one DynamoDB table.
#[derive(Debug)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    settings: DynamoSettings,
    stats: Mutex<StoreStats>,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Escapes a key component: `%` and `#` become `%25` and `%23`.
fn esc(part: &str) -> String {
    part.replace('%', "%25").replace('#', "%23")
}

fn unesc(part: &str) -> String {
    part.replace("%23", "#").replace("%25", "%")
}

fn window_pk(w: &WindowKey) -> String {
    format!("w#{}#{}", esc(&w.rule), esc(&w.key))
}

fn ledger_pk(k: &LedgerKey) -> String {
    format!("a#{}#{}#{}", esc(&k.kind), esc(&k.target), esc(&k.cause))
}

fn revocation_pk(fleet: &str, domain: &str) -> String {
    format!("r#{}#{}", esc(fleet), esc(&normalise_domain(domain)))
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// Unix seconds, rounded up (what the `ttl` attribute holds).
fn ttl_secs(t: Timestamp) -> i64 {
    let ms = t.as_millisecond();
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0)
}

fn later(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.saturating_add(d).unwrap_or(Timestamp::MAX)
}

/// Whether an item's TTL has passed at `now` (DynamoDB deletes lazily).
fn expired(item: &Item, now: Timestamp) -> bool {
    get_n(item, TTL).is_some_and(|ttl| now.as_second() >= ttl)
}

/// The size DynamoDB bills for an item: attribute names plus values
/// (strings by UTF-8 length, numbers by about one byte per two digits plus
/// one), per the developer guide's item-size rules.
pub fn item_bytes(item: &Item) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(x) => x.len(),
            AttributeValue::N(x) => {
                let digits = x.chars().filter(char::is_ascii_digit).count();
                digits.div_ceil(2) + 1
            }
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| value(v) + 1).sum::<usize>(),
            AttributeValue::Ss(l) => l.iter().map(String::len).sum(),
            AttributeValue::Ns(l) => l.iter().map(|x| x.len().div_ceil(2) + 1).sum(),
            AttributeValue::Bs(l) => l.iter().map(|b| b.as_ref().len()).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

fn is_throttle(code: &str) -> bool {
    code.contains("Throttl")
        || code == "ProvisionedThroughputExceededException"
        || code == "ProvisionedThroughputExceeded"
        || code == "RequestLimitExceeded"
}

fn code_of<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// How a window in one `record_hits` round was settled.
struct Computed {
    index: usize,
    outcome: WindowOutcome,
    /// The item to write with the version it was read at, when it changed.
    write: Option<(Item, Option<i64>)>,
}

impl DynamoStateStore {
    /// The store in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStateStore {
            client,
            table: table.into(),
            settings: DynamoSettings::default(),
            stats: Mutex::new(StoreStats::default()),
        }
    }

    /// The store in `table`, with a client from the shared SDK config.
    pub fn from_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(config), table)
    }

    /// Replaces the settings.
    pub fn with_settings(mut self, settings: DynamoSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Calls and units so far.
    pub fn stats(&self) -> StoreStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = StoreStats::default();
    }

    fn account(&self, op: &str, write_units: u64, read_units: f64) {
        let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        if !op.is_empty() {
            *st.calls.entry(op.to_string()).or_default() += 1;
        }
        st.write_units += write_units;
        st.read_units += read_units;
    }

    /// Counts one call of `op` and sends it (after the injected latency).
    async fn call<T, E>(
        &self,
        op: &str,
        send: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, SdkError<E, HttpResponse>> {
        self.account(op, 0, 0.0);
        if let Some(d) = self.settings.call_latency {
            tokio::time::sleep(d).await;
        }
        send.await
    }

    /// A failed call as a [`StateError`]: throttling, transport failures
    /// and 5xx as retryable, everything else as rejected.
    fn failure<E>(&self, op: &str, err: &SdkError<E, HttpResponse>) -> StateError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let store = self.describe();
        let operation = op.to_string();
        match err {
            SdkError::ServiceError(se) => {
                let code = se.err().code().unwrap_or("Unknown");
                let status = se.raw().status().as_u16();
                let message = format!(
                    "{code} (HTTP {status}): {}",
                    se.err().message().unwrap_or_default()
                );
                if is_throttle(code) || status == 429 {
                    StateError::Throttled {
                        store,
                        operation,
                        message,
                    }
                } else if status >= 500 {
                    StateError::Unreachable {
                        store,
                        operation,
                        message,
                    }
                } else {
                    StateError::Rejected {
                        store,
                        operation,
                        message,
                    }
                }
            }
            SdkError::ConstructionFailure(_) => StateError::Invalid {
                store,
                operation,
                message: error_chain(err),
            },
            _ => StateError::Unreachable {
                store,
                operation,
                message: error_chain(err),
            },
        }
    }

    fn build_error(&self, op: &str, e: impl std::fmt::Display) -> StateError {
        StateError::Invalid {
            store: self.describe(),
            operation: op.into(),
            message: e.to_string(),
        }
    }

    fn corrupt(&self, item: &Item, message: impl Into<String>) -> StateError {
        StateError::Corrupt {
            store: self.describe(),
            key: get_s(item, PK).unwrap_or("?").to_string(),
            message: message.into(),
        }
    }

    /// Creates the table (keys `pk`/`sk`, on demand) with TTL on `ttl`, for
    /// local runs and tests; the SAM template creates it in AWS. Returns
    /// `false` when the table already existed (its TTL is still ensured).
    pub async fn create_table(&self) -> Result<bool, StateError> {
        let op = "CreateTable";
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| self.build_error(op, e))
        };
        let schema = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .map_err(|e| self.build_error(op, e))
        };
        let created = match self
            .call(
                op,
                self.client
                    .create_table()
                    .table_name(&self.table)
                    .attribute_definitions(attr(PK)?)
                    .attribute_definitions(attr(SK)?)
                    .key_schema(schema(PK, KeyType::Hash)?)
                    .key_schema(schema(SK, KeyType::Range)?)
                    .billing_mode(BillingMode::PayPerRequest)
                    .send(),
            )
            .await
        {
            Ok(_) => true,
            Err(e) if code_of(&e) == Some("ResourceInUseException") => false,
            Err(e) => return Err(self.failure(op, &e)),
        };
        // Wait until ACTIVE (immediate on moto; seconds on AWS).
        for round in 0..120u32 {
            let d = self
                .call(
                    "DescribeTable",
                    self.client.describe_table().table_name(&self.table).send(),
                )
                .await
                .map_err(|e| self.failure("DescribeTable", &e))?;
            let active = d
                .table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| s.as_str() == "ACTIVE");
            if active {
                break;
            }
            if round == 119 {
                return Err(StateError::Unreachable {
                    store: self.describe(),
                    operation: "DescribeTable".into(),
                    message: "the table did not become ACTIVE within 60 s".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(TTL)
            .enabled(true)
            .build()
            .map_err(|e| self.build_error("UpdateTimeToLive", e))?;
        match self
            .call(
                "UpdateTimeToLive",
                self.client
                    .update_time_to_live()
                    .table_name(&self.table)
                    .time_to_live_specification(spec)
                    .send(),
            )
            .await
        {
            Ok(_) => {}
            // Already enabled on an existing table.
            Err(e) if !created && code_of(&e) == Some("ValidationException") => {}
            Err(e) => return Err(self.failure("UpdateTimeToLive", &e)),
        }
        Ok(created)
    }

    /// Sends `pending` with `send`, which answers what it got and what
    /// the service left unprocessed (throttled), and re-sends the rest with
    /// backoff, at most `UNPROCESSED_ROUNDS` times.
    async fn until_processed<T, O, F, Fut>(
        &self,
        op: &str,
        mut pending: Vec<T>,
        mut send: F,
    ) -> Result<Vec<O>, StateError>
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Result<(Vec<O>, Vec<T>), StateError>>,
    {
        let mut got = Vec::new();
        let mut round = 0;
        while !pending.is_empty() {
            let (out, rest) = send(pending).await?;
            got.extend(out);
            pending = rest;
            if pending.is_empty() {
                break;
            }
            round += 1;
            if round > UNPROCESSED_ROUNDS {
                return Err(StateError::Throttled {
                    store: self.describe(),
                    operation: op.into(),
                    message: format!(
                        "{} requests still unprocessed after {UNPROCESSED_ROUNDS} retries",
                        pending.len()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(25 << round.min(5))).await;
        }
        Ok(got)
    }

    /// Strongly consistent `BatchGetItem` per 100 keys, re-sending
    /// unprocessed keys a few times. Returns the items found, by `pk`.
    /// Consistent for windows too: an eventually consistent read would
    /// halve its read units, but a re-delivery right after the first
    /// delivery could then read the window from before it and send a
    /// (refused, billed) write where none is needed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<HashMap<String, Item>, StateError> {
        let op = "BatchGetItem";
        let mut found = HashMap::new();
        for chunk in keys.chunks(limits::READ_BATCH) {
            let items = self
                .until_processed(op, chunk.to_vec(), |pending| async move {
                    let ka = KeysAndAttributes::builder()
                        .set_keys(Some(pending))
                        .consistent_read(true)
                        .build()
                        .map_err(|e| self.build_error(op, e))?;
                    let out = self
                        .call(
                            op,
                            self.client
                                .batch_get_item()
                                .request_items(&self.table, ka)
                                .send(),
                        )
                        .await
                        .map_err(|e| self.failure(op, &e))?;
                    let items = out
                        .responses()
                        .and_then(|r| r.get(&self.table))
                        .cloned()
                        .unwrap_or_default();
                    let rest = out
                        .unprocessed_keys()
                        .and_then(|m| m.get(&self.table))
                        .map(|k| k.keys().to_vec())
                        .unwrap_or_default();
                    Ok((items, rest))
                })
                .await?;
            for item in items {
                self.account("", 0, item_bytes(&item).div_ceil(4096).max(1) as f64);
                if let Some(pk) = get_s(&item, PK) {
                    found.insert(pk.to_string(), item.clone());
                }
            }
        }
        Ok(found)
    }

    /// `BatchWriteItem` puts in chunks of 25, re-sending unprocessed ones.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StateError> {
        let op = "BatchWriteItem";
        for chunk in items.chunks(WRITE_BATCH) {
            let mut requests = Vec::with_capacity(chunk.len());
            for item in chunk {
                self.account("", item_bytes(item).div_ceil(1024).max(1) as u64, 0.0);
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map_err(|e| self.build_error(op, e))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            self.until_processed(op, requests, |pending| async move {
                let out = self
                    .call(
                        op,
                        self.client
                            .batch_write_item()
                            .request_items(&self.table, pending)
                            .send(),
                    )
                    .await
                    .map_err(|e| self.failure(op, &e))?;
                let rest = out
                    .unprocessed_items()
                    .and_then(|m| m.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                Ok((Vec::<()>::new(), rest))
            })
            .await?;
        }
        Ok(())
    }

    /// Writes one changed window, conditional on the version it was read
    /// at (`None`: on its not existing yet). `Ok(false)`: a concurrent
    /// writer got there first (read again and recompute).
    async fn put_window(&self, item: &Item, version: Option<i64>) -> Result<bool, StateError> {
        let op = "PutItem";
        self.account("", item_bytes(item).div_ceil(1024).max(1) as u64, 0.0);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()));
        let put = match version {
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "v")
                .expression_attribute_values(":v", n(v)),
            None => put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
        };
        match self.call(op, put.send()).await {
            Ok(_) => Ok(true),
            Err(e) if code_of(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.failure(op, &e)),
        }
    }

    /// A window item's state (either stored form).
    fn window_state(&self, item: &Item) -> Result<WindowState, StateError> {
        match (item.get(WINDOW_STATE), get_s(item, WINDOW_STATE_JSON)) {
            (Some(AttributeValue::B(b)), _) => {
                WindowState::from_bytes(b.as_ref()).map_err(|m| self.corrupt(item, m))
            }
            (None, Some(text)) => {
                WindowState::from_legacy_json(text).map_err(|m| self.corrupt(item, m))
            }
            _ => Err(self.corrupt(item, "no binary `sw` (or `st`) attribute")),
        }
    }

    /// Reads the windows of `pending` and runs their hits through them.
    async fn compute_windows(
        &self,
        batch: &[WindowHits],
        pending: &[usize],
        now: Timestamp,
    ) -> Result<Vec<Computed>, StateError> {
        let keys = pending
            .iter()
            .map(|i| key(window_pk(&batch[*i].window), "w"))
            .collect();
        let found = self.batch_get(keys).await?;
        let mut out = Vec::with_capacity(pending.len());
        for &i in pending {
            let w = &batch[i];
            let pk = window_pk(&w.window);
            let (mut state, version) = match found.get(&pk) {
                Some(item) if !expired(item, now) => (
                    self.window_state(item)?,
                    Some(get_n(item, "v").unwrap_or(0)),
                ),
                // Expired: replaced, conditional on the stale version.
                Some(item) => (WindowState::default(), Some(get_n(item, "v").unwrap_or(0))),
                None => (WindowState::default(), None),
            };
            let mut changed = false;
            let hits = w
                .hits
                .iter()
                .map(|h| {
                    let step = state.step(w.spec, h);
                    changed |= step.changed;
                    (h.id.clone(), step.outcome)
                })
                .collect();
            let write = changed.then(|| {
                let mut item = key(pk, "w");
                item.insert(
                    WINDOW_STATE.into(),
                    AttributeValue::B(Blob::new(state.to_bytes())),
                );
                item.insert("v".into(), n(version.unwrap_or(0) + 1));
                if let Some(exp) = state.expires(w.spec, limits::WINDOW_KEEP) {
                    item.insert(TTL.into(), n(ttl_secs(exp)));
                }
                (item, version)
            });
            out.push(Computed {
                index: i,
                outcome: WindowOutcome {
                    window: w.window.clone(),
                    hits,
                    open: state.open(),
                },
                write,
            });
        }
        Ok(out)
    }

    async fn take_one(&self, r: &BudgetRequest, now: Timestamp) -> Result<BudgetGrant, StateError> {
        let (start, end) = budget_period(now, r.per).ok_or_else(|| StateError::Invalid {
            store: self.describe(),
            operation: "take_budget".into(),
            message: format!("budget of `{}`: period {} is not positive", r.kind, r.per),
        })?;
        let pk = format!("b#{}", esc(&r.kind));
        let sk = start.to_string();
        let grant = |granted: u32, used: u32| BudgetGrant {
            kind: r.kind.clone(),
            granted,
            used,
            max: r.max,
            period_start: start,
            period_end: end,
        };
        let mut want = r.want.min(r.max);
        for _ in 0..self.settings.write_attempts.max(1) {
            if want == 0 {
                let used = self.budget_used(&pk, &sk).await?;
                return Ok(grant(0, used));
            }
            let op = "UpdateItem";
            let res = self
                .call(
                    op,
                    self.client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(key(pk.clone(), &sk)))
                        .update_expression("SET #max = :max, #end = :end, #ttl = :ttl ADD #used :g")
                        .condition_expression("attribute_not_exists(#used) OR #used <= :lim")
                        .expression_attribute_names("#max", "max")
                        .expression_attribute_names("#end", "end")
                        .expression_attribute_names("#ttl", TTL)
                        .expression_attribute_names("#used", "used")
                        .expression_attribute_values(":max", n(r.max))
                        .expression_attribute_values(":end", s(end.to_string()))
                        .expression_attribute_values(
                            ":ttl",
                            n(ttl_secs(later(end, SignedDuration::from_hours(24)))),
                        )
                        .expression_attribute_values(":g", n(want))
                        .expression_attribute_values(":lim", n(r.max - want))
                        .return_values(ReturnValue::UpdatedNew)
                        .send(),
                )
                .await;
            match res {
                Ok(out) => {
                    self.account("", 1, 0.0);
                    let used = out
                        .attributes()
                        .and_then(|a| get_n(a, "used"))
                        .and_then(|u| u32::try_from(u).ok())
                        .unwrap_or(want);
                    return Ok(grant(want, used));
                }
                Err(e) if code_of(&e) == Some("ConditionalCheckFailedException") => {
                    let used = self.budget_used(&pk, &sk).await?;
                    want = r.want.min(r.max.saturating_sub(used));
                }
                Err(e) => return Err(self.failure(op, &e)),
            }
        }
        Err(StateError::Contention {
            store: self.describe(),
            operation: "take_budget".into(),
            attempts: self.settings.write_attempts,
            message: format!("budget of `{}` kept changing", r.kind),
        })
    }

    async fn budget_used(&self, pk: &str, sk: &str) -> Result<u32, StateError> {
        let op = "GetItem";
        let out = self
            .call(
                op,
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk.to_string(), sk)))
                    .consistent_read(true)
                    .send(),
            )
            .await
            .map_err(|e| self.failure(op, &e))?;
        self.account("", 0, 1.0);
        Ok(out
            .item()
            .and_then(|i| get_n(i, "used"))
            .and_then(|u| u32::try_from(u).ok())
            .unwrap_or(0))
    }

    fn revocation_from(&self, item: &Item) -> Result<Revocation, StateError> {
        let field = |k: &str| {
            get_s(item, k)
                .map(str::to_string)
                .ok_or_else(|| self.corrupt(item, format!("no `{k}` attribute")))
        };
        let time = |k: &str| -> Result<Timestamp, StateError> {
            field(k)?
                .parse()
                .map_err(|e| self.corrupt(item, format!("`{k}` is not a timestamp: {e}")))
        };
        Ok(Revocation {
            fleet: field("fleet")?,
            domain: field("domain")?,
            rule: field("rule")?,
            at: time("at")?,
            cause: field("cause")?,
            hold_until: match get_s(item, "hold") {
                Some(_) => Some(time("hold")?),
                None => None,
            },
        })
    }

    async fn scan_all(&self) -> Result<Vec<Item>, StateError> {
        let op = "Scan";
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .call(
                    op,
                    self.client
                        .scan()
                        .table_name(&self.table)
                        .consistent_read(true)
                        .set_exclusive_start_key(start.take())
                        .send(),
                )
                .await
                .map_err(|e| self.failure(op, &e))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    async fn delete(&self, pk: String, sk: &str) -> Result<Option<Item>, StateError> {
        let op = "DeleteItem";
        let out = self
            .call(
                op,
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, sk)))
                    .return_values(ReturnValue::AllOld)
                    .send(),
            )
            .await
            .map_err(|e| self.failure(op, &e))?;
        self.account("", 1, 0.0);
        Ok(out.attributes().cloned())
    }
}

impl StateStore for DynamoStateStore {
    fn record_hits<'a>(
        &'a self,
        batch: &'a [WindowHits],
        now: Timestamp,
    ) -> StateFuture<'a, Vec<WindowOutcome>> {
        Box::pin(async move {
            validate_batch(&self.describe(), batch)?;
            let mut done: Vec<Option<WindowOutcome>> = vec![None; batch.len()];
            let indices: Vec<usize> = (0..batch.len()).collect();
            let concurrency = self.settings.write_concurrency.clamp(1, 100);
            for chunk in indices.chunks(limits::READ_BATCH) {
                let mut pending = chunk.to_vec();
                let mut attempts = 0;
                while !pending.is_empty() {
                    attempts += 1;
                    if attempts > self.settings.write_attempts.max(1) {
                        return Err(StateError::Contention {
                            store: self.describe(),
                            operation: "PutItem".into(),
                            attempts: attempts - 1,
                            message: format!(
                                "{} windows (first: rule `{}` key `{}`) kept changing",
                                pending.len(),
                                batch[pending[0]].window.rule,
                                batch[pending[0]].window.key
                            ),
                        });
                    }
                    let computed = self.compute_windows(batch, &pending, now).await?;
                    pending.clear();
                    // Windows are independent: each is written on its own,
                    // conditional on its version (no transaction, which
                    // bills twice). A batch interrupted half-way is safe:
                    // its re-delivery finds the written hits as duplicates
                    // and replays the firings they made.
                    let results: Vec<(Computed, Result<bool, StateError>)> = stream::iter(computed)
                        .map(|c| async move {
                            let written = match &c.write {
                                Some((item, version)) => self.put_window(item, *version).await,
                                None => Ok(true),
                            };
                            (c, written)
                        })
                        .buffer_unordered(concurrency)
                        .collect()
                        .await;
                    for (c, written) in results {
                        match written? {
                            true => done[c.index] = Some(c.outcome),
                            // Lost to a concurrent writer: read again and
                            // recompute (the hits are idempotent).
                            false => pending.push(c.index),
                        }
                    }
                    if !pending.is_empty() {
                        pending.sort_unstable();
                        tokio::time::sleep(Duration::from_millis(5 + fastrand_ms(attempts))).await;
                    }
                }
            }
            Ok(done.into_iter().flatten().collect())
        })
    }

    fn take_budget<'a>(
        &'a self,
        requests: &'a [BudgetRequest],
        now: Timestamp,
    ) -> StateFuture<'a, Vec<BudgetGrant>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(requests.len());
            for r in requests {
                out.push(self.take_one(r, now).await?);
            }
            Ok(out)
        })
    }

    fn ledger_contains<'a>(
        &'a self,
        keys: &'a [LedgerKey],
        now: Timestamp,
    ) -> StateFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let mut unique: Vec<Item> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for k in keys {
                let pk = ledger_pk(k);
                if seen.insert(pk.clone()) {
                    unique.push(key(pk, "a"));
                }
            }
            let found = self.batch_get(unique).await?;
            Ok(keys
                .iter()
                .map(|k| {
                    found
                        .get(&ledger_pk(k))
                        .is_some_and(|item| !expired(item, now))
                })
                .collect())
        })
    }

    fn ledger_record<'a>(&'a self, entries: &'a [LedgerEntry]) -> StateFuture<'a, usize> {
        Box::pin(async move {
            let mut by_pk: HashMap<String, Item> = HashMap::new();
            for e in entries.iter().filter(|e| !e.dry_run) {
                let mut item = key(ledger_pk(&e.key), "a");
                item.insert("rule".into(), s(e.rule.clone()));
                item.insert("at".into(), s(e.at.to_string()));
                item.insert(TTL.into(), n(ttl_secs(later(e.at, e.keep))));
                by_pk.insert(ledger_pk(&e.key), item);
            }
            let n = by_pk.len();
            self.batch_put(by_pk.into_values().collect()).await?;
            Ok(n)
        })
    }

    fn record_revocations<'a>(&'a self, revocations: &'a [Revocation]) -> StateFuture<'a, ()> {
        Box::pin(async move {
            let mut by_pk: HashMap<String, Item> = HashMap::new();
            for r in revocations {
                let domain = normalise_domain(&r.domain);
                let pk = revocation_pk(&r.fleet, &domain);
                let mut item = key(pk.clone(), "r");
                item.insert("fleet".into(), s(r.fleet.clone()));
                item.insert("domain".into(), s(domain));
                item.insert("rule".into(), s(r.rule.clone()));
                item.insert("at".into(), s(r.at.to_string()));
                item.insert("cause".into(), s(r.cause.clone()));
                if let Some(h) = r.hold_until {
                    item.insert("hold".into(), s(h.to_string()));
                    // Kept a while past the hold, for `warden state show`.
                    item.insert(
                        TTL.into(),
                        n(ttl_secs(later(h, SignedDuration::from_hours(24 * 30)))),
                    );
                }
                by_pk.insert(pk, item);
            }
            self.batch_put(by_pk.into_values().collect()).await
        })
    }

    fn revocations<'a>(
        &'a self,
        domains: &'a [(String, String)],
    ) -> StateFuture<'a, Vec<Option<Revocation>>> {
        Box::pin(async move {
            let mut unique = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for (f, d) in domains {
                let pk = revocation_pk(f, d);
                if seen.insert(pk.clone()) {
                    unique.push(key(pk, "r"));
                }
            }
            let found = self.batch_get(unique).await?;
            domains
                .iter()
                .map(|(f, d)| match found.get(&revocation_pk(f, d)) {
                    Some(item) => self.revocation_from(item).map(Some),
                    None => Ok(None),
                })
                .collect()
        })
    }

    fn release_revocation<'a>(
        &'a self,
        fleet: Option<&'a str>,
        domain: &'a str,
    ) -> StateFuture<'a, Vec<Revocation>> {
        Box::pin(async move {
            let pks: Vec<String> = match fleet {
                Some(f) => vec![revocation_pk(f, domain)],
                None => {
                    let domain = normalise_domain(domain);
                    self.scan_all()
                        .await?
                        .iter()
                        .filter(|i| {
                            get_s(i, PK).is_some_and(|p| p.starts_with("r#"))
                                && get_s(i, "domain") == Some(domain.as_str())
                        })
                        .filter_map(|i| get_s(i, PK).map(str::to_string))
                        .collect()
                }
            };
            let mut released = Vec::new();
            for pk in pks {
                if let Some(old) = self.delete(pk, "r").await? {
                    if !old.is_empty() {
                        released.push(self.revocation_from(&old)?);
                    }
                }
            }
            Ok(released)
        })
    }

    fn acquire_lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        now: Timestamp,
        ttl: SignedDuration,
    ) -> StateFuture<'a, LeaseOutcome> {
        Box::pin(async move {
            let pk = format!("l#{}", esc(name));
            let expires = later(now, ttl);
            for _ in 0..3 {
                let mut item = key(pk.clone(), "l");
                item.insert("owner".into(), s(owner));
                item.insert("exp".into(), n(expires.as_millisecond()));
                item.insert(TTL.into(), n(ttl_secs(expires)));
                let op = "PutItem";
                let res = self
                    .call(
                        op,
                        self.client
                            .put_item()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .condition_expression(
                                "attribute_not_exists(#pk) OR #exp <= :now OR #owner = :me",
                            )
                            .expression_attribute_names("#pk", PK)
                            .expression_attribute_names("#exp", "exp")
                            .expression_attribute_names("#owner", "owner")
                            .expression_attribute_values(":now", n(now.as_millisecond()))
                            .expression_attribute_values(":me", s(owner))
                            .send(),
                    )
                    .await;
                match res {
                    Ok(_) => {
                        self.account("", 1, 0.0);
                        return Ok(LeaseOutcome::Acquired { expires });
                    }
                    Err(e) if code_of(&e) == Some("ConditionalCheckFailedException") => {
                        let found = self.batch_get(vec![key(pk.clone(), "l")]).await?;
                        if let Some(item) = found.get(&pk) {
                            let holder = get_s(item, "owner").unwrap_or("?").to_string();
                            let exp = get_n(item, "exp")
                                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                                .ok_or_else(|| self.corrupt(item, "no readable `exp`"))?;
                            if holder != owner && now < exp {
                                return Ok(LeaseOutcome::Held {
                                    owner: holder,
                                    expires: exp,
                                });
                            }
                        }
                        // Released or expired in between: try again.
                    }
                    Err(e) => return Err(self.failure(op, &e)),
                }
            }
            Err(StateError::Contention {
                store: self.describe(),
                operation: "acquire_lease".into(),
                attempts: 3,
                message: format!("lease `{name}` kept changing hands"),
            })
        })
    }

    fn release_lease<'a>(&'a self, name: &'a str, owner: &'a str) -> StateFuture<'a, bool> {
        Box::pin(async move {
            let op = "DeleteItem";
            let res = self
                .call(
                    op,
                    self.client
                        .delete_item()
                        .table_name(&self.table)
                        .set_key(Some(key(format!("l#{}", esc(name)), "l")))
                        .condition_expression("#owner = :me")
                        .expression_attribute_names("#owner", "owner")
                        .expression_attribute_values(":me", s(owner))
                        .send(),
                )
                .await;
            match res {
                Ok(_) => Ok(true),
                Err(e) if code_of(&e) == Some("ConditionalCheckFailedException") => Ok(false),
                Err(e) => Err(self.failure(op, &e)),
            }
        })
    }

    fn snapshot(&self, now: Timestamp) -> StateFuture<'_, StateSnapshot> {
        Box::pin(async move {
            let mut snap = StateSnapshot::default();
            for item in self.scan_all().await? {
                if expired(&item, now) {
                    continue;
                }
                let Some(pk) = get_s(&item, PK) else { continue };
                let mut parts = pk.splitn(2, '#');
                let kind = parts.next().unwrap_or("");
                let rest = parts.next().unwrap_or("");
                match kind {
                    "w" => {
                        let (rule, key) = rest.split_once('#').unwrap_or((rest, ""));
                        let st = self.window_state(&item)?;
                        snap.windows.push(WindowView {
                            window: WindowKey {
                                rule: unesc(rule),
                                key: unesc(key),
                            },
                            open: st.open(),
                            newest: st.newest(),
                            last_fired: st.last_fired(),
                        });
                    }
                    "b" => {
                        let start: Option<Timestamp> =
                            get_s(&item, SK).and_then(|t| t.parse().ok());
                        let end: Option<Timestamp> =
                            get_s(&item, "end").and_then(|t| t.parse().ok());
                        let (Some(start), Some(end)) = (start, end) else {
                            return Err(self.corrupt(&item, "budget period is not readable"));
                        };
                        if now < end {
                            snap.budgets.push(BudgetView {
                                kind: unesc(rest),
                                used: get_n(&item, "used").unwrap_or(0) as u32,
                                max: get_n(&item, "max").unwrap_or(0) as u32,
                                period_start: start,
                                period_end: end,
                            });
                        }
                    }
                    "a" => snap.ledger_entries += 1,
                    "r" => snap.revocations.push(self.revocation_from(&item)?),
                    "l" => {
                        let exp =
                            get_n(&item, "exp").and_then(|ms| Timestamp::from_millisecond(ms).ok());
                        if let Some(expires) = exp.filter(|e| now < *e) {
                            snap.leases.push(LeaseView {
                                name: unesc(rest),
                                owner: get_s(&item, "owner").unwrap_or("?").to_string(),
                                expires,
                            });
                        }
                    }
                    _ => {}
                }
            }
            snap.sort();
            Ok(snap)
        })
    }

    fn describe(&self) -> String {
        format!("dynamodb table {}", self.table)
    }

    fn note_users<'a>(&'a self, users: &'a [String], at: Timestamp) -> StateFuture<'a, usize> {
        Box::pin(async move {
            let (current, previous) = super::population_buckets(at);
            let ttl = current + POPULATION_KEEP_SECS;
            let mut all: std::collections::HashSet<String> = std::collections::HashSet::new();
            if users.is_empty() {
                // DynamoDB refuses an empty set: read both buckets instead.
                for b in [current, previous] {
                    all.extend(self.population_bucket(b, at).await?);
                }
                return Ok(all.len());
            }
            let op = "UpdateItem";
            let out = self
                .call(
                    op,
                    self.client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(key(POPULATION_PK.into(), &current.to_string())))
                        .update_expression("ADD #users :u SET #ttl = :ttl")
                        .expression_attribute_names("#users", "users")
                        .expression_attribute_names("#ttl", TTL)
                        .expression_attribute_values(":u", AttributeValue::Ss(users.to_vec()))
                        .expression_attribute_values(":ttl", n(ttl))
                        .return_values(ReturnValue::AllNew)
                        .send(),
                )
                .await
                .map_err(|e| self.failure(op, &e))?;
            let item = out.attributes().cloned().unwrap_or_default();
            self.account("", item_bytes(&item).div_ceil(1024).max(1) as u64, 0.0);
            all.extend(self.population_users(&item, at)?);
            all.extend(self.population_bucket(previous, at).await?);
            Ok(all.len())
        })
    }
}

/// The partition key of the population buckets ([`StateStore::note_users`]).
const POPULATION_PK: &str = "u#population";
/// A bucket is kept 3 hours past its start (read for 2).
const POPULATION_KEEP_SECS: i64 = 3 * 3600;
/// A bucket this large is near DynamoDB's 400 KB item limit: the store
/// reports it rather than let the next write fail halfway.
const POPULATION_MAX_BYTES: usize = 350 * 1024;

impl DynamoStateStore {
    /// One `GetItem` of the population bucket starting at `bucket`.
    async fn population_bucket(
        &self,
        bucket: i64,
        now: Timestamp,
    ) -> Result<Vec<String>, StateError> {
        let op = "GetItem";
        let out = self
            .call(
                op,
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key(POPULATION_PK.into(), &bucket.to_string())))
                    .send(),
            )
            .await
            .map_err(|e| self.failure(op, &e))?;
        let Some(item) = out.item() else {
            return Ok(Vec::new());
        };
        self.account("", 0, item_bytes(item).div_ceil(8192).max(1) as f64);
        self.population_users(item, now)
    }

    /// The users of one population bucket (none when it has expired).
    fn population_users(&self, item: &Item, now: Timestamp) -> Result<Vec<String>, StateError> {
        if expired(item, now) {
            return Ok(Vec::new());
        }
        if item_bytes(item) > POPULATION_MAX_BYTES {
            return Err(self.corrupt(
                item,
                format!(
                    "population bucket {} holds {} bytes, near the 400 KB item limit",
                    get_s(item, SK).unwrap_or("?"),
                    item_bytes(item)
                ),
            ));
        }
        match item.get("users") {
            None => Ok(Vec::new()),
            Some(AttributeValue::Ss(v)) => Ok(v.clone()),
            Some(_) => Err(self.corrupt(item, "`users` is not a string set")),
        }
    }
}

/// A small pseudo-random backoff (0..=20 ms × attempt) so two writers that
/// conflicted do not collide again in lockstep.
fn fastrand_ms(attempt: u32) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos % 21) * u64::from(attempt.min(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_are_escaped_so_they_cannot_collide() {
        let a = WindowKey {
            rule: "r#x".into(),
            key: "k".into(),
        };
        let b = WindowKey {
            rule: "r".into(),
            key: "x#k".into(),
        };
        assert_ne!(window_pk(&a), window_pk(&b));
        assert_eq!(window_pk(&a), "w#r%23x#k");
        assert_eq!(unesc(&esc("a%23#b")), "a%23#b");
    }

    #[test]
    fn ttl_rounds_up_and_expiry_is_read_from_it() {
        let t: Timestamp = "2026-11-26T00:00:00.001Z".parse().unwrap();
        assert_eq!(ttl_secs(t), t.as_second() + 1);
        let mut item = key("a#x".into(), "a");
        item.insert(TTL.into(), n(100));
        assert!(!expired(&item, Timestamp::from_second(99).unwrap()));
        assert!(expired(&item, Timestamp::from_second(100).unwrap()));
    }

    #[test]
    fn item_size_follows_the_billing_rules() {
        let mut item = key("w#r#k".into(), "w");
        item.insert("v".into(), n(12));
        // pk(2)+5, sk(2)+1, v(1) + 12 -> 2 bytes
        assert_eq!(item_bytes(&item), 7 + 3 + 3);
    }
}
