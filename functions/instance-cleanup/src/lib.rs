//! instance-cleanup: mark errored WorkSpaces Instances, delete them once the
//! grace period has passed and they are still errored, and unmark the ones
//! that recover (Cloud Custodian's mark-for-op), driven by the policy's
//! `on: instance` rules.
//!
//! One run ([`Cleaner::run`], stage by stage in [`stages`]):
//!
//! 1. **gather** (async): read the marked-instance store ([`MarkStore`])
//!    once; list the errored instances (`ListWorkspaceInstances` filtered by
//!    `ProvisionStates` [ERROR_ALLOCATING, ERROR_DEALLOCATING], 25 per page,
//!    every page; healthy instances are never listed); meanwhile, for every
//!    remembered id at once and every listed id as its page arrives,
//!    `GetWorkspaceInstance` and `ListTagsForResource` together, with
//!    bounded concurrency, starting nothing once time runs short;
//! 2. **adjust** (pure): which marks count; evaluate and plan with the
//!    policy: marks (`mark-for-cleanup`), deletions once the grace period
//!    has passed, unmarks (`unmark-recovered-instances`), allow-lists (the
//!    function's protect tag among them) and caps (a manual `max_deletions`
//!    lowers the `delete-instance` cap); the reason tag and the 30-tag limit;
//! 3. **execute** (async): remember new marks in the store BEFORE tagging,
//!    execute with the shared [`Executor`], forget deleted / unmarked /
//!    vanished instances AFTER;
//! 4. **report** (pure): a JSON summary ([`Report`]), EMF counts, one log
//!    line (and the executor's JSON log line per action).
//!
//! Time comes in as `now`, so tests and the demo move it instead of waiting.

pub mod handler;
pub mod stages;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_workspacesinstances::types::ProvisionStateEnum;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use warden_core::aws::executor::Executor;
use warden_core::aws::notify::Notifier;

use warden_core::aws::deadline::{classify, CallFailure, Deadline, FailureKind};
use warden_core::aws::Clients;
use warden_core::env::{Env, EnvError};
use warden_core::overrides::{Invocation, ManualPayload};
use warden_core::plan::{PlannedAction, Target};
use warden_core::policy::{ActionKind, Policy};
use warden_core::resource::{Instance, InstanceError};
use warden_core::shell::{CommonSettings, PolicyLoadError, PolicySource};

pub use stages::{
    adjust, report, tally, to_distrust, to_forget, Adjusted, Executed, Gathered, Tally,
};
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
    /// Why, in a sentence an operator can act on (state, error, mark age).
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
    /// Every instance counted by the extra listing, the base of the
    /// policy's `max-percent` caps; absent when no instance cap has a
    /// percentage (no extra listing) or the count could not be completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances_population: Option<usize>,
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
    notifier: Option<Notifier>,
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
            notifier: None,
        }
    }

    /// Announces deletions and cap refusals on the deployment's SNS topic
    /// (`WARDEN_NOTIFY_TOPIC_ARN`), from [`Cleaner::run_invocation`].
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
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

    /// Every instance, whatever its state, counted (the population of
    /// `max-percent` caps): `ceil(instances / 25)` extra
    /// `ListWorkspaceInstances` calls. `None` when a page fails or time runs
    /// short: the caps then fall back to the instances examined (stricter).
    async fn count_instances(&self, deadline: Deadline) -> Option<usize> {
        let mut ids = BTreeSet::new();
        let mut token: Option<String> = None;
        let mut pages = 0usize;
        loop {
            if !deadline.can_start() {
                tracing::warn!(
                    counted = ids.len(),
                    "time ran short: instance count incomplete; max-percent caps use the instances examined"
                );
                return None;
            }
            let mut req = self.wsi.list_workspace_instances().max_results(PAGE_SIZE);
            if let Some(t) = token.take() {
                req = req.next_token(t);
            }
            let page = match deadline.bound(req.send()).await {
                Some(Ok(page)) => page,
                Some(Err(e)) => {
                    tracing::warn!(
                        error = %classify(&e),
                        counted = ids.len(),
                        "ListWorkspaceInstances (count) failed: max-percent caps use the instances examined"
                    );
                    return None;
                }
                None => {
                    tracing::warn!(
                        counted = ids.len(),
                        "time ran short during a page: instance count incomplete; max-percent caps use the instances examined"
                    );
                    return None;
                }
            };
            pages += 1;
            ids.extend(
                page.workspace_instances()
                    .iter()
                    .filter_map(|i| i.workspace_instance_id())
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned),
            );
            match page.next_token().filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => {
                    tracing::info!(
                        instances = ids.len(),
                        pages,
                        "instances counted: the population of max-percent caps"
                    );
                    return Some(ids.len());
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
        policy
            .rule(name)?
            .actions
            .iter()
            .find_map(|a| (a.kind == ActionKind::MarkForCleanup).then_some(a.grace))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::env::from_pairs as env;

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
