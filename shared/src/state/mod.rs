//! Durable state across invocations: threshold windows, budgets, the action
//! ledger, revocation provenance and run leases (`docs/state.md`).
//!
//! Lambda hands the audit stream to the function in ~1-second batches of up
//! to 100 records per shard, re-delivers, bisects and runs several batches of
//! one shard at once, so anything counted per batch is wrong in production.
//! [`StateStore`] keeps what must outlive one invocation, with calls shaped
//! for one Kinesis batch: every method takes all the keys of the batch at
//! once and makes a bounded number of round trips for them (one batched read
//! for up to 100 window keys, then one conditional write per changed key,
//! all in flight together), never one call per event.
//!
//! Two implementations: [`MemoryStateStore`] (unit tests, the demo: one
//! process only) and, with the `aws` feature, [`DynamoStateStore`] (one
//! DynamoDB table, on demand, a TTL attribute).
//!
//! A store that cannot answer says so with a [`StateError`]
//! ([`StateError::is_retryable`] tells throttling and unreachable apart from
//! a rejected request); it never answers a zero count in place of an unknown
//! one.
//!
//! Time is always an argument (`now`), never read from the clock here.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

mod memory;
mod table;
mod window;

#[cfg(feature = "aws")]
mod dynamo;

#[cfg(feature = "aws")]
pub use dynamo::{item_bytes, DynamoSettings, DynamoStateStore, StoreStats, PK, SK, TTL};
pub use memory::MemoryStateStore;
pub use table::{StateTable, STATE_TABLE_VAR};
pub use window::{WindowState, WindowStep};

/// The future every [`StateStore`] method returns: boxed, so the trait is
/// object-safe (`Arc<dyn StateStore>` picks memory or DynamoDB at cold
/// start) and `Send` (the Lambda runtime's handler is).
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// A state store call that failed. Each variant names the store (`dynamodb
/// table NAME`, `memory`) and the operation (`BatchGetItem`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The store refused for load (DynamoDB throttling, request limit,
    /// provisioned throughput): retry later, with backoff.
    #[error("state store {store}: {operation} throttled: {message}")]
    Throttled {
        /// Which store.
        store: String,
        /// The operation.
        operation: String,
        /// The service's code and message.
        message: String,
    },
    /// The store could not be reached or did not answer in time
    /// (connection refused, DNS, timeout, a 5xx): retry later.
    #[error("state store {store}: {operation}: unreachable: {message}")]
    Unreachable {
        /// Which store.
        store: String,
        /// The operation.
        operation: String,
        /// What the transport said.
        message: String,
    },
    /// Concurrent writers kept changing the same items: the optimistic
    /// write lost `attempts` times in a row. Retry the batch later.
    #[error("state store {store}: {operation}: still conflicting with concurrent writers after {attempts} attempts ({message})")]
    Contention {
        /// Which store.
        store: String,
        /// The operation.
        operation: String,
        /// Attempts made.
        attempts: u32,
        /// The last conflict.
        message: String,
    },
    /// The store rejected the request for good (no such table, access
    /// denied, invalid request): retrying the same call cannot succeed.
    #[error("state store {store}: {operation} rejected: {message}")]
    Rejected {
        /// Which store.
        store: String,
        /// The operation.
        operation: String,
        /// The service's code and message.
        message: String,
    },
    /// An item in the store could not be read back (written by something
    /// else, or by an incompatible version).
    #[error("state store {store}: item {key}: {message}")]
    Corrupt {
        /// Which store.
        store: String,
        /// The item's partition key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The caller asked for something the store cannot do (too many keys,
    /// a zero window...).
    #[error("state store {store}: {operation}: invalid request: {message}")]
    Invalid {
        /// Which store.
        store: String,
        /// The operation.
        operation: String,
        /// What is wrong.
        message: String,
    },
}

impl StateError {
    /// Throttled, unreachable or contended: the same call may succeed later,
    /// so the records that needed it become batch item failures (Lambda
    /// retries them) and no action runs on the unknown answer.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StateError::Throttled { .. }
                | StateError::Unreachable { .. }
                | StateError::Contention { .. }
        )
    }
}

/// How threshold keys are normalised before they are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyNormalisation {
    /// Strip leading and trailing white space.
    pub trim: bool,
    /// Unicode lower-case (`Alice` and `alice` are one key).
    pub case_fold: bool,
}

impl Default for KeyNormalisation {
    /// Trim and case-fold: user names and domains are case-insensitive.
    fn default() -> Self {
        KeyNormalisation {
            trim: true,
            case_fold: true,
        }
    }
}

impl KeyNormalisation {
    /// Keys compared exactly as written (e.g. a case-sensitive device id).
    pub const EXACT: KeyNormalisation = KeyNormalisation {
        trim: false,
        case_fold: false,
    };

    /// The names a policy writes (`threshold: { normalize: NAME }`), the
    /// default first.
    pub const NAMES: [&'static str; 4] = ["trim-case-fold", "trim", "case-fold", "none"];

    /// The normalisation called `name` (see [`KeyNormalisation::NAMES`]).
    pub fn from_name(name: &str) -> Option<KeyNormalisation> {
        let (trim, case_fold) = match name.trim() {
            "trim-case-fold" => (true, true),
            "trim" => (true, false),
            "case-fold" => (false, true),
            "none" => (false, false),
            _ => return None,
        };
        Some(KeyNormalisation { trim, case_fold })
    }

    /// `key` normalised: borrowed when already normal.
    ///
    /// Applied to every threshold candidate's key, so ASCII keys (most user
    /// names and addresses) take a byte path; the result is the same as
    /// `str::trim` and `str::to_lowercase`.
    pub fn apply<'a>(&self, key: &'a str) -> Cow<'a, str> {
        let k = if !self.trim {
            key
        } else {
            match (key.as_bytes().first(), key.as_bytes().last()) {
                // Nothing to trim: neither end is whitespace.
                (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => key,
                _ => key.trim(),
            }
        };
        if !self.case_fold {
            Cow::Borrowed(k)
        } else if k.is_ascii() {
            if k.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(k.to_ascii_lowercase())
            } else {
                Cow::Borrowed(k)
            }
        } else if k.chars().any(char::is_uppercase) {
            Cow::Owned(k.to_lowercase())
        } else {
            Cow::Borrowed(k)
        }
    }
}

/// [`KeyNormalisation::default`] applied to `key`: `" Alice "` → `"alice"`.
pub fn normalise_key(key: &str) -> Cow<'_, str> {
    KeyNormalisation::default().apply(key)
}

/// The identity of one audit event: the Kinesis shard, the record's sequence
/// number and the event's index within the record (a record may hold several
/// events). A re-delivered record yields the same identities.
///
/// The shard and sequence are shared (`Arc<str>`): every event of a record,
/// and every window and outcome that names one of its hits, holds the same
/// text, so cloning an id allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct EventId {
    /// Kinesis shard id (`shardId-000000000001`).
    pub shard: Arc<str>,
    /// The record's sequence number.
    pub sequence: Arc<str>,
    /// Index of the event within the record.
    pub index: u32,
}

impl EventId {
    /// The event `index` of record `sequence` on `shard`.
    pub fn new(shard: impl Into<Arc<str>>, sequence: impl Into<Arc<str>>, index: u32) -> EventId {
        EventId {
            shard: shard.into(),
            sequence: sequence.into(),
            index,
        }
    }

    /// A stable 64-bit digest (FNV-1a of the display form), what a window
    /// stores per hit instead of the whole id. Hashed piece by piece: the
    /// display form is never built (one allocation less per hit).
    pub fn digest(&self) -> u64 {
        let mut digits = [0u8; 10];
        let mut at = digits.len();
        let mut n = self.index;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let h = fnv1a_from(FNV_OFFSET, self.shard.as_bytes());
        let h = fnv1a_from(h, b":");
        let h = fnv1a_from(h, self.sequence.as_bytes());
        let h = fnv1a_from(h, b"#");
        fnv1a_from(h, &digits[at..])
    }
}

impl fmt::Display for EventId {
    /// `shard:sequence#index`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}#{}", self.shard, self.sequence, self.index)
    }
}

/// FNV-1a, 64 bits, of one byte string (the tests' reference).
#[cfg(test)]
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(FNV_OFFSET, bytes)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: stable across builds and platforms (unlike std's
/// hashers), so digests written by one version are read by the next. Of
/// `bytes`, continuing from the digest `h` of what came before
/// ([`FNV_OFFSET`] for none).
fn fnv1a_from(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A threshold `count N within W` of one rule, for one (normalised) key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct WindowKey {
    /// The rule's name.
    pub rule: String,
    /// The `by` value, already normalised ([`KeyNormalisation`]).
    pub key: String,
}

/// A threshold's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ThresholdSpec {
    /// N: hits needed within the window (at least 1).
    pub count: u32,
    /// W: the sliding window (positive).
    pub within: SignedDuration,
}

/// One event that passed a threshold rule's conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// Its identity (re-deliveries count once).
    pub id: EventId,
    /// The event's time.
    pub at: Timestamp,
}

/// The hits of one batch for one (rule, key), in stream order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowHits {
    /// Which window.
    pub window: WindowKey,
    /// Its threshold.
    pub spec: ThresholdSpec,
    /// The hits, in the order they were delivered.
    pub hits: Vec<Hit>,
}

/// A threshold that fired: `count` hits within the window, the last of
/// which (`hit`) completed it. The same firing is reported again when its
/// completing hit is re-delivered (`replayed`), so an action that failed is
/// retried on re-delivery; the ledger keeps it from running twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firing {
    /// The hit that completed the window: the cause of the action.
    pub hit: EventId,
    /// That hit's time.
    pub at: Timestamp,
    /// The time of the earliest hit in the window that fired.
    pub window_start: Timestamp,
    /// Hits in the window when it fired (the threshold's N).
    pub count: u32,
    /// `true` when this is a re-delivery of a firing already recorded.
    pub replayed: bool,
}

impl Firing {
    /// The ledger cause of the action this firing triggers:
    /// `rule/key/shard:sequence#index`, stable across re-deliveries.
    pub fn cause(&self, window: &WindowKey) -> String {
        format!("{}/{}/{}", window.rule, window.key, self.hit)
    }
}

/// What became of one hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum HitOutcome {
    /// Counted: `count` hits are now in the fullest window containing it,
    /// below the threshold.
    Counted {
        /// Hits in the window.
        count: u32,
    },
    /// Counted, and it completed the window: the threshold fires.
    Fired(Firing),
    /// Already counted (a re-delivery); changes nothing.
    Duplicate,
    /// Too old to count: before the last firing (that burst is consumed),
    /// or older than the window behind the newest hit seen.
    Stale,
}

/// The outcome of one [`WindowHits`]: one [`HitOutcome`] per hit, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowOutcome {
    /// Which window.
    pub window: WindowKey,
    /// Per hit, in the order given.
    pub hits: Vec<(EventId, HitOutcome)>,
    /// Hits in the window behind the newest hit after the batch (those
    /// that count towards the next firing).
    pub open: u32,
}

impl WindowOutcome {
    /// The firings of this batch (new and replayed), in order.
    pub fn firings(&self) -> impl Iterator<Item = &Firing> {
        self.hits.iter().filter_map(|(_, o)| match o {
            HitOutcome::Fired(f) => Some(f),
            _ => None,
        })
    }
}

/// A request to take units of an action kind's budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetRequest {
    /// The action kind (`sign-out-user`).
    pub kind: String,
    /// Units wanted now.
    pub want: u32,
    /// The budget: at most `max` per `per`.
    pub max: u32,
    /// The period (fixed periods aligned on the Unix epoch).
    pub per: SignedDuration,
}

/// What a [`BudgetRequest`] got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetGrant {
    /// The action kind.
    pub kind: String,
    /// Units granted (0 ..= want): run this many, refuse the rest.
    pub granted: u32,
    /// Units used in the period, this grant included.
    pub used: u32,
    /// The budget.
    pub max: u32,
    /// The period's start (inclusive) ...
    pub period_start: Timestamp,
    /// ... and end (exclusive): the kind is refused until then once spent.
    pub period_end: Timestamp,
}

/// The fixed period of length `per` that holds `now`: `[start, end)`.
pub fn budget_period(now: Timestamp, per: SignedDuration) -> Option<(Timestamp, Timestamp)> {
    let per_ms = i64::try_from(per.as_millis()).ok().filter(|p| *p > 0)?;
    let now_ms = now.as_millisecond();
    let start = now_ms.div_euclid(per_ms) * per_ms;
    let s = Timestamp::from_millisecond(start).ok()?;
    let e = Timestamp::from_millisecond(start.checked_add(per_ms)?).ok()?;
    Some((s, e))
}

/// One action, identified by what it does and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LedgerKey {
    /// Action kind (`sign-out-user`).
    pub kind: String,
    /// Its target (`fleet/user`, `fleet/domain`).
    pub target: String,
    /// What caused it: a [`Firing::cause`], or the event id of a
    /// non-threshold rule's match.
    pub cause: String,
}

/// An action to remember as executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Which action.
    pub key: LedgerKey,
    /// The rule that planned it.
    pub rule: String,
    /// When it ran.
    pub at: Timestamp,
    /// How long to remember it (past Kinesis re-delivery: 24 h or more).
    pub keep: SignedDuration,
    /// A dry-run action: never recorded, so turning dry-run off later acts.
    pub dry_run: bool,
}

/// A domain revoked by warden, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocation {
    /// The fleet ARN.
    pub fleet: String,
    /// The domain name (normalised: trimmed, lower case, no final dot).
    pub domain: String,
    /// The rule that revoked it.
    pub rule: String,
    /// When the revoke was executed.
    pub at: Timestamp,
    /// The cause (a [`Firing::cause`] or an event id).
    pub cause: String,
    /// Until when a restore rule must leave it alone; `None`: until
    /// released (`warden state release domain NAME`).
    pub hold_until: Option<Timestamp>,
}

impl Revocation {
    /// Whether a restore rule must leave the domain alone at `now`.
    pub fn blocks_restore(&self, now: Timestamp) -> bool {
        self.hold_until.is_none_or(|h| now < h)
    }
}

/// The hold of a revoke planned by `rules` (the rules' `revoke-domain: {
/// hold: D }`): `None` (until released) when any of them sets none, else
/// the longest. Rules not in `policy` count as setting none.
pub fn revoke_hold(policy: &crate::policy::Policy, rules: &[String]) -> Option<SignedDuration> {
    let mut longest: Option<SignedDuration> = None;
    for name in rules {
        let rule = policy.rules.iter().find(|r| &r.name == name)?;
        for spec in rule
            .actions
            .iter()
            .filter(|a| a.kind == crate::action::ActionKind::RevokeDomain)
        {
            let h = spec.hold?;
            longest = Some(longest.map_or(h, |l| l.max(h)));
        }
    }
    longest
}

/// A domain name as the revocation records key it: trimmed, lower case,
/// without a final dot.
pub fn normalise_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// The answer to a lease request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "lease", rename_all = "kebab-case")]
pub enum LeaseOutcome {
    /// This owner holds the lease until `expires`.
    Acquired {
        /// When it lapses unless released or renewed first.
        expires: Timestamp,
    },
    /// Someone else holds it: end cleanly.
    Held {
        /// The holder.
        owner: String,
        /// When their lease lapses.
        expires: Timestamp,
    },
}

/// One budget period in use, for `warden state show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetView {
    /// Action kind.
    pub kind: String,
    /// Units used.
    pub used: u32,
    /// The most the period allows (`max` of `max per period`).
    pub max: u32,
    /// Period start.
    pub period_start: Timestamp,
    /// Period end.
    pub period_end: Timestamp,
}

/// One threshold window with hits, for `warden state show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowView {
    /// Rule and key.
    pub window: WindowKey,
    /// Hits counting towards the next firing.
    pub open: u32,
    /// The newest hit's time.
    pub newest: Option<Timestamp>,
    /// The last firing, if remembered.
    pub last_fired: Option<Timestamp>,
}

/// A lease, for `warden state show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    /// Lease name.
    pub name: String,
    /// Who holds the lease (the run that took it).
    pub owner: String,
    /// When the lease lapses if its holder never releases it.
    pub expires: Timestamp,
}

/// What the store holds that is live at `now` (expired items left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StateSnapshot {
    /// Budgets of the current periods.
    pub budgets: Vec<BudgetView>,
    /// Windows with hits or a remembered firing.
    pub windows: Vec<WindowView>,
    /// Revocations on record, newest first.
    pub revocations: Vec<Revocation>,
    /// Unexpired leases.
    pub leases: Vec<LeaseView>,
    /// Unexpired ledger entries.
    pub ledger_entries: u64,
}

impl StateSnapshot {
    /// Stable order: budgets by kind, windows by rule and key, revocations
    /// newest first, leases by name.
    pub fn sort(&mut self) {
        self.budgets
            .sort_by(|a, b| (&a.kind, a.period_start).cmp(&(&b.kind, b.period_start)));
        self.windows
            .sort_by(|a, b| (&a.window.rule, &a.window.key).cmp(&(&b.window.rule, &b.window.key)));
        self.revocations
            .sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.domain.cmp(&b.domain)));
        self.leases.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// Durable state for one Kinesis batch or one scheduled run.
///
/// Every method takes all its keys at once; the DynamoDB store makes a
/// bounded number of round trips per call (see each method and
/// `docs/state.md`). Time is the caller's `now`.
pub trait StateStore: Send + Sync {
    /// Records threshold hits and answers, per hit, whether it counted, was
    /// a duplicate, was stale, or fired the threshold (see [`WindowState`]
    /// for the exact semantics). Idempotent on each hit's [`EventId`]:
    /// recording the same hits again changes nothing and reports the same
    /// firings as `replayed`. Cutting a sequence of hits into calls in any
    /// way gives the same outcomes as one call.
    ///
    /// DynamoDB: one consistent `BatchGetItem` per 100 windows, then one
    /// `PutItem` per changed window, conditional on its version, up to
    /// `write_concurrency` in flight; a window that lost to a concurrent
    /// writer is read again and recomputed, a bounded number of times.
    fn record_hits<'a>(
        &'a self,
        batch: &'a [WindowHits],
        now: Timestamp,
    ) -> StateFuture<'a, Vec<WindowOutcome>>;

    /// Takes up to `want` units of each kind's budget for the period holding
    /// `now`, atomically: concurrent takers never get more than `max` in sum.
    /// One grant per request, in order.
    ///
    /// DynamoDB: one conditional `UpdateItem` per kind; when it loses, a
    /// consistent `GetItem` and another `UpdateItem` for what is left.
    fn take_budget<'a>(
        &'a self,
        requests: &'a [BudgetRequest],
        now: Timestamp,
    ) -> StateFuture<'a, Vec<BudgetGrant>>;

    /// For each key, whether that action was already executed for that cause
    /// (and is not yet expired at `now`).
    ///
    /// DynamoDB: one consistent `BatchGetItem` per 100 keys.
    fn ledger_contains<'a>(
        &'a self,
        keys: &'a [LedgerKey],
        now: Timestamp,
    ) -> StateFuture<'a, Vec<bool>>;

    /// Remembers executed actions until `at + keep`. Dry-run entries are
    /// skipped. Returns how many were recorded.
    ///
    /// DynamoDB: one `BatchWriteItem` per 25 entries.
    fn ledger_record<'a>(&'a self, entries: &'a [LedgerEntry]) -> StateFuture<'a, usize>;

    /// Records revocations by warden (one per fleet + domain: a later one
    /// replaces an earlier one).
    ///
    /// DynamoDB: one `BatchWriteItem` per 25.
    fn record_revocations<'a>(&'a self, revocations: &'a [Revocation]) -> StateFuture<'a, ()>;

    /// The revocation on record for each (fleet, domain), if any.
    ///
    /// DynamoDB: one consistent `BatchGetItem` per 100.
    fn revocations<'a>(
        &'a self,
        domains: &'a [(String, String)],
    ) -> StateFuture<'a, Vec<Option<Revocation>>>;

    /// Forgets warden's revocation of `domain` in `fleet` (every fleet when
    /// `None`), so a restore rule may act on it again. Returns what was
    /// released.
    ///
    /// DynamoDB: `DeleteItem` for a fleet; a `Scan` and a `DeleteItem` per
    /// match without one (an operator command).
    fn release_revocation<'a>(
        &'a self,
        fleet: Option<&'a str>,
        domain: &'a str,
    ) -> StateFuture<'a, Vec<Revocation>>;

    /// Takes the run lease `name` for `owner` until `now + ttl`, unless
    /// another owner holds an unexpired one. The same owner renews.
    ///
    /// DynamoDB: one conditional `PutItem` (and a `BatchGetItem` to name
    /// the holder when it is taken).
    fn acquire_lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        now: Timestamp,
        ttl: SignedDuration,
    ) -> StateFuture<'a, LeaseOutcome>;

    /// Gives the lease back if `owner` holds it; `false` when it did not.
    ///
    /// DynamoDB: one conditional `DeleteItem`.
    fn release_lease<'a>(&'a self, name: &'a str, owner: &'a str) -> StateFuture<'a, bool>;

    /// Everything live at `now`, for operators (`warden state show`).
    ///
    /// DynamoDB: a paginated `Scan`: not for the hot path.
    fn snapshot(&self, now: Timestamp) -> StateFuture<'_, StateSnapshot>;

    /// A description for logs and errors (`dynamodb table NAME`, `memory`).
    fn describe(&self) -> String;

    /// Notes the distinct (already normalised) `users` of one batch in the
    /// hour bucket holding `at`, and answers how many distinct users the
    /// recent window holds: the current hour bucket and the one before it
    /// (so between 1 and 2 hours of activity). audit-stream's population
    /// for `max-percent` caps on user actions.
    ///
    /// DynamoDB: one `UpdateItem` (`ADD` to a string set, `ALL_NEW`) and
    /// one `GetItem` of the previous bucket; a bucket grown near the 400 KB
    /// item limit is an error (the caller then knows no population).
    fn note_users<'a>(&'a self, users: &'a [String], at: Timestamp) -> StateFuture<'a, usize>;
}

/// The hour bucket holding `at` (its start, Unix seconds), and the one
/// before it: [`StateStore::note_users`]'s recent window.
pub fn population_buckets(at: Timestamp) -> (i64, i64) {
    let h = at.as_second().div_euclid(3600) * 3600;
    (h, h - 3600)
}

/// Hard limits shared by both stores, so the memory store refuses what the
/// DynamoDB one would.
pub mod limits {
    /// The largest threshold N a window can hold: a DynamoDB item must stay
    /// under 400 KB, and a window item holds up to N - 1 hits of ~40 bytes.
    pub const MAX_THRESHOLD_COUNT: u32 = 5_000;
    /// Firings remembered per window, so their re-deliveries fire again.
    pub const FIRINGS_KEPT: usize = 4;
    /// How long a window outlives its newest hit's window, so re-deliveries
    /// within Kinesis' default retention are still recognised.
    pub const WINDOW_KEEP: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);
    /// Keys per batched read (DynamoDB `BatchGetItem`'s limit).
    pub const READ_BATCH: usize = 100;
}

pub(crate) fn validate_batch(store: &str, batch: &[WindowHits]) -> Result<(), StateError> {
    let invalid = |message: String| StateError::Invalid {
        store: store.to_string(),
        operation: "record_hits".into(),
        message,
    };
    // One batch's keys (FxHash, as the engine's threshold grouping).
    let mut seen = rustc_hash::FxHashSet::default();
    seen.reserve(batch.len());
    for w in batch {
        if w.spec.count == 0 || w.spec.count > limits::MAX_THRESHOLD_COUNT {
            return Err(invalid(format!(
                "rule `{}`: threshold count {} is outside 1..={}",
                w.window.rule,
                w.spec.count,
                limits::MAX_THRESHOLD_COUNT
            )));
        }
        if !w.spec.within.is_positive() {
            return Err(invalid(format!(
                "rule `{}`: window {} is not positive",
                w.window.rule, w.spec.within
            )));
        }
        if !seen.insert(&w.window) {
            return Err(invalid(format!(
                "rule `{}` key `{}` appears twice in one batch; aggregate its hits into one entry",
                w.window.rule, w.window.key
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_and_case_folded_by_default() {
        assert_eq!(normalise_key(" Alice "), "alice");
        assert_eq!(normalise_key("ÉLODIE"), "élodie");
        assert!(matches!(normalise_key("bob"), Cow::Borrowed("bob")));
        assert_eq!(KeyNormalisation::EXACT.apply(" Alice "), " Alice ");
        let trim_only = KeyNormalisation {
            trim: true,
            case_fold: false,
        };
        assert_eq!(trim_only.apply(" Alice "), "Alice");
        // The byte paths agree with `trim` and `to_lowercase` everywhere.
        let by_chars = |n: &KeyNormalisation, key: &str| {
            let k = if n.trim { key.trim() } else { key };
            if n.case_fold && k.chars().any(char::is_uppercase) {
                k.to_lowercase()
            } else {
                k.to_owned()
            }
        };
        let parts = [
            "", " ", "\t", "\u{a0}", "\u{2003}", "\x1f", "A", "z", "~", "É", "ß", "\u{1c5}", ".",
        ];
        for n in KeyNormalisation::NAMES.map(|n| KeyNormalisation::from_name(n).unwrap()) {
            for a in parts {
                for b in parts {
                    for c in parts {
                        let key = format!("{a}{b}x{c}");
                        let ours = n.apply(&key);
                        assert_eq!(ours, by_chars(&n, &key), "{n:?} {key:?}");
                        // Owned only when case-folded.
                        let trimmed = if n.trim { key.trim() } else { &key };
                        let folds = n.case_fold && trimmed.chars().any(char::is_uppercase);
                        assert_eq!(matches!(ours, Cow::Owned(_)), folds, "{n:?} {key:?}");
                    }
                }
            }
        }
        for name in KeyNormalisation::NAMES {
            assert!(KeyNormalisation::from_name(name).is_some(), "{name}");
        }
        assert_eq!(
            KeyNormalisation::from_name("trim-case-fold"),
            Some(KeyNormalisation::default())
        );
        assert_eq!(
            KeyNormalisation::from_name("none"),
            Some(KeyNormalisation::EXACT)
        );
        assert_eq!(KeyNormalisation::from_name("lower"), None);
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(
            normalise_domain(" HR.Corp.example.com. "),
            "hr.corp.example.com"
        );
    }

    #[test]
    fn budget_periods_are_fixed_and_aligned() {
        let now: Timestamp = "2026-11-26T10:42:13Z".parse().unwrap();
        let (s, e) = budget_period(now, SignedDuration::from_hours(1)).unwrap();
        assert_eq!(s, "2026-11-26T10:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(e, "2026-11-26T11:00:00Z".parse::<Timestamp>().unwrap());
        assert!(budget_period(now, SignedDuration::ZERO).is_none());
    }

    #[test]
    fn event_ids_display_and_digest_stably() {
        let id = EventId::new("shardId-000000000001", "4960", 2);
        assert_eq!(id.to_string(), "shardId-000000000001:4960#2");
        // FNV-1a reference value: a change here breaks stored windows.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(
            id.digest(),
            EventId::new("shardId-000000000001", "4960", 3).digest()
        );
        // Hashed piece by piece, it is the digest of the display form.
        for index in [0, 1, 9, 10, 99, 12_345, u32::MAX] {
            for (shard, seq) in [("shardId-000000000001", "4960"), ("", ""), ("s", "4:9#1")] {
                let id = EventId::new(shard, seq, index);
                assert_eq!(id.digest(), fnv1a(id.to_string().as_bytes()), "{id}");
            }
        }
    }

    #[test]
    fn a_revoke_is_held_for_its_rules_longest_hold_or_until_released() {
        let p = crate::policy::Policy::from_yaml_str(
            "rules:\n  - name: a\n    on: domain\n    where: { status: ACTIVE }\n    actions:\n      - revoke-domain: { hold: 24h }\n  - name: b\n    on: domain\n    where: { status: ACTIVE }\n    actions:\n      - revoke-domain: { hold: 2h }\n  - name: c\n    on: domain\n    where: { status: ACTIVE }\n    actions: [revoke-domain]\n",
            "p.yaml",
        )
        .unwrap();
        let rules = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            revoke_hold(&p, &rules(&["a", "b"])),
            Some(SignedDuration::from_hours(24))
        );
        assert_eq!(
            revoke_hold(&p, &rules(&["b"])),
            Some(SignedDuration::from_hours(2))
        );
        assert_eq!(revoke_hold(&p, &rules(&["a", "c"])), None);
        assert_eq!(revoke_hold(&p, &rules(&["gone"])), None);
    }

    #[test]
    fn holds_block_restores_until_they_pass() {
        let at: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
        let mut r = Revocation {
            fleet: "f".into(),
            domain: "d".into(),
            rule: "r".into(),
            at,
            cause: "c".into(),
            hold_until: None,
        };
        assert!(r.blocks_restore(at + SignedDuration::from_hours(1000)));
        r.hold_until = Some(at + SignedDuration::from_hours(24));
        assert!(r.blocks_restore(at + SignedDuration::from_hours(23)));
        assert!(!r.blocks_restore(at + SignedDuration::from_hours(24)));
    }
}
