//! Evaluation: a compiled [`Policy`] against decoded events or resource views.
//! Pure and synchronous: no I/O, no clock (time comes in [`Context::now`]),
//! no compilation and no allocation per event on the fast path (matches go
//! into a reusable buffer).

use rustc_hash::FxHashMap;
use std::borrow::Cow;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::event::AuditEvent;
use crate::policy::field::{Env, Subject, Val};
use crate::policy::{CondTrace, Policy};
use crate::resource::{OnKind, Resource};

/// Threshold candidates grouped by (rule, key): (time, event index).
type Groups<'a> = FxHashMap<(u32, Cow<'a, str>), Vec<(Timestamp, u32)>>;

/// Events evaluated together, rule by rule (see `evaluate_events_into`).
const BLOCK: u32 = 32;

/// The facts of one run, besides the policy and its input: the time, and
/// the deployment's configured fleet and audit stream. The engine reads
/// [`Context::now`]; the planner reads all of it to resolve targets. How to
/// plan (dry-run, caps) is not a fact of the run: those are the planner's
/// own options (`PlanOptions`), which evaluation never sees.
#[derive(Debug, Clone)]
pub struct Context {
    /// "Now": ages, windows and cleanup marks are measured against it.
    pub now: Timestamp,
    /// The function's configured fleet, used when neither the action nor the
    /// event/resource names one.
    pub default_fleet_arn: Option<String>,
    /// The function's configured audit stream (fleet-sweep's
    /// `WARDEN_AUDIT_STREAM_ARN`), the target of a `set-audit-stream` that
    /// names no `stream-arn`.
    pub audit_stream_arn: Option<String>,
    /// How many targets of each kind the run's actions could reach, where
    /// the function knows it: the base of `max-percent` caps (unknown: the
    /// targets examined).
    pub population: crate::plan::Population,
    /// The function's configured Secure Browser user access log stream
    /// (portal-sweep's `WARDEN_ACCESS_LOG_STREAM_ARN`), the target of
    /// `set-access-logging`.
    pub access_log_stream_arn: Option<String>,
}

impl Context {
    /// A context at `now`: no default fleet, no configured audit stream.
    pub fn new(now: Timestamp) -> Context {
        Context {
            now,
            default_fleet_arn: None,
            audit_stream_arn: None,
            population: crate::plan::Population::default(),
            access_log_stream_arn: None,
        }
    }

    /// Set the population of the run's targets (the base of `max-percent`).
    pub fn with_population(mut self, population: crate::plan::Population) -> Context {
        self.population = population;
        self
    }

    /// Set the function's default fleet ARN.
    pub fn with_default_fleet(mut self, arn: impl Into<String>) -> Context {
        self.default_fleet_arn = Some(arn.into());
        self
    }

    /// Set the function's configured audit stream.
    pub fn with_audit_stream(mut self, arn: Option<impl Into<String>>) -> Context {
        self.audit_stream_arn = arn.map(Into::into);
        self
    }

    /// Set the function's configured Secure Browser access log stream.
    pub fn with_access_log_stream(mut self, arn: Option<impl Into<String>>) -> Context {
        self.access_log_stream_arn = arn.map(Into::into);
        self
    }
}

/// Where threshold hits are counted. The in-memory [`MemoryStore`] counts
/// the events of one invocation; a cross-invocation store (e.g. DynamoDB)
/// can implement the same trait later.
pub trait ThresholdStore {
    /// Record one hit of `rule` for `key` at `at`, and return how many hits
    /// for (`rule`, `key`) fall within `[at - window, at]`, this one included.
    fn record(&mut self, rule: &str, key: &str, at: Timestamp, window: SignedDuration) -> u64;
}

/// A [`ThresholdStore`] in memory, for one invocation (or a test).
#[derive(Debug, Default)]
pub struct MemoryStore {
    hits: FxHashMap<String, FxHashMap<String, Vec<Timestamp>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl ThresholdStore for MemoryStore {
    fn record(&mut self, rule: &str, key: &str, at: Timestamp, window: SignedDuration) -> u64 {
        let per_rule = match self.hits.get_mut(rule) {
            Some(m) => m,
            None => self.hits.entry(rule.to_owned()).or_default(),
        };
        let times = match per_rule.get_mut(key) {
            Some(v) => v,
            None => per_rule.entry(key.to_owned()).or_default(),
        };
        let pos = times.partition_point(|t| *t <= at);
        times.insert(pos, at);
        let from = at.checked_sub(window).unwrap_or(Timestamp::MIN);
        let lo = times.partition_point(|t| *t < from);
        (pos + 1 - lo.min(pos + 1)) as u64
    }
}

/// An event that passed a threshold rule's conditions
/// ([`Policy::evaluate_events_deferred`]): whether the rule matches it
/// depends on a count kept elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThresholdCandidate {
    /// Index of the rule in `Policy::rules`.
    pub rule: u32,
    /// The rule's `by` value for the event (for a composite `by` the
    /// fields' values, each trimmed, joined by [`KEY_SEPARATOR`]),
    /// normalised as the rule's threshold says (default: trimmed and
    /// case-folded).
    pub key: String,
    /// The event's time (the evaluation's `now` when it has none).
    pub at: Timestamp,
    /// Index of the event in the input slice.
    pub subject: u32,
}

/// One (rule, subject) match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Match {
    /// Index of the subject (event or resource) in the input slice.
    pub subject: u32,
    /// Index of the rule in `Policy::rules`.
    pub rule: u32,
}

/// The result of evaluating one batch: which rules matched which subjects.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    /// Matches, sorted by subject then rule.
    pub matches: Vec<Match>,
    /// How many subjects were examined.
    pub examined: usize,
    #[serde(skip)]
    pending: Vec<Match>,
    #[serde(skip)]
    buckets: Vec<Vec<u32>>,
}

impl Evaluation {
    /// An empty evaluation (reuse it across batches to avoid allocation).
    pub fn new() -> Evaluation {
        Evaluation::default()
    }

    /// Forget everything, keeping the buffers.
    pub fn clear(&mut self) {
        self.matches.clear();
        self.pending.clear();
        self.examined = 0;
    }

    /// Adds matches decided outside the engine (the threshold windows that
    /// fired in a durable store) and restores the order (by subject, then
    /// rule; duplicates removed).
    pub fn add_matches(&mut self, matches: impl IntoIterator<Item = Match>) {
        self.matches.extend(matches);
        self.matches.sort_unstable();
        self.matches.dedup();
    }

    /// Keep only the matches of one rule (used by rule test cases).
    pub fn retain_rule(&mut self, rule: usize) {
        self.matches.retain(|m| m.rule as usize == rule);
    }
}

/// Why each rule did or did not match one subject (`warden policy explain`).
#[derive(Debug, Clone, Serialize)]
pub struct RuleExplanation {
    /// The rule.
    pub rule: String,
    /// Whether the rule runs on this kind of subject at all.
    pub applies: bool,
    /// Whether its conditions held.
    pub conditions_hold: bool,
    /// Whether it matched in the batch (conditions and threshold).
    pub matched: bool,
    /// Each condition, with its value and reason.
    pub conditions: Vec<CondTrace>,
    /// Threshold or applicability note.
    pub note: Option<String>,
}

/// The explanation for one subject.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The subject (event source id, or resource id).
    pub subject: String,
    /// One entry per rule, in policy order.
    pub rules: Vec<RuleExplanation>,
}

fn key_of<'a>(v: Val<'a>) -> Option<Cow<'a, str>> {
    match v {
        Val::Str(s) => Some(Cow::Borrowed(s)),
        Val::Ip(ip) => Some(Cow::Owned(ip.to_string())),
        Val::Num(n) => Some(Cow::Owned(n.to_string())),
        Val::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        _ => None,
    }
}

/// Separates the values of a composite threshold key (`by user, source_ip`
/// -> `alice|203.0.113.9`); a `|` or a backslash inside a value is escaped
/// with a backslash, so two different combinations never make the same key.
pub const KEY_SEPARATOR: char = '|';

/// The threshold key of `subject`: the `by` field's value, or for a
/// composite key the values of all its fields, each trimmed and escaped,
/// joined by [`KEY_SEPARATOR`]; a field the event lacks is empty there
/// (`alice|`). `None` when the event has none of the fields (not counted).
fn threshold_key<'a>(
    th: &crate::policy::Threshold,
    subject: Subject<'a>,
    env: &Env<'_>,
) -> Option<Cow<'a, str>> {
    match th.by_fields.as_slice() {
        [one] => key_of(one.get(subject, env)),
        fields => {
            let mut out = String::new();
            let mut any = false;
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(KEY_SEPARATOR);
                }
                let Some(v) = key_of(f.get(subject, env)) else {
                    continue;
                };
                any = true;
                for ch in v.trim().chars() {
                    if ch == KEY_SEPARATOR || ch == '\\' {
                        out.push('\\');
                    }
                    out.push(ch);
                }
            }
            any.then_some(Cow::Owned(out))
        }
    }
}

impl Policy {
    fn env(&self, ctx: &Context) -> Env<'_> {
        Env {
            now: ctx.now,
            cleanup_tag: &self.settings.cleanup_tag,
        }
    }

    /// Evaluate a batch of audit events (e.g. one Kinesis batch).
    pub fn evaluate_events(
        &self,
        events: &[AuditEvent],
        ctx: &Context,
        store: &mut dyn ThresholdStore,
    ) -> Evaluation {
        let mut out = Evaluation::new();
        self.evaluate_events_into(events, ctx, store, &mut out);
        out
    }

    /// [`Policy::evaluate_events`] into a reusable buffer (cleared first).
    pub fn evaluate_events_into(
        &self,
        events: &[AuditEvent],
        ctx: &Context,
        store: &mut dyn ThresholdStore,
        out: &mut Evaluation,
    ) {
        self.evaluate_conditions_into(events, ctx, out);
        if !out.pending.is_empty() {
            self.apply_thresholds(events, ctx, store, out);
        }
        out.matches.sort_unstable();
    }

    /// Evaluates the batch like [`Policy::evaluate_events`], but leaves the
    /// threshold rules to the caller: `out` holds the matches of the other
    /// rules (sorted), and the events that passed a threshold rule's
    /// conditions are returned as candidates, with the rule's `by` value as
    /// written (not normalised), sorted by rule, key, time and event. The
    /// caller counts them in a durable store and adds the matches of the
    /// windows that fire with [`Evaluation::add_matches`]. Candidates
    /// without a `by` value are dropped, as [`Policy::evaluate_events`] does.
    pub fn evaluate_events_deferred(
        &self,
        events: &[AuditEvent],
        ctx: &Context,
        out: &mut Evaluation,
    ) -> Vec<ThresholdCandidate> {
        self.evaluate_conditions_into(events, ctx, out);
        let env = self.env(ctx);
        let mut cands = Vec::with_capacity(out.pending.len());
        for &Match {
            rule: r,
            subject: i,
        } in &out.pending
        {
            let Some(th) = self.rules[r as usize].threshold.as_ref() else {
                continue;
            };
            let ev = &events[i as usize];
            let Some(key) = threshold_key(th, Subject::Event(ev), &env) else {
                continue;
            };
            let key = th.normalize.apply(&key);
            if key.is_empty() {
                continue;
            }
            cands.push(ThresholdCandidate {
                rule: r,
                key: key.into_owned(),
                at: ev.time.unwrap_or(ctx.now),
                subject: i,
            });
        }
        out.pending.clear();
        out.matches.sort_unstable();
        cands.sort_unstable_by(|a, b| {
            (a.rule, &a.key, a.at, a.subject).cmp(&(b.rule, &b.key, b.at, b.subject))
        });
        cands
    }

    fn evaluate_conditions_into(&self, events: &[AuditEvent], ctx: &Context, out: &mut Evaluation) {
        out.clear();
        out.examined = events.len();
        let env = self.env(ctx);
        let idx = &self.index;
        let Evaluation {
            matches,
            pending,
            buckets,
            ..
        } = out;
        if buckets.len() < idx.type_ids.len() {
            buckets.resize_with(idx.type_ids.len(), Vec::new);
        }
        // Blocked evaluation: a block of events small enough to stay in
        // cache with the compiled rules, then rule by rule over the block's
        // events of the types each rule needs.
        let n = events.len() as u32;
        let mut start = 0u32;
        while start < n {
            let end = n.min(start + BLOCK);
            for b in buckets.iter_mut() {
                b.clear();
            }
            if !idx.type_ids.is_empty() {
                for i in start..end {
                    let ev = &events[i as usize];
                    if let Some(t) = ev.event_type.as_deref().and_then(|t| idx.type_ids.get(t)) {
                        buckets[*t as usize].push(i);
                    }
                }
            }
            for (r, types) in &idx.audit_rules {
                let rule = &self.rules[*r as usize];
                let sink = if rule.threshold.is_some() {
                    &mut *pending
                } else {
                    &mut *matches
                };
                let mut test = |i: u32, cond: Option<&crate::policy::Cond>| {
                    let ev = &events[i as usize];
                    if cond.is_none_or(|c| c.eval(Subject::Event(ev), &env)) {
                        sink.push(Match {
                            subject: i,
                            rule: *r,
                        });
                    }
                };
                match types {
                    // Typed rules: the bucket guarantees the event type, so
                    // the rest of the condition is enough.
                    Some(ids) => {
                        let cond = rule.fast_condition.as_ref();
                        for t in ids {
                            for &i in &buckets[*t as usize] {
                                test(i, cond);
                            }
                        }
                    }
                    None => {
                        let cond = rule.condition.as_ref();
                        for i in start..end {
                            test(i, cond);
                        }
                    }
                }
            }
            start = end;
        }
    }

    fn apply_thresholds(
        &self,
        events: &[AuditEvent],
        ctx: &Context,
        store: &mut dyn ThresholdStore,
        out: &mut Evaluation,
    ) {
        let env = self.env(ctx);
        // Group candidates by (rule, key); within a group, by time.
        let mut groups: Groups<'_> = FxHashMap::default();
        for &Match {
            rule: r,
            subject: i,
        } in &out.pending
        {
            let rule = &self.rules[r as usize];
            let Some(th) = rule.threshold.as_ref() else {
                continue;
            };
            let ev = &events[i as usize];
            let Some(key) = threshold_key(th, Subject::Event(ev), &env) else {
                continue;
            };
            let changed = match th.normalize.apply(&key) {
                Cow::Borrowed(b) if b.len() == key.len() => None,
                other => Some(other.into_owned()),
            };
            let key = changed.map_or(key, Cow::Owned);
            if key.is_empty() {
                continue;
            }
            groups
                .entry((r, key))
                .or_default()
                .push((ev.time.unwrap_or(ctx.now), i));
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((r, key), mut cands) in groups {
            cands.sort_unstable();
            let rule = &self.rules[r as usize];
            let Some(th) = rule.threshold.as_ref() else {
                continue;
            };
            let mut emitted = 0;
            let mut lo = 0;
            for j in 0..cands.len() {
                let at = cands[j].0;
                let n = store.record(&rule.name, &key, at, th.within);
                if n >= u64::from(th.count) {
                    let from = at.checked_sub(th.within).unwrap_or(Timestamp::MIN);
                    while lo < j && cands[lo].0 < from {
                        lo += 1;
                    }
                    for c in &cands[lo.max(emitted)..=j] {
                        out.matches.push(Match {
                            subject: c.1,
                            rule: r,
                        });
                    }
                    emitted = j + 1;
                }
            }
        }
    }

    /// Evaluate resource views (one sweep): each resource against the rules
    /// of its kind.
    pub fn evaluate_resources(&self, resources: &[Resource], ctx: &Context) -> Evaluation {
        let mut out = Evaluation::new();
        out.examined = resources.len();
        let env = self.env(ctx);
        for (i, res) in resources.iter().enumerate() {
            let Some(rules) = self.index.by_kind.get(&res.on_kind()) else {
                continue;
            };
            for &r in rules {
                let rule = &self.rules[r as usize];
                if rule
                    .condition
                    .as_ref()
                    .is_none_or(|c| c.eval(Subject::Resource(res), &env))
                {
                    out.matches.push(Match {
                        subject: i as u32,
                        rule: r,
                    });
                }
            }
        }
        out
    }

    fn explain_subject(
        &self,
        subject: Subject<'_>,
        on: OnKind,
        index: u32,
        eval: &Evaluation,
        ctx: &Context,
    ) -> Vec<RuleExplanation> {
        let env = self.env(ctx);
        self.rules
            .iter()
            .enumerate()
            .map(|(r, rule)| {
                let matched = eval
                    .matches
                    .binary_search(&Match {
                        subject: index,
                        rule: r as u32,
                    })
                    .is_ok();
                if rule.on != on {
                    return RuleExplanation {
                        rule: rule.name.clone(),
                        applies: false,
                        conditions_hold: false,
                        matched,
                        conditions: Vec::new(),
                        note: Some(format!("runs on `{}`, not `{}`", rule.on.name(), on.name())),
                    };
                }
                let mut conditions = Vec::new();
                let holds = rule
                    .condition
                    .as_ref()
                    .is_none_or(|c| c.explain(subject, &env, 0, &mut conditions));
                let note = rule.threshold.as_ref().map(|t| {
                    format!(
                        "threshold: count {} within {} by {} (counted over the whole batch){}",
                        t.count,
                        crate::time::format_duration(t.within),
                        t.by,
                        if holds && !matched {
                            ": not reached"
                        } else {
                            ""
                        }
                    )
                });
                RuleExplanation {
                    rule: rule.name.clone(),
                    applies: true,
                    conditions_hold: holds,
                    matched,
                    conditions,
                    note,
                }
            })
            .collect()
    }

    /// Why each rule did or did not match each event of `events`, given
    /// their batch `evaluation` (which decides thresholds).
    pub(crate) fn explain_each_event(
        &self,
        events: &[AuditEvent],
        evaluation: &Evaluation,
        ctx: &Context,
    ) -> Vec<Explanation> {
        events
            .iter()
            .enumerate()
            .map(|(i, ev)| Explanation {
                subject: ev.source_id.to_string(),
                rules: self.explain_subject(
                    Subject::Event(ev),
                    OnKind::AuditEvent,
                    i as u32,
                    evaluation,
                    ctx,
                ),
            })
            .collect()
    }

    /// Why each rule did or did not match each of `resources`.
    pub(crate) fn explain_each_resource(
        &self,
        resources: &[Resource],
        evaluation: &Evaluation,
        ctx: &Context,
    ) -> Vec<Explanation> {
        resources
            .iter()
            .enumerate()
            .map(|(i, r)| Explanation {
                subject: r.id(),
                rules: self.explain_subject(
                    Subject::Resource(r),
                    r.on_kind(),
                    i as u32,
                    evaluation,
                    ctx,
                ),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_counts_within_window() {
        let mut s = MemoryStore::new();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let w = SignedDuration::from_mins(10);
        assert_eq!(s.record("r", "alice", t0, w), 1);
        assert_eq!(
            s.record("r", "alice", t0 + SignedDuration::from_mins(5), w),
            2
        );
        assert_eq!(s.record("r", "bob", t0, w), 1);
        assert_eq!(
            s.record("r", "alice", t0 + SignedDuration::from_mins(16), w),
            1
        );
        assert_eq!(s.record("other", "alice", t0, w), 1);
    }
}
