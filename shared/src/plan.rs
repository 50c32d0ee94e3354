//! Planning: from matches to a deduplicated, allow-listed, capped set of
//! actions. One sign-out per fleet+user per run however many events matched;
//! when a cap would be exceeded, the WHOLE set of actions of that kind is
//! refused (never partly executed) and the refusal is logged at error level.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

pub use crate::action::{ActionParams, Target};

use crate::action::{ActionKind, Facts, Resolved, TargetKind};
use crate::engine::{Context, Evaluation};
use crate::event::AuditEvent;
use crate::policy::{AllowList, Cap, Policy, Rule};
use crate::resource::{Instance, Resource};

/// How the planner plans, beside the facts of the run ([`Context`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// Force every planned action to dry-run (e.g. from a DRY_RUN env var).
    pub dry_run: bool,
    /// Apply caps (always on in the functions; off in rule test cases).
    pub enforce_caps: bool,
}

impl Default for PlanOptions {
    /// Not forced dry-run, caps on: what the functions use.
    fn default() -> Self {
        PlanOptions {
            dry_run: false,
            enforce_caps: true,
        }
    }
}

impl PlanOptions {
    /// Force dry-run (or not).
    pub fn with_dry_run(mut self, dry_run: bool) -> PlanOptions {
        self.dry_run = dry_run;
        self
    }
}

/// How many targets of each kind a run's actions could reach, where the
/// function knows it (fleet-sweep: the users and domains of the fleets it
/// listed; instance-cleanup: every instance, counted only when a policy
/// asks for a percentage). The base of `max-percent` caps: when a kind's
/// population is unknown, the targets examined in the run are the base
/// (`docs/policy.md`, "Caps").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Population {
    /// Distinct fleet + user pairs (`sign-out-user`).
    pub fleet_users: Option<usize>,
    /// Distinct fleet + domain pairs (`revoke-domain`, `restore-domain`).
    pub fleet_domains: Option<usize>,
    /// Fleets (`set-audit-stream`).
    pub fleets: Option<usize>,
    /// WorkSpaces Instances (`mark-for-cleanup`, `delete-instance`, ...).
    pub instances: Option<usize>,
    /// Distinct portal + user pairs (`expire-sessions`).
    pub portal_users: Option<usize>,
    /// Secure Browser portals (`set-access-logging`).
    pub portals: Option<usize>,
}

impl Population {
    /// The population of the targets of `kind`, if known.
    pub fn of(&self, kind: TargetKind) -> Option<usize> {
        match kind {
            TargetKind::FleetUser => self.fleet_users,
            TargetKind::FleetDomain => self.fleet_domains,
            TargetKind::Fleet => self.fleets,
            TargetKind::Instance => self.instances,
            TargetKind::PortalUser => self.portal_users,
            TargetKind::Portal => self.portals,
        }
    }

    /// Whether no population is known (every base is what was examined).
    pub fn is_unknown(&self) -> bool {
        *self == Population::default()
    }
}

/// `min-population` when a cap does not set it: under 20 targets one
/// action is 5 % or more, so a percentage of 10-25 % allows almost nothing
/// and only the absolute `max` is meaningful.
pub const DEFAULT_MIN_POPULATION: u32 = 20;

/// The limit a cap sets for `planned` actions over a base of `base` targets
/// (the population, or the targets examined): `max`, and `max-percent` of
/// the base when the base is at least the cap's `min-population`. Under the
/// floor a cap with a `max` uses it alone; a cap with only `max-percent`
/// allows that percentage of the floor, so a small population never lifts
/// the limit altogether. Returns the limit and whether the percentage of
/// the base applied.
pub fn cap_limit(cap: &Cap, base: usize) -> (usize, bool) {
    let mut limit = cap.max.map_or(usize::MAX, |m| m as usize);
    let Some(p) = cap.max_percent else {
        return (limit, false);
    };
    let floor = cap.min_population.unwrap_or(DEFAULT_MIN_POPULATION) as usize;
    let pct = |n: usize| (p / 100.0 * n as f64 + 1e-9).floor() as usize;
    if base >= floor {
        // Literal: planned * 100 <= p * base.
        (limit.min(pct(base)), true)
    } else {
        if cap.max.is_none() {
            limit = pct(floor);
        }
        (limit, false)
    }
}

/// At most this many causes are listed per action (`cause_count` has all).
pub const MAX_CAUSES: usize = 50;

/// What caused an action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Cause {
    /// An audit event.
    Event {
        /// Its source id (Kinesis sequence number).
        source_id: String,
        /// Its own id, if any.
        event_id: Option<String>,
    },
    /// A resource seen by a sweep.
    Resource {
        /// Its description (`instance wsinst-...`).
        id: String,
    },
}

/// One action to execute (or to log only, when `dry_run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    /// What to do (the action table's entry for it).
    pub kind: ActionKind,
    /// Who or what it is done to (user, domain, fleet, instance).
    pub target: Target,
    /// The action's own parameters (tags, keys, stream), from the rule.
    pub params: ActionParams,
    /// The rules that asked for it, in policy order.
    pub rules: Vec<String>,
    /// The events/resources that caused it (at most [`MAX_CAUSES`]).
    pub causes: Vec<Cause>,
    /// How many distinct subjects caused it.
    pub cause_count: usize,
    /// Log, do not execute.
    pub dry_run: bool,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RefusalReason {
    /// The target is on an allow-list.
    AllowListed {
        /// `global` or `rule NAME`.
        scope: String,
        /// Which list (`users`, `domains`, `instance-ids`, `instance-tags`).
        list: String,
        /// The entry that matched.
        entry: String,
    },
    /// The run would exceed the cap for this kind: all of the kind refused.
    CapExceeded {
        /// How many actions of the kind were planned.
        planned: usize,
        /// The limit in force.
        limit: usize,
        /// The cap.
        cap: Cap,
        /// How many targets were examined (the base of `max-percent` when
        /// the population is unknown).
        examined: usize,
        /// The population the function gave for the kind's targets (the
        /// base of `max-percent`, at least `examined`), if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        population: Option<usize>,
        /// Whether `max-percent` applied (false: no percentage, or the
        /// base is under the cap's `min-population`).
        percent_applied: bool,
    },
    /// Contradictory actions on one target in one run (revoke and restore).
    Conflict {
        /// The other kind.
        with: ActionKind,
    },
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefusalReason::AllowListed { scope, list, entry } => {
                write!(f, "allow-listed ({scope} allow.{list}: `{entry}`)")
            }
            RefusalReason::CapExceeded {
                planned,
                limit,
                cap,
                examined,
                population,
                percent_applied,
            } => {
                write!(f, "cap exceeded: {planned} planned, limit {limit} (")?;
                if let Some(m) = cap.max {
                    write!(f, "max {m}")?;
                }
                if let Some(p) = cap.max_percent {
                    if cap.max.is_some() {
                        write!(f, ", ")?;
                    }
                    let base = match population {
                        Some(n) => format!("a population of {}", (*n).max(*examined)),
                        None => format!("{examined} examined"),
                    };
                    if *percent_applied {
                        write!(f, "max-percent {p}% of {base}")?;
                    } else {
                        let floor = cap.min_population.unwrap_or(DEFAULT_MIN_POPULATION);
                        write!(
                            f,
                            "max-percent {p}% not applied: {base}, under min-population {floor}"
                        )?;
                        if cap.max.is_none() {
                            write!(f, "; {p}% of {floor} instead")?;
                        }
                    }
                }
                write!(f, "); the whole kind is refused")
            }
            RefusalReason::Conflict { with } => {
                write!(f, "conflicts with `{with}` on the same target in this run")
            }
        }
    }
}

/// An action that will not run, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// The refused action.
    pub action: PlannedAction,
    /// Why it was refused (allow-list, cap, conflict).
    pub reason: RefusalReason,
}

/// A rule's action that could not even be formed (no user name, no fleet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// The rule.
    pub rule: String,
    /// The action kind.
    pub kind: ActionKind,
    /// The subject.
    pub cause: Cause,
    /// What was missing.
    pub reason: String,
}

/// The plan of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Actions to execute (those with `dry_run` are only logged), sorted by
    /// kind then target.
    pub actions: Vec<PlannedAction>,
    /// Refused actions.
    pub refusals: Vec<Refusal>,
    /// Actions that could not be formed.
    pub skipped: Vec<Skipped>,
    /// Instances marked for cleanup whose grace period has not yet passed.
    pub waiting: usize,
}

impl Plan {
    /// Whether there is nothing to execute.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The action kinds refused by a cap.
    pub fn capped_kinds(&self) -> Vec<ActionKind> {
        let mut v: Vec<ActionKind> = self
            .refusals
            .iter()
            .filter(|r| matches!(r.reason, RefusalReason::CapExceeded { .. }))
            .map(|r| r.action.kind)
            .collect();
        v.dedup();
        v
    }

    /// The actions of one kind.
    pub fn actions_of(&self, kind: ActionKind) -> impl Iterator<Item = &PlannedAction> {
        self.actions.iter().filter(move |a| a.kind == kind)
    }

    /// A human summary, one line per action / refusal / skip.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if self.actions.is_empty() && self.refusals.is_empty() && self.skipped.is_empty() {
            out.push_str("plan: nothing to do\n");
        }
        for a in &self.actions {
            out.push_str(&format!(
                "{} {} {}{} (rules: {}; {} cause{})\n",
                if a.dry_run { "DRY-RUN" } else { "ACTION " },
                a.kind,
                a.target,
                render_params(&a.params),
                a.rules.join(", "),
                a.cause_count,
                if a.cause_count == 1 { "" } else { "s" }
            ));
        }
        for r in &self.refusals {
            out.push_str(&format!(
                "REFUSED {} {}: {} (rules: {})\n",
                r.action.kind,
                r.action.target,
                r.reason,
                r.action.rules.join(", ")
            ));
        }
        for s in &self.skipped {
            out.push_str(&format!(
                "SKIPPED {} from rule {}: {}\n",
                s.kind, s.rule, s.reason
            ));
        }
        if self.waiting > 0 {
            out.push_str(&format!(
                "waiting: {} instance(s) marked for cleanup, grace period not over\n",
                self.waiting
            ));
        }
        out
    }
}

fn render_params(p: &ActionParams) -> String {
    match p {
        ActionParams::None => String::new(),
        ActionParams::Tags { tags } => format!(
            " tags {{{}}}",
            tags.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ActionParams::TagKeys { keys } => format!(" keys [{}]", keys.join(", ")),
        ActionParams::AuditStream { stream_arn } => format!(" stream {stream_arn}"),
        ActionParams::AccessLogStream { stream_arn } => format!(" stream {stream_arn}"),
    }
}

#[derive(Clone, Copy)]
enum Subj<'a> {
    Event(&'a AuditEvent),
    Resource(&'a Resource),
}

impl<'a> Subj<'a> {
    fn cause(&self) -> Cause {
        match self {
            Subj::Event(e) => Cause::Event {
                source_id: e.source_id.to_string(),
                event_id: e.event_id.as_deref().map(str::to_owned),
            },
            Subj::Resource(r) => Cause::Resource { id: r.id() },
        }
    }

    fn fleet(&self) -> Option<&'a str> {
        let f = match self {
            Subj::Event(e) => e.fleet_arn.as_deref(),
            Subj::Resource(Resource::Device(d)) => Some(d.fleet_arn.as_str()),
            Subj::Resource(Resource::Domain(d)) => Some(d.fleet_arn.as_str()),
            Subj::Resource(Resource::Fleet(f)) => Some(f.fleet_arn.as_str()),
            // A portal's scope is its ARN (what `expire-sessions` and
            // `set-access-logging` resolve their portal from).
            Subj::Resource(Resource::Portal(p)) => Some(p.portal_arn.as_str()),
            Subj::Resource(Resource::Session(s)) => Some(s.portal_arn.as_str()),
            Subj::Resource(Resource::Instance(_)) => None,
        };
        f.filter(|s| !s.is_empty())
    }

    fn instance(&self) -> Option<&'a Instance> {
        match self {
            Subj::Resource(Resource::Instance(i)) => Some(i),
            _ => None,
        }
    }
}

impl<'a> Subj<'a> {
    /// What the resolvers of [`crate::action::ACTIONS`] read of this subject.
    fn facts(self, ctx: &'a Context, policy: &'a Policy) -> Facts<'a> {
        Facts {
            now: ctx.now,
            cleanup_tag: &policy.settings.cleanup_tag,
            default_fleet: ctx.default_fleet_arn.as_deref(),
            configured_stream: ctx.audit_stream_arn.as_deref(),
            fleet: self.fleet(),
            user: self.user(),
            domain: self.domain(),
            instance: self.instance(),
            fleet_stream: match self {
                Subj::Resource(Resource::Fleet(f)) => Some(f.audit_stream_arn.as_deref()),
                _ => None,
            },
            configured_access_log_stream: ctx.access_log_stream_arn.as_deref(),
            portal_log_stream: match self {
                // Logging counts only with settings attached.
                Subj::Resource(Resource::Portal(p)) => Some(
                    p.access_logging_settings_arn
                        .as_ref()
                        .and(p.access_log_stream_arn.as_deref()),
                ),
                _ => None,
            },
        }
    }

    /// The event's or device's user name.
    fn user(self) -> Option<&'a str> {
        match self {
            Subj::Event(e) => e.user.as_deref(),
            Subj::Resource(Resource::Device(d)) => d.user.as_deref(),
            Subj::Resource(Resource::Session(s)) => s.user.as_deref(),
            _ => None,
        }
    }

    /// The event's host, or the domain resource's name.
    fn domain(self) -> Option<&'a str> {
        match self {
            Subj::Event(e) => e.host.as_deref(),
            Subj::Resource(Resource::Domain(d)) => Some(d.domain.as_str()),
            _ => None,
        }
    }
}

fn protected(allow: &AllowList, target: &Target, s: Subj<'_>) -> Option<(&'static str, String)> {
    match target {
        Target::FleetUser { user, .. } | Target::PortalUser { user, .. } => {
            allow.user(user).map(|e| ("users", e))
        }
        Target::FleetDomain { domain, .. } => allow.domain(domain).map(|e| ("domains", e)),
        Target::Instance { instance_id } => match s.instance() {
            Some(i) => allow.instance(i),
            None => allow.instance(&Instance {
                instance_id: instance_id.clone(),
                ..Instance::default()
            }),
        },
        Target::Fleet { .. } | Target::Portal { .. } => None,
    }
}

/// The number of distinct targets examined for a kind (base of
/// `max-percent`), counted by the kind of target it acts on.
fn examined(kind: ActionKind, subjects: &[Subj<'_>]) -> usize {
    match kind.descriptor().target {
        TargetKind::FleetUser | TargetKind::PortalUser => subjects
            .iter()
            .filter_map(|s| s.user())
            .collect::<rustc_hash::FxHashSet<_>>()
            .len(),
        TargetKind::FleetDomain => subjects
            .iter()
            .filter_map(|s| s.domain())
            .collect::<rustc_hash::FxHashSet<_>>()
            .len(),
        TargetKind::Fleet => subjects
            .iter()
            .filter(|s| matches!(s, Subj::Resource(Resource::Fleet(_))))
            .count(),
        TargetKind::Instance => subjects.iter().filter(|s| s.instance().is_some()).count(),
        TargetKind::Portal => subjects
            .iter()
            .filter(|s| matches!(s, Subj::Resource(Resource::Portal(_))))
            .count(),
    }
}

struct Builder<'p> {
    policy: &'p Policy,
    planned: BTreeMap<(ActionKind, Target), (PlannedAction, HashSet<u32>)>,
    refused: BTreeMap<(ActionKind, Target, String), (Refusal, HashSet<u32>)>,
    plan: Plan,
}

fn merge(
    action: &mut PlannedAction,
    seen: &mut HashSet<u32>,
    rule: &Rule,
    subject: u32,
    cause: Cause,
    params: ActionParams,
) {
    if !action.rules.contains(&rule.name) {
        action.rules.push(rule.name.clone());
    }
    action.dry_run &= rule.dry_run;
    if seen.insert(subject) {
        action.cause_count += 1;
        if action.causes.len() < MAX_CAUSES {
            action.causes.push(cause);
        }
    }
    match (&mut action.params, params) {
        (ActionParams::Tags { tags }, ActionParams::Tags { tags: more }) => {
            for (k, v) in more {
                tags.entry(k).or_insert(v);
            }
        }
        (ActionParams::TagKeys { keys }, ActionParams::TagKeys { keys: more }) => {
            for k in more {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        _ => {}
    }
}

fn fresh(kind: ActionKind, target: Target, params: ActionParams, rule: &Rule) -> PlannedAction {
    PlannedAction {
        kind,
        target,
        params,
        rules: vec![rule.name.clone()],
        causes: Vec::new(),
        cause_count: 0,
        dry_run: rule.dry_run,
    }
}

impl Builder<'_> {
    fn add(&mut self, rule: &Rule, subject_idx: u32, s: Subj<'_>, ctx: &Context) {
        for spec in &rule.actions {
            let facts = s.facts(ctx, self.policy);
            let (kind, target, params) = match (spec.kind.descriptor().resolve)(spec, &facts) {
                Ok(Resolved::Act(k, t, p)) => (k, t, p),
                Ok(Resolved::Nothing) => continue,
                Ok(Resolved::Waiting) => {
                    self.plan.waiting += 1;
                    continue;
                }
                Err(reason) => {
                    self.plan.skipped.push(Skipped {
                        rule: rule.name.clone(),
                        kind: spec.kind(),
                        cause: s.cause(),
                        reason,
                    });
                    continue;
                }
            };
            let hit = protected(&self.policy.settings.allow, &target, s)
                .map(|(l, e)| ("global".to_owned(), l, e))
                .or_else(|| {
                    protected(&rule.allow, &target, s)
                        .map(|(l, e)| (format!("rule {}", rule.name), l, e))
                });
            if let Some((scope, list, entry)) = hit {
                let key = (kind, target.clone(), scope.clone());
                let (refusal, seen) = self.refused.entry(key).or_insert_with(|| {
                    (
                        Refusal {
                            action: fresh(kind, target.clone(), params.clone(), rule),
                            reason: RefusalReason::AllowListed {
                                scope,
                                list: list.to_owned(),
                                entry,
                            },
                        },
                        HashSet::new(),
                    )
                });
                merge(
                    &mut refusal.action,
                    seen,
                    rule,
                    subject_idx,
                    s.cause(),
                    params,
                );
                continue;
            }
            let (action, seen) = self
                .planned
                .entry((kind, target.clone()))
                .or_insert_with(|| (fresh(kind, target, params.clone(), rule), HashSet::new()));
            merge(action, seen, rule, subject_idx, s.cause(), params);
        }
    }

    fn finish(mut self, opts: &PlanOptions, ctx: &Context, subjects: &[Subj<'_>]) -> Plan {
        let policy = self.policy;
        let mut actions: Vec<PlannedAction> = self.planned.into_values().map(|(a, _)| a).collect();
        self.plan
            .refusals
            .extend(self.refused.into_values().map(|(r, _)| r));

        // Contradictions: two kinds that undo each other (revoke and
        // restore) on one target are both refused. Only actions of a kind
        // that has a contradiction are looked at (no allocation otherwise).
        let wanted: HashSet<(ActionKind, &Target)> = actions
            .iter()
            .filter(|a| a.kind.descriptor().conflicts_with.is_some())
            .map(|a| (a.kind, &a.target))
            .collect();
        let conflict = |a: &PlannedAction| {
            a.kind
                .descriptor()
                .conflicts_with
                .filter(|other| wanted.contains(&(*other, &a.target)))
        };
        let refused: Vec<Option<ActionKind>> = if wanted.is_empty() {
            Vec::new()
        } else {
            actions.iter().map(conflict).collect()
        };
        drop(wanted);
        if refused.iter().any(Option::is_some) {
            let mut kept = Vec::with_capacity(actions.len());
            for (a, with) in actions.into_iter().zip(refused) {
                match with {
                    None => kept.push(a),
                    Some(with) => {
                        tracing::warn!(kind = %a.kind, target = %a.target, "refused: conflicting actions on one target");
                        self.plan.refusals.push(Refusal {
                            action: a,
                            reason: RefusalReason::Conflict { with },
                        });
                    }
                }
            }
            actions = kept;
        }

        if opts.dry_run || policy.settings.dry_run {
            for a in &mut actions {
                a.dry_run = true;
            }
        }

        if opts.enforce_caps {
            let mut counts: BTreeMap<ActionKind, usize> = BTreeMap::new();
            for a in &actions {
                *counts.entry(a.kind).or_default() += 1;
            }
            let mut capped: Vec<(ActionKind, RefusalReason)> = Vec::new();
            for (kind, planned) in counts {
                let cap = policy.settings.cap(kind);
                let n = examined(kind, subjects);
                // A population smaller than what was examined is stale:
                // what was examined is a lower bound of it.
                let population = ctx.population.of(kind.descriptor().target);
                let base = population.map_or(n, |p| p.max(n));
                let (limit, percent_applied) = cap_limit(&cap, base);
                if planned > limit {
                    tracing::error!(
                        kind = %kind,
                        planned,
                        limit,
                        examined = n,
                        population = ?population,
                        percent_applied,
                        "CAP EXCEEDED: refusing every `{kind}` action of this run"
                    );
                    capped.push((
                        kind,
                        RefusalReason::CapExceeded {
                            planned,
                            limit,
                            cap,
                            examined: n,
                            population,
                            percent_applied,
                        },
                    ));
                }
            }
            if !capped.is_empty() {
                let (bad, good): (Vec<_>, Vec<_>) = actions
                    .into_iter()
                    .partition(|a| capped.iter().any(|(k, _)| *k == a.kind));
                actions = good;
                for a in bad {
                    if let Some((_, reason)) = capped.iter().find(|(k, _)| *k == a.kind) {
                        self.plan.refusals.push(Refusal {
                            action: a,
                            reason: reason.clone(),
                        });
                    }
                }
            }
        }
        // Keep the rule names in policy order.
        let order = |name: &String| policy.rules.iter().position(|r| &r.name == name);
        for a in actions.iter_mut() {
            a.rules.sort_by_key(order);
        }
        self.plan.actions = actions;
        self.plan
    }
}

impl Policy {
    fn plan_subjects(
        &self,
        eval: &Evaluation,
        subjects: &[Subj<'_>],
        ctx: &Context,
        opts: &PlanOptions,
    ) -> Plan {
        let mut b = Builder {
            policy: self,
            planned: BTreeMap::new(),
            refused: BTreeMap::new(),
            plan: Plan::default(),
        };
        for m in &eval.matches {
            let (Some(rule), Some(s)) = (
                self.rules.get(m.rule as usize),
                subjects.get(m.subject as usize),
            ) else {
                continue;
            };
            b.add(rule, m.subject, *s, ctx);
        }
        b.finish(opts, ctx, subjects)
    }

    /// Plan from an evaluation of `events` (the same slice that was evaluated).
    pub fn plan_events(
        &self,
        eval: &Evaluation,
        events: &[AuditEvent],
        ctx: &Context,
        opts: &PlanOptions,
    ) -> Plan {
        let subjects: Vec<Subj<'_>> = events.iter().map(Subj::Event).collect();
        self.plan_subjects(eval, &subjects, ctx, opts)
    }

    /// Plan from an evaluation of `resources` (the same slice that was evaluated).
    pub fn plan_resources(
        &self,
        eval: &Evaluation,
        resources: &[Resource],
        ctx: &Context,
        opts: &PlanOptions,
    ) -> Plan {
        let subjects: Vec<Subj<'_>> = resources.iter().map(Subj::Resource).collect();
        self.plan_subjects(eval, &subjects, ctx, opts)
    }
}
