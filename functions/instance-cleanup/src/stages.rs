//! One run, stage by stage ([`Cleaner::run`]):
//!
//! 1. **gather** (async, [`Cleaner::gather`]): the mark store, the errored
//!    listing and, overlapping it, every candidate's instance and tags
//!    ([`Gathered`]);
//! 2. **adjust** (pure, [`adjust`]): which marks count, evaluate and plan
//!    with the function's protect tag as an allow-list and a manual
//!    `max_deletions` as a cap override (so the planner is the one source of
//!    refusals), the reason tag and the 30-tag limit ([`Adjusted`]);
//! 3. **execute** (async, [`Cleaner::execute`]): remember new marks, run the
//!    actions, then ([`tally`], pure) read what they did and forget the
//!    instances that are done with ([`Executed`]);
//! 4. **report** (pure, [`report`]): the [`Report`], its EMF counts and
//!    the `cleanup run` log line.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::StreamExt;
use jiff::Timestamp;
use warden_core::action::TargetKind;
use warden_core::aws::deadline::{Deadline, FailureKind, Ran};
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{operation_name, ActionRecord, Outcome};
use warden_core::aws::notify::Origin;
use warden_core::overrides::{apply_caps, lower_cap};
use warden_core::plan::{ActionParams, Plan, PlannedAction, Refusal, RefusalReason};
use warden_core::policy::{ActionKind, Policy};
use warden_core::resource::{Instance, Resource};
use warden_core::{Context, PlanOptions, Population};

use crate::{
    grace_of, instance_of, is_error_state, ms, tag_value, CapNotice, Cleaner, CleanupConfig,
    CleanupError, Decision, Failure, Fetched, Ids, MarkRecord, MarkStore, Overrides, Report,
    Timings, MAX_TAGS,
};

/// What the gather stage read.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// The mark store: what this warden has marked, and when.
    pub tracked: BTreeMap<String, MarkRecord>,
    /// The instances read (errored ones and remembered ones), by id.
    pub views: Vec<Instance>,
    /// Remembered or listed instances that no longer exist.
    pub gone: BTreeSet<String>,
    /// Whether every page of the errored listing was read.
    pub listing_complete: bool,
    /// Listing pages and reads that failed.
    pub failed: Vec<Failure>,
    /// Instances not read in this run (time ran short, transient failure).
    pub left: BTreeSet<String>,
    /// Every instance, counted only when an instance cap has a
    /// `max-percent` ([`wants_population`]): the base of the percentage.
    pub population: Option<usize>,
}

/// Whether a cap of an action on instances has a `max-percent`, so that the
/// run counts every instance (an extra listing) for its base.
pub fn wants_population(policy: &Policy) -> bool {
    ActionKind::ALL
        .iter()
        .filter(|k| k.descriptor().target == TargetKind::Instance)
        .any(|k| policy.settings.cap(*k).max_percent.is_some())
}

/// The plan after the function's adjustments, and what the later stages
/// need to know about the instances.
#[derive(Debug, Clone)]
pub struct Adjusted {
    /// Nothing is changed in this run.
    pub dry_run: bool,
    /// The actions to run and the refusals (allow-lists, protect tag, caps).
    pub plan: Plan,
    /// The instances as the policy saw them (untrusted marks removed).
    pub resources: Vec<Resource>,
    /// Each instance's tags as read (marks included).
    pub real_tags: BTreeMap<String, BTreeMap<String, String>>,
    /// Each instance's provision state.
    pub states: BTreeMap<String, String>,
    /// Each instance's first error code, made a valid tag value.
    pub first_error: BTreeMap<String, String>,
    /// Errored instances whose mark the store does not vouch for.
    pub untrusted_marks: BTreeSet<String>,
    /// The decisions taken here (protected, capped, tag limit).
    pub decisions: Vec<Decision>,
    /// Instances an allow-list or the protect tag kept from any action.
    pub protected: BTreeSet<String>,
    /// Instances an action of which a cap refused.
    pub capped: BTreeSet<String>,
    /// Instances whose unmark a cap refused (their mark stays remembered).
    pub cap_untag: BTreeSet<String>,
    /// Each action kind a cap refused in this run.
    pub caps: BTreeMap<ActionKind, CapNotice>,
    /// Instances that cannot be marked: 30 tags at most.
    pub tag_limit: BTreeSet<String>,
}

/// What the execute stage did.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    /// Each action run, with its outcome.
    pub records: Vec<ActionRecord>,
    /// The store writes that failed (those marks were not tagged).
    pub failed: Vec<Failure>,
    /// Instances whose mark could not be remembered: left for the next run.
    pub left: BTreeSet<String>,
    /// The actions' meaning per instance.
    pub tally: Tally,
}

/// What the executed actions mean, instance by instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Marked (or would be).
    pub marked: BTreeSet<String>,
    /// Deleted (or would be), including already gone.
    pub deleted: BTreeSet<String>,
    /// Unmarked (or would be).
    pub unmarked: BTreeSet<String>,
    /// Really deleted or unmarked: to forget in the store.
    pub done_with: BTreeSet<String>,
    /// Every instance an action was run for.
    pub acted: BTreeSet<String>,
    /// Unmarks not done (dry run, failed, not started): keep remembering.
    pub untag_pending: BTreeSet<String>,
    /// One decision per action.
    pub decisions: Vec<Decision>,
    /// Actions that failed.
    pub failed: Vec<Failure>,
    /// Actions failed transiently or not started: for the next run.
    pub left: BTreeSet<String>,
}

impl<S: MarkStore> Cleaner<S> {
    /// One run at `now`. Only a store that cannot be read fails the run;
    /// everything else is reported.
    pub async fn run(
        &self,
        now: Timestamp,
        overrides: &Overrides,
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> Result<Report, CleanupError> {
        self.run_invocation("local", now, overrides, deadline, metrics)
            .await
    }

    /// [`run`](Self::run) as Lambda invocation `request_id`: with a
    /// notifier, its deletions and cap refusals are announced, naming the
    /// request id to find its log lines by.
    pub async fn run_invocation(
        &self,
        request_id: &str,
        now: Timestamp,
        overrides: &Overrides,
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> Result<Report, CleanupError> {
        let started = Instant::now();
        let mut timings = Timings::default();
        let gathered = self.gather(deadline, &mut timings).await?;
        let lap = Instant::now();
        let mut adjusted = adjust(&self.policy, &self.config, now, overrides, &gathered);
        timings.plan = ms(lap.elapsed());
        let lap = Instant::now();
        let executed = self
            .execute(now, &gathered, &mut adjusted, deadline, metrics)
            .await;
        if let Some(notifier) = &self.notifier {
            let mut notices = notifier.notices(&self.policy);
            notices.refusals(&adjusted.plan.refusals);
            notices.executed(&executed.records);
            let origin = Origin::new(crate::FUNCTION, request_id);
            notifier
                .send(&notices.notices, &origin, deadline, metrics)
                .await;
        }
        timings.execute = ms(lap.elapsed());
        timings.total = ms(started.elapsed());
        Ok(report(
            now,
            &self.policy.settings.cleanup_tag,
            gathered,
            adjusted,
            executed,
            timings,
            metrics,
        ))
    }

    /// Stage 1: the store once; then the errored listing and, at the same
    /// time, the reads: every remembered id at once, every listed id as its
    /// page arrives. Fails only when the store cannot be read.
    pub async fn gather(
        &self,
        deadline: Deadline,
        timings: &mut Timings,
    ) -> Result<Gathered, CleanupError> {
        let started = Instant::now();
        let tracked = self.store.load().await.inspect_err(|e| {
            tracing::error!(error = %e, "cannot read the mark store; nothing done");
        })?;
        timings.store_load = ms(started.elapsed());
        let started = Instant::now();
        let mut failed = Vec::new();
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
        let counting = async {
            if wants_population(&self.policy) {
                self.count_instances(deadline).await
            } else {
                None
            }
        };
        let ((_, complete), mut reads, population) = futures::join!(listing, reading, counting);
        timings.listing_and_reads = ms(started.elapsed());
        reads.sort_by(|a, b| a.0.cmp(&b.0));
        // An incomplete listing is reported as `listing_complete: false`:
        // the unlisted instances are not known by id.
        let mut g = Gathered {
            tracked: BTreeMap::new(),
            listing_complete: complete,
            failed,
            population,
            ..Gathered::default()
        };
        for (id, r) in reads {
            match r {
                Ran::NotStarted => {
                    g.left.insert(id);
                }
                Ran::Done(Ok(Fetched::Gone)) => {
                    g.gone.insert(id);
                }
                Ran::Done(Ok(Fetched::Present(v))) => g.views.push(v),
                Ran::Done(Err(rf)) => {
                    if rf.failure.kind == FailureKind::Transient {
                        g.left.insert(id.clone());
                    }
                    g.failed.push(Failure {
                        instance_id: id,
                        step: rf.step.into(),
                        kind: rf.failure.kind,
                        code: rf.failure.code,
                        message: rf.failure.message,
                    });
                }
            }
        }
        g.tracked = tracked;
        Ok(g)
    }

    /// Stage 3: remember new marks BEFORE tagging (an intent log: a mark the
    /// store does not know would not count later), run the actions, then
    /// forget the instances that are done with (deleted, unmarked, gone).
    pub async fn execute(
        &self,
        now: Timestamp,
        gathered: &Gathered,
        adjusted: &mut Adjusted,
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> Executed {
        let mut out = Executed::default();
        if !adjusted.dry_run {
            let marks = marks_to_remember(&adjusted.plan, &adjusted.first_error, now);
            let mut unrecorded: BTreeSet<String> = BTreeSet::new();
            for chunk in marks.chunks(25) {
                if let Err(e) = self.store.put(chunk).await {
                    tracing::error!(error = %e, count = chunk.len(), "cannot remember marks; those instances are not marked in this run");
                    for r in chunk {
                        unrecorded.insert(r.instance_id.clone());
                        out.left.insert(r.instance_id.clone());
                        out.failed.push(Failure {
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
                adjusted.plan.actions.retain(|a| {
                    !(a.kind == ActionKind::MarkForCleanup
                        && instance_of(a).is_some_and(|id| unrecorded.contains(id)))
                });
            }
        }
        out.records = self
            .executor
            .execute(&adjusted.plan.actions, deadline, metrics)
            .await;
        out.tally = tally(
            &self.policy,
            &self.policy.settings.cleanup_tag,
            adjusted,
            &out.records,
        );
        let forget = to_forget(gathered, adjusted, &out.tally);
        let distrust = to_distrust(gathered, adjusted, &out.tally);
        if !adjusted.dry_run && !distrust.is_empty() {
            // Remembered (so a later run retries the untag) but vouching
            // for no tag: if the instance errors again, its old mark does
            // not count and it is marked afresh.
            if let Err(e) = self.store.put(&distrust).await {
                tracing::warn!(error = %e, count = distrust.len(), "cannot record recoveries in the mark store; their old marks stay trusted until a later run records them");
            }
        }
        if !adjusted.dry_run && !forget.is_empty() {
            let ids: Vec<String> = forget.into_iter().collect();
            if let Err(e) = self.store.remove(&ids).await {
                // Harmless: the next run re-checks them and forgets them then.
                tracing::warn!(error = %e, count = ids.len(), "cannot forget instances in the mark store; the next run re-checks them");
            }
        }
        out
    }
}

/// Stage 2 (pure): which marks count, the plan, and the function's
/// adjustments to it.
///
/// On an errored instance, a mark tag is trusted only when the store
/// remembers the instance with a mark time no later than the tag's: a lost
/// store, a foreign or stale tag can then only delay a deletion, never
/// hasten one. (On a recovered instance any mark may go.)
///
/// The function's protect tag works as an allow-list: the protected
/// instances' actions are refused before the caps count (they never make a
/// cap refuse the others). A manual `max_deletions` lowers the
/// `delete-instance` cap for this run: the planner refuses, as for any cap.
pub fn adjust(
    policy: &Policy,
    config: &CleanupConfig,
    now: Timestamp,
    overrides: &Overrides,
    gathered: &Gathered,
) -> Adjusted {
    let mark_tag = &policy.settings.cleanup_tag;
    let reason_tag = &config.reason_tag;
    let dry_run = overrides.dry_run.unwrap_or(config.dry_run) || policy.settings.dry_run;
    let real_tags: BTreeMap<String, BTreeMap<String, String>> = gathered
        .views
        .iter()
        .map(|v| (v.instance_id.clone(), v.tags.clone()))
        .collect();
    let states: BTreeMap<String, String> = gathered
        .views
        .iter()
        .map(|v| (v.instance_id.clone(), v.state.clone().unwrap_or_default()))
        .collect();
    let mut untrusted_marks: BTreeSet<String> = BTreeSet::new();
    let resources: Vec<Resource> = gathered
        .views
        .iter()
        .cloned()
        .map(|mut v| {
            let trusted = match (
                v.cleanup_marked_at(mark_tag),
                gathered.tracked.get(&v.instance_id),
            ) {
                (Some(at), Some(rec)) => rec.marked_at.is_some_and(|m| at >= m),
                _ => false,
            };
            if v.tags.contains_key(mark_tag) && !trusted && is_error_state(v.state.as_deref()) {
                v.tags.remove(mark_tag);
                untrusted_marks.insert(v.instance_id.clone());
            }
            Resource::Instance(v)
        })
        .collect();
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

    // The manual max_deletions: a cap override that only ever lowers.
    let lowered = overrides
        .max_deletions
        .and_then(|max| lower_cap(policy, ActionKind::DeleteInstance, max));
    let owned;
    let policy = match lowered {
        Some(o) => {
            let mut p = policy.clone();
            apply_caps(&mut p, &[o]);
            owned = p;
            &owned
        }
        None => policy,
    };
    // The base of `max-percent`: every instance when counted, else the
    // instances examined (the errored and remembered ones).
    let ctx = Context::new(now).with_population(Population {
        instances: gathered.population,
        ..Population::default()
    });
    let opts = PlanOptions::default().with_dry_run(dry_run);
    let mut plan = plan_protected(policy, config, &resources, &real_tags, &ctx, &opts);

    let mut a = Adjusted {
        dry_run,
        plan: Plan::default(),
        resources: Vec::new(),
        real_tags,
        states,
        first_error,
        untrusted_marks,
        decisions: Vec::new(),
        protected: BTreeSet::new(),
        capped: BTreeSet::new(),
        cap_untag: BTreeSet::new(),
        caps: BTreeMap::new(),
        tag_limit: BTreeSet::new(),
    };

    // Reason tag and the 30-tag limit on marks; reason removed on unmark.
    let mut actions: Vec<PlannedAction> = Vec::with_capacity(plan.actions.len());
    for mut action in std::mem::take(&mut plan.actions) {
        let Some(id) = instance_of(&action).map(str::to_owned) else {
            actions.push(action);
            continue;
        };
        let tags = a.real_tags.get(&id).cloned().unwrap_or_default();
        match (&action.kind, &mut action.params) {
            (ActionKind::MarkForCleanup, ActionParams::Tags { tags: new }) => {
                let reason = a
                    .first_error
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| "unknown".into());
                new.insert(reason_tag.clone(), reason.clone());
                let adding = new.keys().filter(|k| !tags.contains_key(*k)).count();
                if tags.len() + adding > MAX_TAGS {
                    let why = format!(
                        "errored ({}, {reason}) but it has {} tags and the mark needs {adding} more: at most {MAX_TAGS} allowed; not marked, remove a tag",
                        a.states.get(&id).map(String::as_str).unwrap_or("?"),
                        tags.len()
                    );
                    tracing::warn!(instance = %id, tags = tags.len(), needed = adding, "cannot mark: tag limit");
                    a.decisions.push(Decision {
                        instance_id: id.clone(),
                        decision: "tag-limit".into(),
                        outcome: "reported".into(),
                        why,
                    });
                    a.tag_limit.insert(id);
                    continue;
                }
            }
            (ActionKind::UntagInstance, ActionParams::TagKeys { keys })
                if keys.contains(mark_tag)
                    && tags.contains_key(reason_tag)
                    && !keys.contains(reason_tag) =>
            {
                keys.push(reason_tag.clone());
            }
            _ => {}
        }
        actions.push(action);
    }
    plan.actions = actions;

    // Refusals: protected and capped.
    for r in &plan.refusals {
        let Some(id) = instance_of(&r.action).map(str::to_owned) else {
            continue;
        };
        match &r.reason {
            RefusalReason::AllowListed { .. } => {
                if a.protected.insert(id.clone()) {
                    a.decisions.push(Decision {
                        instance_id: id,
                        decision: "protected".into(),
                        outcome: "refused".into(),
                        why: format!("{} refused: {}", r.action.kind, r.reason),
                    });
                }
            }
            RefusalReason::CapExceeded { planned, limit, .. } => {
                if r.action.kind == ActionKind::UntagInstance {
                    a.cap_untag.insert(id.clone());
                }
                a.caps.entry(r.action.kind).or_insert_with(|| CapNotice {
                    kind: r.action.kind,
                    planned: *planned,
                    limit: *limit,
                    message: format!("no `{}` in this run: {}", r.action.kind, r.reason),
                });
                a.decisions.push(Decision {
                    instance_id: id.clone(),
                    decision: "capped".into(),
                    outcome: "refused".into(),
                    why: format!("{} refused: {}", r.action.kind, r.reason),
                });
                a.capped.insert(id);
            }
            RefusalReason::Conflict { .. } => {}
        }
    }
    for c in a.caps.values() {
        tracing::error!(kind = %c.kind, planned = c.planned, limit = c.limit, "CAP EXCEEDED: {}", c.message);
    }
    a.plan = plan;
    a.resources = resources;
    a
}

/// Evaluates and plans, the function's protect tag acting as an allow-list:
/// the matches of protected instances are planned apart, without caps, and
/// their actions become `AllowListed` refusals (scope `function`); the
/// others are planned with the caps, which therefore never count them.
fn plan_protected(
    policy: &Policy,
    config: &CleanupConfig,
    resources: &[Resource],
    real_tags: &BTreeMap<String, BTreeMap<String, String>>,
    ctx: &Context,
    opts: &PlanOptions,
) -> Plan {
    let mut eval = policy.evaluate_resources(resources, ctx);
    let Some(pt) = &config.protect_tag else {
        return policy.plan_resources(&eval, resources, ctx, opts);
    };
    let entry = |subject: u32| match resources.get(subject as usize) {
        Some(Resource::Instance(i)) => real_tags.get(&i.instance_id).and_then(|t| pt.matches(t)),
        _ => None,
    };
    let mut protected_eval = eval.clone();
    protected_eval
        .matches
        .retain(|m| entry(m.subject).is_some());
    if protected_eval.matches.is_empty() {
        return policy.plan_resources(&eval, resources, ctx, opts);
    }
    eval.matches.retain(|m| entry(m.subject).is_none());
    let mut plan = policy.plan_resources(&eval, resources, ctx, opts);
    let uncapped = PlanOptions {
        enforce_caps: false,
        ..*opts
    };
    let shadow = policy.plan_resources(&protected_eval, resources, ctx, &uncapped);
    // The policy's own allow-lists refused some already: theirs stand.
    plan.refusals.extend(shadow.refusals);
    plan.skipped.extend(shadow.skipped);
    for action in shadow.actions {
        let entry = instance_of(&action)
            .and_then(|id| real_tags.get(id))
            .and_then(|t| pt.matches(t))
            .unwrap_or_default();
        plan.refusals.push(Refusal {
            action,
            reason: RefusalReason::AllowListed {
                scope: "function".into(),
                list: "protect-tag (WARDEN_PROTECT_TAG)".into(),
                entry,
            },
        });
    }
    plan
}

/// The store records of the marks about to be tagged (not dry-run).
fn marks_to_remember(
    plan: &Plan,
    first_error: &BTreeMap<String, String>,
    now: Timestamp,
) -> Vec<MarkRecord> {
    plan.actions
        .iter()
        .filter(|a| a.kind == ActionKind::MarkForCleanup && !a.dry_run)
        .filter_map(|a| {
            let id = instance_of(a)?;
            Some(MarkRecord {
                instance_id: id.to_owned(),
                marked_at: Some(now),
                reason: first_error.get(id).cloned().unwrap_or_default(),
            })
        })
        .collect()
}

/// Reads the executed actions (pure): each one's decision and reason, and
/// what it means for the instance (marked, deleted, unmarked, to retry).
pub fn tally(
    policy: &Policy,
    mark_tag: &str,
    adjusted: &Adjusted,
    records: &[ActionRecord],
) -> Tally {
    let mut t = Tally::default();
    for rec in records {
        let Some(id) = instance_of(&rec.action).map(str::to_owned) else {
            continue;
        };
        t.acted.insert(id.clone());
        let state = adjusted.states.get(&id).map(String::as_str).unwrap_or("?");
        let reason = adjusted
            .first_error
            .get(&id)
            .map(String::as_str)
            .unwrap_or("unknown");
        let (decision, why) = match rec.action.kind {
            ActionKind::MarkForCleanup => (
                "mark",
                format!(
                    "{state} with error {reason}{}; deleted after {} if still errored (rule {})",
                    if adjusted.untrusted_marks.contains(&id) {
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
                    adjusted
                        .real_tags
                        .get(&id)
                        .and_then(|t| t.get(mark_tag))
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
        t.decisions.push(Decision {
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
                        t.marked.insert(id);
                    }
                    ActionKind::DeleteInstance => {
                        if real {
                            t.done_with.insert(id.clone());
                        }
                        t.deleted.insert(id);
                    }
                    ActionKind::UntagInstance => {
                        if real {
                            t.done_with.insert(id.clone());
                        } else {
                            t.untag_pending.insert(id.clone());
                        }
                        t.unmarked.insert(id);
                    }
                    _ => {}
                }
            }
            Outcome::Failed(f) => {
                if rec.action.kind == ActionKind::UntagInstance {
                    t.untag_pending.insert(id.clone());
                }
                if f.kind == FailureKind::Transient {
                    t.left.insert(id.clone());
                }
                t.failed.push(Failure {
                    instance_id: id,
                    step: operation_name(rec.action.kind).into(),
                    kind: f.kind,
                    code: f.code.clone(),
                    message: f.message.clone(),
                });
            }
            Outcome::NotStarted => {
                if rec.action.kind == ActionKind::UntagInstance {
                    t.untag_pending.insert(id.clone());
                }
                t.left.insert(id);
            }
        }
    }
    t
}

/// The remembered instances to forget (pure): deleted or unmarked for real,
/// gone, or no longer errored with nothing left to untag (or protected from
/// the untag by a cap).
pub fn to_forget(gathered: &Gathered, adjusted: &Adjusted, tally: &Tally) -> BTreeSet<String> {
    let tracked = &gathered.tracked;
    let mut forget = tally.done_with.clone();
    for r in &adjusted.resources {
        let Resource::Instance(i) = r else { continue };
        let id = &i.instance_id;
        if tracked.contains_key(id)
            && !is_error_state(i.state.as_deref())
            && !tally.untag_pending.contains(id)
            && !adjusted.cap_untag.contains(id)
        {
            forget.insert(id.clone());
        }
    }
    forget.extend(
        gathered
            .gone
            .iter()
            .filter(|id| tracked.contains_key(*id))
            .cloned(),
    );
    forget.retain(|id| tracked.contains_key(id));
    forget
}

/// Recovered instances whose mark is still on them (the untag failed, was
/// capped or not started): remembered with no mark time, so the record
/// vouches for nothing. A mark counts only for the error episode it was
/// written in; whatever happens to the untag, a recovery ends the episode.
pub fn to_distrust(gathered: &Gathered, adjusted: &Adjusted, tally: &Tally) -> Vec<MarkRecord> {
    let mut out = Vec::new();
    for r in &adjusted.resources {
        let Resource::Instance(i) = r else { continue };
        let id = &i.instance_id;
        let Some(rec) = gathered.tracked.get(id) else {
            continue;
        };
        if rec.marked_at.is_some()
            && !is_error_state(i.state.as_deref())
            && (tally.untag_pending.contains(id) || adjusted.cap_untag.contains(id))
        {
            out.push(MarkRecord {
                instance_id: id.clone(),
                marked_at: None,
                reason: format!("recovered ({})", i.state.as_deref().unwrap_or("unknown")),
            });
        }
    }
    out
}

/// Stage 4 (pure): the report, with the instances still waiting for their
/// grace period; its counts go to `metrics` and one `cleanup run` line to
/// the log.
pub fn report(
    now: Timestamp,
    mark_tag: &str,
    gathered: Gathered,
    adjusted: Adjusted,
    executed: Executed,
    timings: Timings,
    metrics: &mut Metrics,
) -> Report {
    let Executed {
        failed: store_failed,
        left: store_left,
        tally,
        ..
    } = executed;
    let mut decisions = adjusted.decisions;
    decisions.extend(tally.decisions);
    // Waiting: errored, validly marked, nothing else to say.
    let mut waiting = BTreeSet::new();
    for r in &adjusted.resources {
        let Resource::Instance(i) = r else { continue };
        let id = &i.instance_id;
        if is_error_state(i.state.as_deref())
            && i.cleanup_marked_at(mark_tag).is_some()
            && !tally.acted.contains(id)
            && !adjusted.protected.contains(id)
            && !adjusted.capped.contains(id)
            && !adjusted.tag_limit.contains(id)
        {
            decisions.push(Decision {
                instance_id: id.clone(),
                decision: "waiting".into(),
                outcome: "none".into(),
                why: format!(
                    "{} with error {}; marked at {}, grace period not over",
                    i.state.as_deref().unwrap_or("?"),
                    adjusted
                        .first_error
                        .get(id)
                        .map(String::as_str)
                        .unwrap_or("unknown"),
                    i.tags.get(mark_tag).map(String::as_str).unwrap_or("?"),
                ),
            });
            waiting.insert(id.clone());
        }
    }
    decisions.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    let mut failed = gathered.failed;
    failed.extend(store_failed);
    failed.extend(tally.failed);
    let mut left = gathered.left;
    left.extend(store_left);
    left.extend(tally.left);
    let report = Report {
        now: Some(now),
        dry_run: adjusted.dry_run,
        listing_complete: gathered.listing_complete,
        examined: Ids::from_set(
            gathered
                .views
                .iter()
                .map(|v| v.instance_id.clone())
                .collect(),
        ),
        marked: Ids::from_set(tally.marked),
        deleted: Ids::from_set(tally.deleted),
        unmarked: Ids::from_set(tally.unmarked),
        protected: Ids::from_set(adjusted.protected),
        skipped_by_cap: Ids::from_set(adjusted.capped),
        tag_limit: Ids::from_set(adjusted.tag_limit),
        waiting: Ids::from_set(waiting),
        failed,
        left_for_next_run: Ids::from_set(left),
        caps_exceeded: adjusted.caps.into_values().collect(),
        instances_population: gathered.population,
        decisions,
        timings_ms: timings,
    };
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
    metrics.count(if report.dry_run { "DryRuns" } else { "Runs" }, 1);
    tracing::info!(
        dry_run = report.dry_run,
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
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProtectTag;
    use warden_core::aws::deadline::CallFailure;
    use warden_core::policy::Cap;
    use warden_core::resource::InstanceError;

    const MARK: &str = "warden:cleanup-marked-at";

    fn now() -> Timestamp {
        "2026-11-24T13:00:00Z".parse().unwrap()
    }

    /// The default policy with absolute caps (mark, delete, untag).
    fn policy(mark: u32, delete: u32) -> Policy {
        let mut p = warden_core::shell::default_policy().unwrap();
        for (kind, max) in [
            (ActionKind::MarkForCleanup, mark),
            (ActionKind::DeleteInstance, delete),
            (ActionKind::UntagInstance, 100),
        ] {
            p.settings.caps.insert(
                kind,
                Cap {
                    max: Some(max),
                    max_percent: None,
                    min_population: None,
                },
            );
        }
        p
    }

    fn config() -> CleanupConfig {
        CleanupConfig {
            dry_run: false,
            protect_tag: Some(ProtectTag::parse("keep=yes").unwrap()),
            ..CleanupConfig::default()
        }
    }

    fn instance(id: &str, state: &str, tags: &[(&str, &str)]) -> Instance {
        Instance {
            instance_id: id.into(),
            state: Some(state.into()),
            errors: vec![InstanceError {
                code: Some("InsufficientInstanceCapacity".into()),
                message: None,
            }],
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Instance::default()
        }
    }

    /// `ids` errored, marked a day and a half ago, and remembered so.
    fn marked_long_ago(ids: &[&str]) -> Gathered {
        let at: Timestamp = "2026-11-23T01:00:00Z".parse().unwrap();
        Gathered {
            views: ids
                .iter()
                .map(|id| instance(id, "ERROR_ALLOCATING", &[(MARK, "2026-11-23T01:00:00Z")]))
                .collect(),
            tracked: ids
                .iter()
                .map(|id| {
                    (
                        id.to_string(),
                        MarkRecord {
                            instance_id: id.to_string(),
                            marked_at: Some(at),
                            reason: String::new(),
                        },
                    )
                })
                .collect(),
            listing_complete: true,
            ..Gathered::default()
        }
    }

    fn kinds(plan: &Plan) -> Vec<(ActionKind, String)> {
        plan.actions
            .iter()
            .map(|a| (a.kind, instance_of(a).unwrap_or_default().to_owned()))
            .collect()
    }

    #[test]
    fn the_protect_tag_is_an_allow_list_the_caps_do_not_count() {
        // Two errored instances, one protected by the function's tag, and a
        // mark cap of 1: the protected one is refused by the allow-list
        // before the cap counts, so the other is still marked.
        let g = Gathered {
            views: vec![
                instance("wsinst-a", "ERROR_ALLOCATING", &[]),
                instance("wsinst-b", "ERROR_ALLOCATING", &[("keep", "YES")]),
            ],
            listing_complete: true,
            ..Gathered::default()
        };
        let a = adjust(&policy(1, 1), &config(), now(), &Overrides::default(), &g);
        assert_eq!(
            kinds(&a.plan),
            [(ActionKind::MarkForCleanup, "wsinst-a".to_string())]
        );
        assert!(a.caps.is_empty(), "{:?}", a.caps);
        assert_eq!(a.protected, BTreeSet::from(["wsinst-b".to_string()]));
        let r = &a.plan.refusals[0];
        assert_eq!(
            r.reason,
            RefusalReason::AllowListed {
                scope: "function".into(),
                list: "protect-tag (WARDEN_PROTECT_TAG)".into(),
                entry: "keep=yes".into(),
            }
        );
        assert_eq!(a.decisions[0].decision, "protected");
        // Without a protect tag both are planned, and the cap refuses both.
        let unprotected = CleanupConfig {
            protect_tag: None,
            ..config()
        };
        let a = adjust(
            &policy(1, 1),
            &unprotected,
            now(),
            &Overrides::default(),
            &g,
        );
        assert!(a.plan.actions.is_empty());
        assert_eq!(a.caps[&ActionKind::MarkForCleanup].planned, 2);
    }

    #[test]
    fn max_deletions_is_a_cap_override_that_only_lowers() {
        let g = marked_long_ago(&["wsinst-a", "wsinst-b"]);
        let plain = adjust(
            &policy(100, 100),
            &config(),
            now(),
            &Overrides::default(),
            &g,
        );
        assert_eq!(plain.plan.actions_of(ActionKind::DeleteInstance).count(), 2);

        let max = |n| Overrides {
            dry_run: None,
            max_deletions: Some(n),
        };
        let a = adjust(&policy(100, 100), &config(), now(), &max(1), &g);
        assert_eq!(a.plan.actions_of(ActionKind::DeleteInstance).count(), 0);
        let notice = &a.caps[&ActionKind::DeleteInstance];
        assert_eq!((notice.planned, notice.limit), (2, 1));
        assert_eq!(a.capped.len(), 2);
        // The planner refused them, as for the policy's own cap.
        assert!(matches!(
            a.plan.refusals[0].reason,
            RefusalReason::CapExceeded { limit: 1, .. }
        ));

        // Above the policy's cap it changes nothing: the policy's 1 holds.
        let a = adjust(&policy(100, 1), &config(), now(), &max(5), &g);
        assert_eq!(a.caps[&ActionKind::DeleteInstance].limit, 1);
        let a = adjust(&policy(100, 100), &config(), now(), &max(2), &g);
        assert_eq!(a.plan.actions_of(ActionKind::DeleteInstance).count(), 2);
    }

    #[test]
    fn untrusted_marks_reason_tags_and_the_tag_limit() {
        let crowded: Vec<(String, String)> = (0..29)
            .map(|n| (format!("k{n}"), "v".to_string()))
            .collect();
        let crowded: Vec<(&str, &str)> = crowded
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let g = Gathered {
            views: vec![
                // A mark the store does not know: marked afresh, not deleted.
                instance(
                    "wsinst-a",
                    "ERROR_ALLOCATING",
                    &[(MARK, "2026-11-01T00:00:00Z")],
                ),
                // 29 tags: the mark's two keys would make 31.
                instance("wsinst-b", "ERROR_DEALLOCATING", &crowded),
            ],
            listing_complete: true,
            ..Gathered::default()
        };
        let a = adjust(
            &policy(100, 100),
            &config(),
            now(),
            &Overrides::default(),
            &g,
        );
        assert_eq!(
            kinds(&a.plan),
            [(ActionKind::MarkForCleanup, "wsinst-a".to_string())]
        );
        assert_eq!(a.untrusted_marks, BTreeSet::from(["wsinst-a".to_string()]));
        let ActionParams::Tags { tags } = &a.plan.actions[0].params else {
            panic!("{:?}", a.plan.actions[0].params);
        };
        assert_eq!(
            tags.get("warden:cleanup-reason").map(String::as_str),
            Some("InsufficientInstanceCapacity")
        );
        assert_eq!(a.tag_limit, BTreeSet::from(["wsinst-b".to_string()]));
        assert!(a.decisions[0].why.contains("29 tags"), "{:?}", a.decisions);
    }

    #[test]
    fn tally_and_forget_read_the_outcomes() {
        let mut g = marked_long_ago(&["wsinst-a"]);
        g.views.push(instance(
            "wsinst-r",
            "ALLOCATED",
            &[(MARK, "2026-11-23T01:00:00Z")],
        ));
        g.tracked.insert(
            "wsinst-r".into(),
            MarkRecord {
                instance_id: "wsinst-r".into(),
                marked_at: Some("2026-11-23T01:00:00Z".parse().unwrap()),
                reason: String::new(),
            },
        );
        g.tracked.insert(
            "wsinst-gone".into(),
            MarkRecord {
                instance_id: "wsinst-gone".into(),
                marked_at: Some("2026-11-23T01:00:00Z".parse().unwrap()),
                reason: String::new(),
            },
        );
        g.gone.insert("wsinst-gone".into());
        let p = policy(100, 100);
        let a = adjust(&p, &config(), now(), &Overrides::default(), &g);
        let record = |kind: ActionKind, outcome: Outcome| ActionRecord {
            action: a
                .plan
                .actions
                .iter()
                .find(|x| x.kind == kind)
                .unwrap()
                .clone(),
            outcome,
            attempts: 1,
            latency_ms: 1,
        };
        let records = [
            record(ActionKind::DeleteInstance, Outcome::Done),
            record(
                ActionKind::UntagInstance,
                Outcome::Failed(CallFailure {
                    kind: FailureKind::Transient,
                    code: "ThrottlingException".into(),
                    message: "slow down".into(),
                }),
            ),
        ];
        let t = tally(&p, MARK, &a, &records);
        assert_eq!(t.deleted, BTreeSet::from(["wsinst-a".to_string()]));
        assert!(t.unmarked.is_empty());
        assert_eq!(t.untag_pending, BTreeSet::from(["wsinst-r".to_string()]));
        assert_eq!(t.left, BTreeSet::from(["wsinst-r".to_string()]));
        assert_eq!(t.failed[0].step, "UntagResource");
        assert_eq!(t.decisions[0].decision, "delete");
        assert!(
            t.decisions[0].why.contains("grace period 1d over"),
            "{}",
            t.decisions[0].why
        );
        // Deleted and gone are forgotten; the failed unmark stays remembered,
        // but no longer vouches for its mark.
        assert_eq!(
            to_forget(&g, &a, &t),
            BTreeSet::from(["wsinst-a".to_string(), "wsinst-gone".to_string()])
        );
        let distrusted = to_distrust(&g, &a, &t);
        assert_eq!(distrusted.len(), 1, "{distrusted:?}");
        assert_eq!(distrusted[0].instance_id, "wsinst-r");
        assert_eq!(distrusted[0].marked_at, None);
    }

    #[test]
    fn the_report_counts_and_finds_the_waiting() {
        // Marked an hour ago and remembered: waiting for its grace period.
        let mut g = Gathered {
            views: vec![instance(
                "wsinst-w",
                "ERROR_ALLOCATING",
                &[(MARK, "2026-11-24T12:00:00Z")],
            )],
            listing_complete: false,
            ..Gathered::default()
        };
        g.tracked.insert(
            "wsinst-w".into(),
            MarkRecord {
                instance_id: "wsinst-w".into(),
                marked_at: Some("2026-11-24T12:00:00Z".parse().unwrap()),
                reason: String::new(),
            },
        );
        g.left.insert("wsinst-slow".into());
        let p = policy(100, 100);
        let a = adjust(&p, &config(), now(), &Overrides::default(), &g);
        assert!(a.plan.actions.is_empty(), "{:?}", a.plan.actions);
        let mut metrics = Metrics::new(crate::FUNCTION);
        let r = report(
            now(),
            MARK,
            g,
            a,
            Executed::default(),
            Timings::default(),
            &mut metrics,
        );
        assert_eq!(r.waiting.ids, ["wsinst-w"]);
        assert_eq!(r.examined.count, 1);
        assert!(!r.listing_complete && !r.dry_run);
        assert_eq!(r.left_for_next_run.ids, ["wsinst-slow"]);
        assert_eq!(r.decisions[0].decision, "waiting");
        assert_eq!(metrics.get("InstancesWaiting"), 1.0);
        assert_eq!(metrics.get("Runs"), 1.0);
    }

    /// Stage 1 against the emulator: the errored listing, the remembered
    /// ids (a recovered one read, a vanished one found gone), nothing else.
    #[tokio::test]
    async fn gather_reads_the_errored_and_the_remembered() {
        use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
        use warden_emulator::wsi::{Instance as Emu, ProvisionState, State};
        use warden_emulator::{Emulator, Fixture};

        let created: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
        let id = |n: u32| format!("wsinst-{n:017x}");
        let mut state = State::default();
        for (n, s) in [
            (1, ProvisionState::ErrorAllocating),
            (2, ProvisionState::Allocated),
            (3, ProvisionState::ErrorDeallocating),
            (4, ProvisionState::Allocated),
        ] {
            let mut i = Emu::new(id(n), s, created).with_tag("team", "t1");
            if n != 2 && n != 4 {
                i = i.with_workspace_error("EC2_LAUNCH_FAILED", "it failed");
            }
            state.instances.insert(id(n), i);
        }
        let emu = Emulator::new(Fixture {
            clock: Some(now()),
            workspaces_instances: state,
            ..Default::default()
        })
        .start_local()
        .await
        .unwrap();
        let clients = Clients::new(&load_sdk_config(&AwsSettings::local(emu.endpoint_url())).await);
        let store = crate::MemoryMarkStore::new();
        let remembered = |i: String| MarkRecord {
            instance_id: i,
            marked_at: Some(now()),
            reason: String::new(),
        };
        store
            .put(&[remembered(id(2)), remembered(id(0xff))])
            .await
            .unwrap();
        let c = Cleaner::new(policy(100, 100), &clients, store, config());
        let mut timings = Timings::default();
        let g = c.gather(Deadline::none(), &mut timings).await.unwrap();

        let ids: Vec<&str> = g.views.iter().map(|v| v.instance_id.as_str()).collect();
        assert_eq!(
            ids,
            [id(1), id(2), id(3)],
            "the healthy unremembered one is never read"
        );
        assert_eq!(g.gone, BTreeSet::from([id(0xff)]));
        assert_eq!(g.tracked.len(), 2);
        assert!(g.listing_complete && g.failed.is_empty() && g.left.is_empty());
        let e1 = &g.views[0];
        assert_eq!(e1.state.as_deref(), Some("ERROR_ALLOCATING"));
        assert_eq!(e1.errors[0].code.as_deref(), Some("EC2_LAUNCH_FAILED"));
        assert_eq!(e1.tags.get("team").map(String::as_str), Some("t1"));
    }
}
