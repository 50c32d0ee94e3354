//! instance-cleanup: mark errored WorkSpaces Instances, delete them once the
//! grace period has passed and they are still errored, and unmark the ones
//! that recover (Cloud Custodian's mark-for-op), driven by the policy's
//! `on: instance` rules.
//!
//! One run ([`Cleaner::run`]):
//!
//! 1. read the marked-instance store ([`MarkStore`]) once;
//! 2. list the errored instances: `ListWorkspaceInstances` filtered by
//!    `ProvisionStates` [ERROR_ALLOCATING, ERROR_DEALLOCATING], 25 per page,
//!    every page (healthy instances are never listed);
//! 3. meanwhile, for every remembered id at once and every listed id as its
//!    page arrives, `GetWorkspaceInstance` and `ListTagsForResource`
//!    together, with bounded concurrency, starting nothing once time runs
//!    short;
//! 4. evaluate and plan with the policy (pure): marks (`mark-for-cleanup`),
//!    deletions once the grace period has passed, unmarks
//!    (`unmark-recovered-instances`), allow-lists and caps;
//! 5. adjust the plan: the function's protect tag, the manual
//!    `max_deletions`, the reason tag and the 30-tag limit;
//! 6. remember new marks in the store BEFORE tagging, execute with the shared
//!    [`Executor`], forget deleted / unmarked / vanished instances AFTER;
//! 7. report: a JSON summary ([`Report`]), a JSON log line per action (the
//!    executor), EMF counts ([`Metrics`]).
//!
//! Time comes in as `now`, so tests and the demo move it instead of waiting.

pub mod handler;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_workspacesinstances::types::ProvisionStateEnum;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use futures::StreamExt;
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{operation_name, Executor, Outcome};

use warden_core::aws::deadline::{classify, CallFailure, Deadline, FailureKind, Ran};
use warden_core::aws::Clients;
use warden_core::env::{Env, EnvError};
use warden_core::overrides::{Invocation, ManualPayload};
use warden_core::plan::{ActionParams, PlannedAction, Refusal, RefusalReason, Target};
use warden_core::policy::{ActionKind, ActionSpec, Cap, Policy};
use warden_core::resource::{Instance, InstanceError, Resource};
use warden_core::shell::{CommonSettings, PolicyLoadError, PolicySource};
use warden_core::Context;

pub use store::DynamoMarkStore;
pub use store::{MarkRecord, MarkStore, MemoryMarkStore, StoreError};

/// The function's name (EMF dimension, logs).
pub const FUNCTION: &str = "instance-cleanup";
/// The default tag carrying the reason of a mark (the first error code).
pub const DEFAULT_REASON_TAG: &str = "warden:cleanup-reason";
/// The default protect tag: any value protects.
pub const DEFAULT_PROTECT_TAG: &str = "warden:protect";
/// The states the listing asks for.
pub const ERROR_STATES: [&str; 2] = ["ERROR_ALLOCATING", "ERROR_DEALLOCATING"];
/// `MaxResults` of `ListWorkspaceInstances` (the API's maximum).
pub const PAGE_SIZE: i32 = 25;
/// Tags an instance may carry (the API's limit).
pub const MAX_TAGS: usize = 30;
/// Default number of instances read / actions run at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default limit for one SDK call, retries included.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `s` is within the API's tag text pattern
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]` and length limit.
pub fn valid_tag_text(s: &str, allow_empty: bool, max: usize) -> bool {
    (allow_empty || !s.is_empty()) && s.chars().count() <= max && s.chars().all(tag_char)
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// A tag value made safe for the API: characters outside the pattern become
/// `_`, at most 256 characters, `unknown` when nothing is left.
pub fn tag_value(raw: &str) -> String {
    let v: String = raw
        .trim()
        .chars()
        .map(|c| if tag_char(c) { c } else { '_' })
        .take(256)
        .collect();
    if v.is_empty() {
        "unknown".into()
    } else {
        v
    }
}

/// The function's own protect tag: `key` (any value protects) or
/// `key=value` (that value, any case). Keys containing `=` are not supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectTag {
    /// Tag key.
    pub key: String,
    /// Required value; `None`: any.
    pub value: Option<String>,
}

impl ProtectTag {
    /// Parses `key` or `key=value`.
    pub fn parse(s: &str) -> Result<ProtectTag, String> {
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_owned())),
            None => (s.trim(), None),
        };
        if !valid_tag_text(key, false, 128) {
            return Err(format!(
                "tag key `{key}` must be 1 to 128 letters, digits, spaces or _ . : / = + - @"
            ));
        }
        Ok(ProtectTag {
            key: key.to_owned(),
            value,
        })
    }

    /// The entry, as written, when `tags` carry it.
    pub fn matches(&self, tags: &BTreeMap<String, String>) -> Option<String> {
        let v = tags.get(&self.key)?;
        match &self.value {
            None => Some(format!("{}=*", self.key)),
            Some(want) if want.eq_ignore_ascii_case(v) => Some(format!("{}={want}", self.key)),
            Some(_) => None,
        }
    }
}

/// How the function behaves (besides the policy).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanupConfig {
    /// Plan and report only. The policy's own `dry-run` forces it too.
    pub dry_run: bool,
    /// Instances carrying this tag are never marked, deleted or unmarked.
    pub protect_tag: Option<ProtectTag>,
    /// The tag that carries the reason of a mark.
    pub reason_tag: String,
    /// Instances read / actions run at once.
    pub concurrency: usize,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        CleanupConfig {
            dry_run: true,
            protect_tag: Some(ProtectTag {
                key: DEFAULT_PROTECT_TAG.into(),
                value: None,
            }),
            reason_tag: DEFAULT_REASON_TAG.into(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Everything the function binary reads from its environment at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSettings {
    /// The function's behaviour.
    pub cleanup: CleanupConfig,
    /// `WARDEN_MARKS_TABLE`: the DynamoDB table of marked instances.
    pub marks_table: String,
    /// `WARDEN_POLICY_FILE` (relative to `LAMBDA_TASK_ROOT`): a policy
    /// file; `None`: the embedded default.
    pub policy_file: Option<PathBuf>,
    /// `WARDEN_CALL_TIMEOUT`: limit for one SDK call, retries included.
    pub call_timeout: Duration,
    /// `WARDEN_MAX_ATTEMPTS` (the deprecated `AWS_MAX_ATTEMPTS` too):
    /// attempts per SDK call (first included).
    pub max_attempts: u32,
}

impl FunctionSettings {
    /// Reads and checks every variable; errors name the variable and value.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, EnvError> {
        let common = CommonSettings::from_env(env)?;
        let invalid = |name: &str, value: String, reason: String| EnvError::Invalid {
            name: name.into(),
            value,
            reason,
        };
        let marks_table = env.required(
            "WARDEN_MARKS_TABLE",
            "the DynamoDB table that remembers marked instances (partition key `instance_id`, string)",
        )?;
        if !(3..=255).contains(&marks_table.len())
            || !marks_table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(invalid(
                "WARDEN_MARKS_TABLE",
                marks_table,
                "a DynamoDB table name is 3 to 255 characters of a-z A-Z 0-9 _ . -".into(),
            ));
        }
        let protect_tag = match env.get("WARDEN_PROTECT_TAG") {
            None => Some(
                ProtectTag::parse(DEFAULT_PROTECT_TAG)
                    .map_err(|r| invalid("WARDEN_PROTECT_TAG", DEFAULT_PROTECT_TAG.into(), r))?,
            ),
            Some(v) if v.eq_ignore_ascii_case("none") => None,
            Some(v) => {
                Some(ProtectTag::parse(&v).map_err(|r| invalid("WARDEN_PROTECT_TAG", v, r))?)
            }
        };
        let reason_tag = env
            .get("WARDEN_REASON_TAG")
            .unwrap_or_else(|| DEFAULT_REASON_TAG.into());
        if !valid_tag_text(&reason_tag, false, 128) {
            return Err(invalid(
                "WARDEN_REASON_TAG",
                reason_tag,
                "a tag key is 1 to 128 letters, digits, spaces or _ . : / = + - @".into(),
            ));
        }
        Ok(FunctionSettings {
            cleanup: CleanupConfig {
                dry_run: env.bool_or("WARDEN_DRY_RUN", true)?,
                protect_tag,
                reason_tag,
                concurrency: env.range_or(
                    "WARDEN_CONCURRENCY",
                    DEFAULT_CONCURRENCY as u64,
                    1,
                    64,
                )? as usize,
            },
            marks_table,
            policy_file: match common.policy {
                PolicySource::Embedded => None,
                PolicySource::File(path) => Some(path),
            },
            call_timeout: env.duration_or("WARDEN_CALL_TIMEOUT", DEFAULT_CALL_TIMEOUT)?,
            max_attempts: common.max_attempts,
        })
    }

    /// Loads and compiles the policy: the file, or the embedded default.
    pub fn load_policy(&self) -> Result<Policy, PolicyLoadError> {
        match &self.policy_file {
            Some(path) => PolicySource::File(path.clone()).load(),
            None => PolicySource::Embedded.load(),
        }
    }
}

/// What an operator may override in a manual invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Dry-run for this run (either way); the policy's `dry-run` still wins.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// At most this many deletions in this run: above it, none happens.
    /// It can only lower the policy's cap, never raise it.
    #[serde(default)]
    pub max_deletions: Option<u32>,
}

impl ManualPayload for Overrides {
    const FIELDS: &'static [&'static str] = &["dry_run", "max_deletions"];
    const EXAMPLE: &'static str = "{\"dry_run\": true|false, \"max_deletions\": N}";
}

/// What invoked the function: an EventBridge / CloudWatch scheduled event,
/// or a hand-made payload of [`Overrides`] (possibly empty).
pub type Trigger = Invocation<Overrides>;

/// Tells a scheduled event (it has `source` / `detail-type`) from a manual
/// payload (`{}`, `null`, or `{"dry_run": .., "max_deletions": ..}`) and
/// reads it as that type. A scheduled-looking payload carrying `dry_run` or
/// `max_deletions` is refused, naming them (they would be ignored).
pub fn classify_payload(payload: &serde_json::Value) -> Result<Trigger, String> {
    Invocation::from_value(payload).map_err(|e| e.to_string())
}

/// A set of instance ids with its size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ids {
    /// How many.
    pub count: usize,
    /// Which, sorted.
    pub ids: Vec<String>,
}

impl Ids {
    fn from_set(s: BTreeSet<String>) -> Ids {
        Ids {
            count: s.len(),
            ids: s.into_iter().collect(),
        }
    }
}

/// A call or step that failed for one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The instance.
    pub instance_id: String,
    /// The operation or step (`GetWorkspaceInstance`, `DeleteWorkspaceInstance`,
    /// `mark store`, ...).
    pub step: String,
    /// `transient` (retried next run) or `permanent`.
    pub kind: FailureKind,
    /// Error code.
    pub code: String,
    /// Error message.
    pub message: String,
}

/// A cap that refused a whole action kind in this run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapNotice {
    /// The action kind (`delete-instance`, ...).
    pub kind: ActionKind,
    /// How many were planned.
    pub planned: usize,
    /// The limit in force.
    pub limit: usize,
    /// What it means, in words.
    pub message: String,
}

/// One decision about one instance, with its reason (the demo's story).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The instance.
    pub instance_id: String,
    /// `mark`, `delete`, `unmark`, `protected`, `capped`, `tag-limit`, `waiting`.
    pub decision: String,
    /// The outcome (`done`, `already`, `dry-run`, `failed-transient`, ...,
    /// `refused`, `reported`).
    pub outcome: String,
    /// Why.
    pub why: String,
}

/// The summary of one run (the handler's response).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// `now` of the run.
    pub now: Option<Timestamp>,
    /// Nothing was changed: what would have been done is reported.
    pub dry_run: bool,
    /// Whether every page of the errored listing was read.
    pub listing_complete: bool,
    /// Instances read (errored ones and remembered marked ones).
    pub examined: Ids,
    /// Marked (or would be, in a dry run).
    pub marked: Ids,
    /// Deleted, including already gone / already deallocating.
    pub deleted: Ids,
    /// Mark removed after recovery.
    pub unmarked: Ids,
    /// Protected (allow-list or protect tag): never marked, deleted or unmarked.
    pub protected: Ids,
    /// Refused because their kind's cap was exceeded.
    pub skipped_by_cap: Ids,
    /// Could not be marked: the marks would exceed 30 tags.
    pub tag_limit: Ids,
    /// Marked, grace period not over.
    pub waiting: Ids,
    /// Calls that failed (transient ones are also left for the next run).
    pub failed: Vec<Failure>,
    /// Not done in this run: time ran short, or a transient failure.
    pub left_for_next_run: Ids,
    /// Caps exceeded in this run: the whole kind was refused.
    pub caps_exceeded: Vec<CapNotice>,
    /// Each decision with its reason.
    pub decisions: Vec<Decision>,
    /// Where the time went, in milliseconds.
    pub timings_ms: Timings,
}

/// Wall time of each phase of a run, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Reading the mark store.
    pub store_load: u64,
    /// The errored listing (all pages) and, overlapping it, reading the
    /// candidates (gets and tag listings).
    pub listing_and_reads: u64,
    /// Evaluating and planning.
    pub plan: u64,
    /// Remembering marks, executing, forgetting.
    pub execute: u64,
    /// The whole run.
    pub total: u64,
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Report {
    /// A short human summary (one line per category with a count).
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}examined {}, marked {}, deleted {}, unmarked {}, protected {}, skipped by cap {}, tag limit {}, waiting {}, failed {}, left for next run {}",
            if self.dry_run { "DRY RUN: " } else { "" },
            self.examined.count,
            self.marked.count,
            self.deleted.count,
            self.unmarked.count,
            self.protected.count,
            self.skipped_by_cap.count,
            self.tag_limit.count,
            self.waiting.count,
            self.failed.len(),
            self.left_for_next_run.count
        );
        for c in &self.caps_exceeded {
            s.push_str(&format!("\nCAP EXCEEDED: {}", c.message));
        }
        s
    }
}

/// A run that could not even start.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    /// The mark store could not be read: nothing was done (without it,
    /// marks cannot be trusted).
    #[error("nothing done: {0}")]
    Store(#[from] StoreError),
}

enum Fetched {
    Present(Instance),
    Gone,
}

struct ReadFailure {
    step: &'static str,
    failure: CallFailure,
}

/// The cleanup function's logic, built once (cold start) and run per
/// invocation.
pub struct Cleaner<S> {
    policy: Policy,
    wsi: aws_sdk_workspacesinstances::Client,
    executor: Executor,
    store: S,
    config: CleanupConfig,
}

impl<S: MarkStore> Cleaner<S> {
    /// From a compiled policy, the shared clients, a store and the config.
    pub fn new(policy: Policy, clients: &Clients, store: S, config: CleanupConfig) -> Self {
        if !policy.has_rules_for(warden_core::OnKind::Instance) {
            tracing::warn!(policy = %policy.source, "the policy has no `on: instance` rules: runs will examine but never act");
        }
        Cleaner {
            policy,
            wsi: clients.wsi.clone(),
            executor: Executor::new(clients, config.concurrency),
            store,
            config,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The config.
    pub fn config(&self) -> &CleanupConfig {
        &self.config
    }

    /// One run at `now`. Only a store that cannot be read fails the run;
    /// everything else is reported.
    pub async fn run(
        &self,
        now: Timestamp,
        overrides: &Overrides,
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> Result<Report, CleanupError> {
        let policy = &self.policy;
        let mark_tag = policy.settings.cleanup_tag.clone();
        let reason_tag = self.config.reason_tag.clone();
        let dry_run = overrides.dry_run.unwrap_or(self.config.dry_run) || policy.settings.dry_run;
        let mut report = Report {
            now: Some(now),
            dry_run,
            ..Report::default()
        };
        let mut failed: Vec<Failure> = Vec::new();
        let mut left: BTreeSet<String> = BTreeSet::new();
        let mut decisions: Vec<Decision> = Vec::new();

        // 1. What this warden has marked.
        let started = std::time::Instant::now();
        let mut lap = started;
        let mut timings = Timings::default();
        let mut split = |slot: &mut u64| {
            let now = std::time::Instant::now();
            *slot = ms(now - lap);
            lap = now;
        };
        let tracked = self.store.load().await.inspect_err(|e| {
            tracing::error!(error = %e, "cannot read the mark store; nothing done");
        })?;

        // 2 + 3. The errored listing, and at the same time the reads: every
        // remembered id at once, every listed id as its page arrives.
        split(&mut timings.store_load);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        for id in tracked.keys() {
            let _ = tx.send(id.clone());
        }
        // `tx` moves into the listing, so the reads end when the listing does.
        let remembered = &tracked;
        let listing = self.list_errored(deadline, &mut failed, move |id: &str| {
            if !remembered.contains_key(id) {
                let _ = tx.send(id.to_owned());
            }
        });
        let reading =
            futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|id| (id, rx)) },
            )
            .map(|id: String| async move {
                // Not started, or not answered before the reserve: left
                // for the next run.
                let read = if deadline.can_start() {
                    deadline.bound(self.fetch(&id)).await
                } else {
                    None
                };
                (id, read.map_or(Ran::NotStarted, Ran::Done))
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect::<Vec<_>>();
        let ((_, complete), mut reads) = futures::join!(listing, reading);
        split(&mut timings.listing_and_reads);
        // An incomplete listing is reported as `listing_complete: false`:
        // the unlisted instances are not known by id.
        report.listing_complete = complete;
        reads.sort_by(|a, b| a.0.cmp(&b.0));
        let mut views: Vec<Instance> = Vec::new();
        let mut gone: BTreeSet<String> = BTreeSet::new();
        for (id, r) in reads {
            match r {
                Ran::NotStarted => {
                    left.insert(id);
                }
                Ran::Done(Ok(Fetched::Gone)) => {
                    gone.insert(id);
                }
                Ran::Done(Ok(Fetched::Present(v))) => views.push(v),
                Ran::Done(Err(rf)) => {
                    if rf.failure.kind == FailureKind::Transient {
                        left.insert(id.clone());
                    }
                    failed.push(Failure {
                        instance_id: id,
                        step: rf.step.into(),
                        kind: rf.failure.kind,
                        code: rf.failure.code,
                        message: rf.failure.message,
                    });
                }
            }
        }
        report.examined = Ids::from_set(views.iter().map(|v| v.instance_id.clone()).collect());

        // 4. Evaluate and plan. A mark counts only if the store knows it.
        let real_tags: BTreeMap<String, BTreeMap<String, String>> = views
            .iter()
            .map(|v| (v.instance_id.clone(), v.tags.clone()))
            .collect();
        let states: BTreeMap<String, String> = views
            .iter()
            .map(|v| (v.instance_id.clone(), v.state.clone().unwrap_or_default()))
            .collect();
        // On an errored instance, a mark tag is trusted only when the store
        // remembers the instance with a mark time no later than the tag's: a
        // lost store, a foreign or stale tag can then only delay a deletion,
        // never hasten one. (On a recovered instance any mark may go.)
        let mut untrusted_marks: BTreeSet<String> = BTreeSet::new();
        let resources: Vec<Resource> = views
            .into_iter()
            .map(|mut v| {
                let trusted = match (v.cleanup_marked_at(&mark_tag), tracked.get(&v.instance_id)) {
                    (Some(at), Some(rec)) => at >= rec.marked_at,
                    _ => false,
                };
                if v.tags.contains_key(&mark_tag) && !trusted && is_error_state(v.state.as_deref())
                {
                    v.tags.remove(&mark_tag);
                    untrusted_marks.insert(v.instance_id.clone());
                }
                Resource::Instance(v)
            })
            .collect();
        let ctx = Context::new(now).with_dry_run(dry_run);
        let mut plan = policy.run_resources(&resources, &ctx);

        // 5a. The function's protect tag.
        if let Some(pt) = &self.config.protect_tag {
            let (bad, good): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.actions)
                .into_iter()
                .partition(|a| {
                    instance_of(a)
                        .and_then(|id| real_tags.get(id))
                        .and_then(|t| pt.matches(t))
                        .is_some()
                });
            plan.actions = good;
            for a in bad {
                let entry = instance_of(&a)
                    .and_then(|id| real_tags.get(id))
                    .and_then(|t| pt.matches(t))
                    .unwrap_or_default();
                plan.refusals.push(Refusal {
                    action: a,
                    reason: RefusalReason::AllowListed {
                        scope: "function".into(),
                        list: "protect-tag (WARDEN_PROTECT_TAG)".into(),
                        entry,
                    },
                });
            }
        }

        // 5b. The operator's max_deletions (only ever lowers the cap).
        if let Some(max) = overrides.max_deletions {
            let planned = plan.actions_of(ActionKind::DeleteInstance).count();
            if planned > max as usize {
                tracing::error!(
                    kind = "delete-instance",
                    planned,
                    limit = max,
                    "CAP EXCEEDED: refusing every `delete-instance` action of this run (max_deletions override)"
                );
                let (bad, good): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.actions)
                    .into_iter()
                    .partition(|a| a.kind == ActionKind::DeleteInstance);
                plan.actions = good;
                for a in bad {
                    plan.refusals.push(Refusal {
                        action: a,
                        reason: RefusalReason::CapExceeded {
                            planned,
                            limit: max as usize,
                            cap: Cap {
                                max: Some(max),
                                max_percent: None,
                            },
                            examined: report.examined.count,
                        },
                    });
                }
            }
        }

        // 5c. Reason tag and the 30-tag limit on marks; reason removed on unmark.
        let first_error: BTreeMap<String, String> = resources
            .iter()
            .filter_map(|r| match r {
                Resource::Instance(i) => Some((
                    i.instance_id.clone(),
                    tag_value(
                        i.errors
                            .iter()
                            .filter_map(|e| e.code.as_deref())
                            .find(|c| !c.trim().is_empty())
                            .unwrap_or("unknown"),
                    ),
                )),
                _ => None,
            })
            .collect();
        let mut tag_limit: BTreeSet<String> = BTreeSet::new();
        let mut actions: Vec<PlannedAction> = Vec::with_capacity(plan.actions.len());
        for mut a in std::mem::take(&mut plan.actions) {
            let Some(id) = instance_of(&a).map(str::to_owned) else {
                actions.push(a);
                continue;
            };
            let tags = real_tags.get(&id).cloned().unwrap_or_default();
            match (&a.kind, &mut a.params) {
                (ActionKind::MarkForCleanup, ActionParams::Tags { tags: new }) => {
                    let reason = first_error
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| "unknown".into());
                    new.insert(reason_tag.clone(), reason.clone());
                    let adding = new.keys().filter(|k| !tags.contains_key(*k)).count();
                    if tags.len() + adding > MAX_TAGS {
                        let why = format!(
                            "errored ({}, {reason}) but it has {} tags and the mark needs {adding} more: at most {MAX_TAGS} allowed; not marked, remove a tag",
                            states.get(&id).map(String::as_str).unwrap_or("?"),
                            tags.len()
                        );
                        tracing::warn!(instance = %id, tags = tags.len(), needed = adding, "cannot mark: tag limit");
                        decisions.push(Decision {
                            instance_id: id.clone(),
                            decision: "tag-limit".into(),
                            outcome: "reported".into(),
                            why,
                        });
                        tag_limit.insert(id);
                        continue;
                    }
                }
                (ActionKind::UntagInstance, ActionParams::TagKeys { keys })
                    if keys.contains(&mark_tag)
                        && tags.contains_key(&reason_tag)
                        && !keys.contains(&reason_tag) =>
                {
                    keys.push(reason_tag.clone());
                }
                _ => {}
            }
            actions.push(a);
        }
        plan.actions = actions;

        // Refusals: protected and capped.
        let mut protected: BTreeSet<String> = BTreeSet::new();
        let mut capped: BTreeSet<String> = BTreeSet::new();
        let mut cap_untag: BTreeSet<String> = BTreeSet::new();
        let mut caps: BTreeMap<ActionKind, CapNotice> = BTreeMap::new();
        for r in &plan.refusals {
            let Some(id) = instance_of(&r.action).map(str::to_owned) else {
                continue;
            };
            match &r.reason {
                RefusalReason::AllowListed { .. } => {
                    if protected.insert(id.clone()) {
                        decisions.push(Decision {
                            instance_id: id,
                            decision: "protected".into(),
                            outcome: "refused".into(),
                            why: format!("{} refused: {}", r.action.kind, r.reason),
                        });
                    }
                }
                RefusalReason::CapExceeded { planned, limit, .. } => {
                    if r.action.kind == ActionKind::UntagInstance {
                        cap_untag.insert(id.clone());
                    }
                    caps.entry(r.action.kind).or_insert_with(|| CapNotice {
                        kind: r.action.kind,
                        planned: *planned,
                        limit: *limit,
                        message: format!("no `{}` in this run: {}", r.action.kind, r.reason),
                    });
                    decisions.push(Decision {
                        instance_id: id.clone(),
                        decision: "capped".into(),
                        outcome: "refused".into(),
                        why: format!("{} refused: {}", r.action.kind, r.reason),
                    });
                    capped.insert(id);
                }
                RefusalReason::Conflict { .. } => {}
            }
        }
        for c in caps.values() {
            tracing::error!(kind = %c.kind, planned = c.planned, limit = c.limit, "CAP EXCEEDED: {}", c.message);
        }

        split(&mut timings.plan);
        // 6. Remember new marks before tagging (an intent log): a mark the
        // store does not know would not count later.
        if !dry_run {
            let marks: Vec<MarkRecord> = plan
                .actions
                .iter()
                .filter(|a| a.kind == ActionKind::MarkForCleanup && !a.dry_run)
                .filter_map(|a| {
                    let id = instance_of(a)?;
                    Some(MarkRecord {
                        instance_id: id.to_owned(),
                        marked_at: now,
                        reason: first_error.get(id).cloned().unwrap_or_default(),
                    })
                })
                .collect();
            let mut unrecorded: BTreeSet<String> = BTreeSet::new();
            for chunk in marks.chunks(25) {
                if let Err(e) = self.store.put(chunk).await {
                    tracing::error!(error = %e, count = chunk.len(), "cannot remember marks; those instances are not marked in this run");
                    for r in chunk {
                        unrecorded.insert(r.instance_id.clone());
                        left.insert(r.instance_id.clone());
                        failed.push(Failure {
                            instance_id: r.instance_id.clone(),
                            step: "mark store put".into(),
                            kind: FailureKind::Transient,
                            code: e.operation.clone(),
                            message: e.to_string(),
                        });
                    }
                }
            }
            if !unrecorded.is_empty() {
                plan.actions.retain(|a| {
                    !(a.kind == ActionKind::MarkForCleanup
                        && instance_of(a).is_some_and(|id| unrecorded.contains(id)))
                });
            }
        }

        // Execute.
        let records = self
            .executor
            .execute(&plan.actions, deadline, metrics)
            .await;

        let mut marked = BTreeSet::new();
        let mut deleted = BTreeSet::new();
        let mut unmarked = BTreeSet::new();
        let mut forget: BTreeSet<String> = BTreeSet::new();
        let mut acted: BTreeSet<String> = BTreeSet::new();
        let mut untag_pending: BTreeSet<String> = BTreeSet::new();
        for rec in &records {
            let Some(id) = instance_of(&rec.action).map(str::to_owned) else {
                continue;
            };
            acted.insert(id.clone());
            let state = states.get(&id).map(String::as_str).unwrap_or("?");
            let reason = first_error
                .get(&id)
                .map(String::as_str)
                .unwrap_or("unknown");
            let (decision, why) = match rec.action.kind {
                ActionKind::MarkForCleanup => (
                    "mark",
                    format!(
                        "{state} with error {reason}{}; deleted after {} if still errored (rule {})",
                        if untrusted_marks.contains(&id) {
                            " (its old mark was not recorded in the mark store: marked afresh)"
                        } else {
                            ""
                        },
                        grace_of(policy, &rec.action.rules)
                            .map(warden_core::time::format_duration)
                            .unwrap_or_else(|| "the grace period".into()),
                        rec.action.rules.join(", ")
                    ),
                ),
                ActionKind::DeleteInstance => (
                    "delete",
                    format!(
                        "still {state} with error {reason}; marked at {}, grace period {} over (rule {})",
                        real_tags
                            .get(&id)
                            .and_then(|t| t.get(&mark_tag))
                            .map(String::as_str)
                            .unwrap_or("?"),
                        grace_of(policy, &rec.action.rules)
                            .map(warden_core::time::format_duration)
                            .unwrap_or_else(|| "?".into()),
                        rec.action.rules.join(", ")
                    ),
                ),
                ActionKind::UntagInstance => (
                    "unmark",
                    format!(
                        "recovered ({state}); mark removed (rule {})",
                        rec.action.rules.join(", ")
                    ),
                ),
                other => (other.name(), format!("rule {}", rec.action.rules.join(", "))),
            };
            decisions.push(Decision {
                instance_id: id.clone(),
                decision: decision.into(),
                outcome: rec.outcome.label().into(),
                why,
            });
            match &rec.outcome {
                Outcome::Done | Outcome::Already { .. } | Outcome::DryRun => {
                    let real = !matches!(rec.outcome, Outcome::DryRun);
                    match rec.action.kind {
                        ActionKind::MarkForCleanup => {
                            marked.insert(id);
                        }
                        ActionKind::DeleteInstance => {
                            if real {
                                forget.insert(id.clone());
                            }
                            deleted.insert(id);
                        }
                        ActionKind::UntagInstance => {
                            if real {
                                forget.insert(id.clone());
                            } else {
                                untag_pending.insert(id.clone());
                            }
                            unmarked.insert(id);
                        }
                        _ => {}
                    }
                }
                Outcome::Failed(f) => {
                    if rec.action.kind == ActionKind::UntagInstance {
                        untag_pending.insert(id.clone());
                    }
                    if f.kind == FailureKind::Transient {
                        left.insert(id.clone());
                    }
                    failed.push(Failure {
                        instance_id: id,
                        step: operation_name(rec.action.kind).into(),
                        kind: f.kind,
                        code: f.code.clone(),
                        message: f.message.clone(),
                    });
                }
                Outcome::NotStarted => {
                    if rec.action.kind == ActionKind::UntagInstance {
                        untag_pending.insert(id.clone());
                    }
                    left.insert(id);
                }
            }
        }

        // Waiting: errored, validly marked, nothing else to say.
        let mut waiting = BTreeSet::new();
        for r in &resources {
            let Resource::Instance(i) = r else { continue };
            let id = &i.instance_id;
            if is_error_state(i.state.as_deref())
                && i.cleanup_marked_at(&mark_tag).is_some()
                && !acted.contains(id)
                && !protected.contains(id)
                && !capped.contains(id)
                && !tag_limit.contains(id)
            {
                decisions.push(Decision {
                    instance_id: id.clone(),
                    decision: "waiting".into(),
                    outcome: "none".into(),
                    why: format!(
                        "{} with error {}; marked at {}, grace period not over",
                        i.state.as_deref().unwrap_or("?"),
                        first_error.get(id).map(String::as_str).unwrap_or("unknown"),
                        i.tags.get(&mark_tag).map(String::as_str).unwrap_or("?"),
                    ),
                });
                waiting.insert(id.clone());
            }
        }

        // Forget remembered instances that are gone, or no longer errored
        // with nothing left to untag (or protected from the untag).
        for r in &resources {
            let Resource::Instance(i) = r else { continue };
            let id = &i.instance_id;
            if tracked.contains_key(id)
                && !is_error_state(i.state.as_deref())
                && !untag_pending.contains(id)
                && !cap_untag.contains(id)
            {
                forget.insert(id.clone());
            }
        }
        forget.extend(gone.iter().filter(|id| tracked.contains_key(*id)).cloned());
        forget.retain(|id| tracked.contains_key(id));
        if !dry_run && !forget.is_empty() {
            let ids: Vec<String> = forget.into_iter().collect();
            if let Err(e) = self.store.remove(&ids).await {
                // Harmless: the next run re-checks them and forgets them then.
                tracing::warn!(error = %e, count = ids.len(), "cannot forget instances in the mark store; the next run re-checks them");
            }
        }

        split(&mut timings.execute);
        timings.total = ms(started.elapsed());
        report.timings_ms = timings;
        report.marked = Ids::from_set(marked);
        report.deleted = Ids::from_set(deleted);
        report.unmarked = Ids::from_set(unmarked);
        report.protected = Ids::from_set(protected);
        report.skipped_by_cap = Ids::from_set(capped);
        report.tag_limit = Ids::from_set(tag_limit);
        report.waiting = Ids::from_set(waiting);
        report.failed = failed;
        report.left_for_next_run = Ids::from_set(left);
        report.caps_exceeded = caps.into_values().collect();
        decisions.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        report.decisions = decisions;

        for (name, n) in [
            ("InstancesExamined", report.examined.count),
            ("InstancesMarked", report.marked.count),
            ("InstancesDeleted", report.deleted.count),
            ("InstancesUnmarked", report.unmarked.count),
            ("InstancesProtected", report.protected.count),
            ("InstancesSkippedByCap", report.skipped_by_cap.count),
            ("InstancesTagLimit", report.tag_limit.count),
            ("InstancesWaiting", report.waiting.count),
            ("Failures", report.failed.len()),
            ("LeftForNextRun", report.left_for_next_run.count),
            ("CapsExceeded", report.caps_exceeded.len()),
        ] {
            metrics.count(name, n as u64);
        }
        metrics.count(if dry_run { "DryRuns" } else { "Runs" }, 1);
        tracing::info!(
            dry_run,
            examined = report.examined.count,
            marked = report.marked.count,
            deleted = report.deleted.count,
            unmarked = report.unmarked.count,
            protected = report.protected.count,
            skipped_by_cap = report.skipped_by_cap.count,
            tag_limit = report.tag_limit.count,
            waiting = report.waiting.count,
            failed = report.failed.len(),
            left_for_next_run = report.left_for_next_run.count,
            listing_complete = report.listing_complete,
            "cleanup run"
        );
        Ok(report)
    }

    /// Every page of the errored listing, stopping early when time runs
    /// short or a page fails (after the SDK's retries).
    async fn list_errored(
        &self,
        deadline: Deadline,
        failed: &mut Vec<Failure>,
        mut on_id: impl FnMut(&str),
    ) -> (BTreeSet<String>, bool) {
        let mut ids = BTreeSet::new();
        let mut token: Option<String> = None;
        loop {
            if !deadline.can_start() {
                tracing::warn!(
                    listed = ids.len(),
                    "time ran short: errored listing incomplete"
                );
                return (ids, false);
            }
            let mut req = self
                .wsi
                .list_workspace_instances()
                .max_results(PAGE_SIZE)
                .provision_states(ProvisionStateEnum::ErrorAllocating)
                .provision_states(ProvisionStateEnum::ErrorDeallocating);
            if let Some(t) = token.take() {
                req = req.next_token(t);
            }
            let Some(sent) = deadline.bound(req.send()).await else {
                tracing::warn!(
                    listed = ids.len(),
                    "time ran short during a page: errored listing incomplete"
                );
                return (ids, false);
            };
            match sent {
                Ok(page) => {
                    for i in page.workspace_instances() {
                        if let Some(id) = i.workspace_instance_id().filter(|s| !s.is_empty()) {
                            if ids.insert(id.to_owned()) {
                                on_id(id);
                            }
                        }
                    }
                    match page.next_token().filter(|t| !t.is_empty()) {
                        Some(t) => token = Some(t.to_owned()),
                        None => return (ids, true),
                    }
                }
                Err(e) => {
                    let f = classify(&e);
                    tracing::error!(error = %f, listed = ids.len(), "ListWorkspaceInstances failed: errored listing incomplete");
                    failed.push(Failure {
                        instance_id: String::new(),
                        step: "ListWorkspaceInstances".into(),
                        kind: f.kind,
                        code: f.code,
                        message: f.message,
                    });
                    return (ids, false);
                }
            }
        }
    }

    /// `GetWorkspaceInstance` and `ListTagsForResource` of one instance, at
    /// the same time.
    async fn fetch(&self, id: &str) -> Result<Fetched, ReadFailure> {
        let get = self
            .wsi
            .get_workspace_instance()
            .workspace_instance_id(id)
            .send();
        let tags = self
            .wsi
            .list_tags_for_resource()
            .workspace_instance_id(id)
            .send();
        let (get, tags) = futures::join!(get, tags);
        let not_found = |f: &CallFailure| f.code == "ResourceNotFoundException";
        let got = match get {
            Ok(g) => g,
            Err(e) => {
                let f = classify(&e);
                if not_found(&f) {
                    return Ok(Fetched::Gone);
                }
                return Err(ReadFailure {
                    step: "GetWorkspaceInstance",
                    failure: f,
                });
            }
        };
        let tags = match tags {
            Ok(t) => t,
            Err(e) => {
                let f = classify(&e);
                if not_found(&f) {
                    return Ok(Fetched::Gone);
                }
                return Err(ReadFailure {
                    step: "ListTagsForResource",
                    failure: f,
                });
            }
        };
        let mut errors: Vec<InstanceError> = got
            .workspace_instance_errors()
            .iter()
            .map(|e| InstanceError {
                code: e.error_code().map(str::to_owned),
                message: e.error_message().map(str::to_owned),
            })
            .collect();
        errors.extend(got.ec2_instance_errors().iter().map(|e| InstanceError {
            code: e.ec2_error_code().map(str::to_owned),
            message: e.ec2_error_message().map(str::to_owned),
        }));
        Ok(Fetched::Present(Instance {
            instance_id: id.to_owned(),
            state: got.provision_state().map(|s| s.as_str().to_owned()),
            ec2_instance_id: got
                .ec2_managed_instance()
                .and_then(|m| m.instance_id())
                .map(str::to_owned),
            errors,
            tags: tags
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
        }))
    }
}

fn is_error_state(s: Option<&str>) -> bool {
    s.is_some_and(|s| ERROR_STATES.contains(&s))
}

fn instance_of(a: &PlannedAction) -> Option<&str> {
    match &a.target {
        Target::Instance { instance_id } => Some(instance_id),
        _ => None,
    }
}

/// The grace period of the first of `rules` that has a `mark-for-cleanup`.
fn grace_of(policy: &Policy, rules: &[String]) -> Option<SignedDuration> {
    rules.iter().find_map(|name| {
        policy.rule(name)?.actions.iter().find_map(|a| match a {
            ActionSpec::MarkForCleanup { grace } => Some(*grace),
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::new(move |k: &str| m.get(k).cloned())
    }

    #[test]
    fn settings_default_to_safe_values() {
        let s =
            FunctionSettings::from_env(&env(&[("WARDEN_MARKS_TABLE", "warden-marks")])).unwrap();
        assert!(s.cleanup.dry_run, "dry-run unless configured off");
        assert_eq!(s.marks_table, "warden-marks");
        assert_eq!(s.cleanup.reason_tag, DEFAULT_REASON_TAG);
        assert_eq!(
            s.cleanup.protect_tag,
            Some(ProtectTag {
                key: "warden:protect".into(),
                value: None
            })
        );
        assert_eq!(s.cleanup.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(s.policy_file, None);
        assert_eq!(s.call_timeout, DEFAULT_CALL_TIMEOUT);
    }

    #[test]
    fn settings_errors_name_the_variable() {
        let err = FunctionSettings::from_env(&env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("WARDEN_MARKS_TABLE"), "{err}");
        for (k, v) in [
            ("WARDEN_DRY_RUN", "perhaps"),
            ("WARDEN_CONCURRENCY", "0"),
            ("WARDEN_PROTECT_TAG", "bad#key"),
            ("WARDEN_REASON_TAG", "a*b"),
            ("WARDEN_CALL_TIMEOUT", "soon"),
            ("WARDEN_MARKS_TABLE", "x"),
        ] {
            let mut pairs = vec![("WARDEN_MARKS_TABLE", "warden-marks")];
            pairs.retain(|(name, _)| *name != k);
            pairs.push((k, v));
            let err = FunctionSettings::from_env(&env(&pairs))
                .unwrap_err()
                .to_string();
            assert!(err.contains(k) && err.contains(v), "{k}: {err}");
        }
        let s = FunctionSettings::from_env(&env(&[
            ("WARDEN_MARKS_TABLE", "t-1"),
            ("WARDEN_DRY_RUN", "false"),
            ("WARDEN_PROTECT_TAG", "keep=Yes"),
            ("WARDEN_POLICY_FILE", "/opt/p.yaml"),
        ]))
        .unwrap();
        assert!(!s.cleanup.dry_run);
        let pt = s.cleanup.protect_tag.unwrap();
        assert!(pt
            .matches(&BTreeMap::from([("keep".into(), "yes".into())]))
            .is_some());
        assert!(pt
            .matches(&BTreeMap::from([("keep".into(), "no".into())]))
            .is_none());
        assert_eq!(s.policy_file, Some(PathBuf::from("/opt/p.yaml")));
    }

    #[test]
    fn payloads_are_told_apart() {
        let scheduled: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/scheduled-event.json")).unwrap();
        assert!(matches!(
            classify_payload(&scheduled).unwrap(),
            Trigger::Scheduled(_)
        ));
        assert_eq!(
            classify_payload(&serde_json::json!({})).unwrap(),
            Trigger::Manual(Overrides::default())
        );
        assert_eq!(
            classify_payload(&serde_json::Value::Null).unwrap(),
            Trigger::Manual(Overrides::default())
        );
        assert_eq!(
            classify_payload(&serde_json::json!({"dry_run": false, "max_deletions": 3})).unwrap(),
            Trigger::Manual(Overrides {
                dry_run: Some(false),
                max_deletions: Some(3)
            })
        );
        let err = classify_payload(&serde_json::json!({"dryrun": true})).unwrap_err();
        assert!(err.contains("dryrun"), "{err}");
        let err = classify_payload(&serde_json::json!({"max_deletions": -1})).unwrap_err();
        assert!(err.contains("max_deletions") || err.contains("-1"), "{err}");
        assert!(classify_payload(&serde_json::json!("go")).is_err());
        // The sample payloads in events/.
        for (text, want) in [
            (
                include_str!("../../../events/instance-cleanup-manual.json"),
                Overrides {
                    dry_run: Some(false),
                    max_deletions: Some(3),
                },
            ),
            (
                include_str!("../../../events/instance-cleanup-dry-run.json"),
                Overrides {
                    dry_run: Some(true),
                    max_deletions: None,
                },
            ),
        ] {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(classify_payload(&v).unwrap(), Trigger::Manual(want));
        }
    }

    /// Issue 13 item 3. Before, any payload with `source` or `detail-type`
    /// was a scheduled run and its `dry_run` was ignored: this one ran live.
    #[test]
    fn a_scheduled_looking_payload_with_overrides_is_refused() {
        let live =
            serde_json::json!({"source": "ops", "detail-type": "Scheduled Event", "dry_run": true});
        let err = classify_payload(&live).unwrap_err();
        assert!(
            err.contains("`dry_run`") && err.contains("nothing done"),
            "{err}"
        );
        let err = classify_payload(&serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "max_deletions": 0, "dry_run": false}))
            .unwrap_err();
        assert!(err.contains("`dry_run`, `max_deletions`"), "{err}");
    }

    #[test]
    fn tag_values_follow_the_api_pattern() {
        assert_eq!(tag_value("InvalidAMIID.NotFound"), "InvalidAMIID.NotFound");
        assert_eq!(tag_value("a#b*c"), "a_b_c");
        assert_eq!(tag_value("  "), "unknown");
        assert_eq!(tag_value(&"x".repeat(300)).chars().count(), 256);
        assert!(valid_tag_text(&tag_value("é ü/=+-@:"), true, 256));
    }
}
