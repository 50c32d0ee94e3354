//! The policy language: file model, YAML loading with located errors, and
//! compilation (regexes, globs, CIDRs, field paths, time zones resolved once).
//!
//! See `docs/policy.md` for the language. Entry points:
//! [`Policy::from_yaml_str`], [`Policy::from_file`], [`load_dir`].

mod action;
mod condition;
pub(crate) mod decode;
pub(crate) mod field;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use serde::Serialize;

pub use crate::action::{ActionKind, ActionSpec};
pub(crate) use condition::Cond;
pub use condition::CondTrace;
pub use field::{field_names, FieldType};

use crate::error::{Location, PolicyError, PolicyErrors};
use crate::event::{AuditEvent, FieldMap};
pub use crate::resource::OnKind;
use crate::resource::Resource;

/// `count N within D by FIELD[, FIELD...]`: the rule fires for a key once
/// N matching events with that key fall within a window of length D. With
/// several fields (`by user, source_ip`) the key is the combination of
/// their values: the window is counted per user AND source address.
#[derive(Debug, Clone)]
pub struct Threshold {
    /// How many matching events make the threshold (`count N`).
    pub count: u32,
    /// The sliding window they must fall in (`within D`).
    pub within: SignedDuration,
    /// The grouping fields' names, as written, joined by `, `
    /// (`user` or `user, source_ip`).
    pub by: String,
    /// The grouping fields, in key order (one, or more for a composite key).
    pub(crate) by_fields: Vec<field::Field>,
    /// How the `by` value is normalised before counting (`normalize:`;
    /// default: trimmed and case-folded, so `Alice` and `alice ` are one
    /// user).
    pub normalize: crate::state::KeyNormalisation,
}

impl Threshold {
    /// Whether the key combines several fields (`by user, source_ip`).
    pub fn is_composite(&self) -> bool {
        self.by_fields.len() > 1
    }
}

/// Users, domains and instances a policy (or one rule) never touches.
/// Entries are globs, matched case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    pub(crate) users: Vec<(String, condition::GlobMatch)>,
    pub(crate) domains: Vec<(String, condition::GlobMatch)>,
    pub(crate) instance_ids: Vec<(String, condition::GlobMatch)>,
    pub(crate) instance_tags: Vec<(String, String, condition::GlobMatch)>,
}

impl AllowList {
    fn find(list: &[(String, condition::GlobMatch)], value: &str) -> Option<String> {
        list.iter()
            .find(|(_, re)| re.is_match(value))
            .map(|(text, _)| text.clone())
    }

    /// The entry protecting `user`, if any.
    pub fn user(&self, user: &str) -> Option<String> {
        Self::find(&self.users, user)
    }

    /// The entry protecting `domain`, if any.
    pub fn domain(&self, domain: &str) -> Option<String> {
        Self::find(&self.domains, domain)
    }

    /// The entry protecting an instance (by id, or by one of its tags).
    pub fn instance(&self, instance: &crate::resource::Instance) -> Option<(&'static str, String)> {
        if let Some(e) = Self::find(&self.instance_ids, &instance.instance_id) {
            return Some(("instance-ids", e));
        }
        for (key, text, re) in &self.instance_tags {
            if let Some(v) = instance.tags.get(key) {
                if re.is_match(v) {
                    return Some(("instance-tags", format!("{key}={text}")));
                }
            }
        }
        None
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.domains.is_empty()
            && self.instance_ids.is_empty()
            && self.instance_tags.is_empty()
    }
}

/// A per-run limit on one action kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cap {
    /// At most this many actions of the kind per run.
    pub max: Option<u32>,
    /// At most this percentage of the targets' population, as the
    /// function knows it, else of the targets examined (see `docs/policy.md`).
    pub max_percent: Option<f64>,
    /// Under this population `max_percent` does not apply, only `max`
    /// (`None`: [`crate::plan::DEFAULT_MIN_POPULATION`]).
    pub min_population: Option<u32>,
}

/// The cap used for an action kind when the policy sets none for it and no
/// `default`: at most 10 actions of one kind per run.
pub const BUILTIN_DEFAULT_CAP: Cap = Cap {
    max: Some(10),
    max_percent: None,
    min_population: None,
};

/// Policy-wide settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Plan everything as dry-run.
    pub dry_run: bool,
    /// The global allow-list.
    pub allow: AllowList,
    /// Caps per action kind.
    pub caps: BTreeMap<ActionKind, Cap>,
    /// Cap for kinds not listed in `caps`.
    pub default_cap: Cap,
    /// The tag key `mark-for-cleanup` writes.
    pub cleanup_tag: String,
    /// Default time zone for `weekday` / `between`.
    pub timezone: String,
    /// `budgets:` per action kind: at most `max` per `per` across every
    /// invocation (kept in the state store; `WARDEN_BUDGETS` overrides a
    /// kind's). Empty: no budget.
    pub budgets: BTreeMap<ActionKind, Budget>,
}

/// A budget: at most `max` actions of a kind per `per`, across every
/// invocation (fixed periods aligned on the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Budget {
    /// Actions allowed per period.
    pub max: u32,
    /// The period.
    pub per: jiff::SignedDuration,
}

impl Settings {
    /// The cap in force for `kind`.
    pub fn cap(&self, kind: ActionKind) -> Cap {
        self.caps.get(&kind).copied().unwrap_or(self.default_cap)
    }
}

/// A rule test case: inputs and the actions expected.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Its name.
    pub name: String,
    /// Where it is in the file.
    pub location: Location,
    /// `now` for the case (default: the latest event time, else
    /// 2026-01-01T00:00:00Z).
    pub now: Option<jiff::Timestamp>,
    /// Input events (for `on: audit-event`).
    pub events: Vec<AuditEvent>,
    /// Input resources (for scheduled kinds).
    pub resources: Vec<Resource>,
    /// Expected planned actions (empty = none).
    pub expect: Vec<ExpectedAction>,
    /// Expected refusals (allow-lists), when given.
    pub refused: Option<Vec<ExpectedAction>>,
}

/// An expected action in a test case: the kind, and optionally target fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedAction {
    /// The action kind.
    pub kind: ActionKind,
    /// Target fields that must match (`user`, `domain`, `fleet`, `instance`,
    /// `portal`).
    pub fields: BTreeMap<String, String>,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// What it runs on.
    pub on: OnKind,
    /// Where it starts in the file.
    pub location: Location,
    pub(crate) condition: Option<Cond>,
    /// For rules indexed by event type: the condition minus the event-type
    /// test the index already guarantees.
    pub(crate) fast_condition: Option<Cond>,
    pub(crate) typed: bool,
    /// Aggregation, for audit-event rules.
    pub threshold: Option<Threshold>,
    /// The actions, in order.
    pub actions: Vec<ActionSpec>,
    /// Plan this rule's actions as dry-run.
    pub dry_run: bool,
    /// Targets this rule never touches.
    pub allow: AllowList,
    /// Its test cases.
    pub tests: Vec<TestCase>,
    /// Announce its executed actions, refusals by a cap and over-budget
    /// events on the deployment's notification topic (`notify: false`
    /// silences it; default true).
    pub notify: bool,
}

/// A loaded, compiled policy. Cheap to share (`&Policy`) across invocations;
/// build it once at cold start.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it came from (or the name given to `from_yaml_str`).
    pub source: String,
    /// Policy-wide settings.
    pub settings: Settings,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    pub(crate) fields: FieldMap,
    pub(crate) index: RuleIndex,
}

/// Audit-event rules pre-indexed by event type. Evaluation buckets a batch's
/// events by type id once (one hash per event), then runs rule by rule over
/// just the buckets a rule needs (rule-major: the rule's compiled data stays
/// hot in cache and its branches predictable).
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleIndex {
    /// Event type -> type id.
    pub type_ids: FxHashMap<Box<str>, u32>,
    /// Audit-event rules in order, each with the type ids it needs (`None`:
    /// every event).
    pub audit_rules: Vec<(u32, Option<Vec<u32>>)>,
    pub by_kind: BTreeMap<OnKind, Vec<u32>>,
}

impl RuleIndex {
    fn build(rules: &mut [Rule]) -> RuleIndex {
        let mut idx = RuleIndex::default();
        for (i, r) in rules.iter_mut().enumerate() {
            let i = i as u32;
            idx.by_kind.entry(r.on).or_default().push(i);
            if r.on != OnKind::AuditEvent {
                continue;
            }
            match r.condition.as_ref().and_then(Cond::split_event_types) {
                Some((types, rest)) => {
                    r.typed = true;
                    r.fast_condition = rest;
                    let mut ids: Vec<u32> = types
                        .into_iter()
                        .map(|t| {
                            let next = idx.type_ids.len() as u32;
                            *idx.type_ids.entry(t.into_boxed_str()).or_insert(next)
                        })
                        .collect();
                    ids.sort_unstable();
                    ids.dedup();
                    idx.audit_rules.push((i, Some(ids)));
                }
                None => idx.audit_rules.push((i, None)),
            }
        }
        idx
    }
}

/// Why a policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error(transparent)]
    Invalid(#[from] PolicyErrors),
}

impl Policy {
    /// Load and compile a policy from YAML text; `file` names it in errors.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<Policy, PolicyErrors> {
        decode::load(text, file)
    }

    /// Like [`Policy::from_yaml_str`] for raw bytes (must be UTF-8).
    pub fn from_yaml_bytes(bytes: &[u8], file: &str) -> Result<Policy, PolicyErrors> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::from_yaml_str(text, file),
            Err(e) => {
                let upto = &bytes[..e.valid_up_to()];
                let line = upto.iter().filter(|b| **b == b'\n').count() as u32 + 1;
                let column = upto.iter().rev().take_while(|b| **b != b'\n').count() as u32 + 1;
                Err(PolicyErrors(vec![PolicyError {
                    file: file.to_owned(),
                    location: Location { line, column },
                    rule: None,
                    field: None,
                    message: "the file is not valid UTF-8".into(),
                    suggestion: None,
                }]))
            }
        }
    }

    /// Read, load and compile a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::from_yaml_bytes(&bytes, &path.display().to_string())?)
    }

    /// The rule named `name`.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// How this policy reads core fields from audit records (built-in
    /// spellings, after the policy's own `fields:` paths). Decode the stream's
    /// records with it: `AuditEvent::decode_with(data, seq, policy.field_map())`.
    pub fn field_map(&self) -> &FieldMap {
        &self.fields
    }

    /// Decode one audit record with this policy's field map.
    pub fn decode_event(
        &self,
        bytes: &[u8],
        source_id: impl Into<String>,
    ) -> Result<AuditEvent, crate::error::EventError> {
        AuditEvent::decode_with(bytes, source_id, &self.fields)
    }

    /// Whether any rule runs on `on`.
    pub fn has_rules_for(&self, on: OnKind) -> bool {
        self.index.by_kind.contains_key(&on)
    }
}

/// The policy files (`*.yaml`, `*.yml`) in a directory, sorted, recursively;
/// or the path itself if it is a file.
pub fn policy_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Load every policy file under `path`.
pub fn load_dir(path: &Path) -> Result<Vec<Policy>, LoadError> {
    let files = policy_files(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    files.iter().map(|f| Policy::from_file(f)).collect()
}

pub(crate) use RuleIndex as Index;

impl Index {
    pub(crate) fn new(rules: &mut [Rule]) -> Self {
        Self::build(rules)
    }
}
