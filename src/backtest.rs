//! Backtests on archived audit logs: `warden replay --from-file` and
//! `warden policy diff`.
//!
//! The records go through what the audit-stream function does with a batch
//! (the same record decoder and limits, evaluation, planning with caps and
//! allow-lists), in batches of the function's size, always in dry-run.
//! Threshold windows are counted across the whole replay (one store for every
//! batch), as the function counts them across invocations, so a burst cut
//! by a batch boundary still fires.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Value};
use warden_core::jiff::Timestamp;
use warden_core::plan::{Cause, PlanOptions, PlannedAction, Refusal};
use warden_core::{Context, MemoryStore, Policy};

use crate::archive::{self, ArchiveRecord};
use crate::progress::Progress;

/// What to replay and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Records per batch (Lambda's BatchSize).
    pub batch_size: usize,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// The fleet for events and rules that name none.
    pub default_fleet: Option<String>,
    /// Show progress (a terminal only).
    pub progress: bool,
}

/// A record that did not decode.
#[derive(Debug, Clone, Serialize)]
pub struct MalformedRecord {
    /// `file:line` or `file#sequence`.
    pub record: String,
    /// Why, as the function's failure sink would say.
    pub reason: String,
}

/// What the policy would have done over the archive.
#[derive(Debug, Default, Clone)]
pub struct Backtest {
    /// Files read, in order.
    pub files: Vec<PathBuf>,
    /// Records read.
    pub records: usize,
    /// Events decoded.
    pub events: usize,
    /// Events left out by `--since` / `--until` (or without a time while
    /// one of them is given).
    pub outside_window: usize,
    /// Batches evaluated.
    pub batches: usize,
    /// Planned actions (all dry-run), in order of planning.
    pub actions: Vec<PlannedAction>,
    /// Refused actions.
    pub refusals: Vec<Refusal>,
    /// Records that did not decode.
    pub malformed: Vec<MalformedRecord>,
}

/// Replays every record of `inputs` through `policy`.
pub fn run(policy: &Policy, inputs: &[PathBuf], opts: &Options) -> anyhow::Result<Backtest> {
    let files = archive::files(inputs)?;
    let progress = if opts.progress {
        Progress::stderr("records")
    } else {
        Progress::hidden("records")
    };
    let mut out = Backtest {
        files: files.clone(),
        ..Backtest::default()
    };
    let mut store = MemoryStore::new();
    let mut batch: Vec<ArchiveRecord> = Vec::with_capacity(opts.batch_size);
    let mut latest: Option<Timestamp> = None;
    for (i, file) in files.iter().enumerate() {
        progress.set_prefix(&format!(
            "file {}/{} {}",
            i + 1,
            files.len(),
            file.display()
        ));
        for record in archive::read_file(file)? {
            batch.push(record);
            if batch.len() == opts.batch_size.max(1) {
                let at = batch.last().map(|r| r.id.clone()).unwrap_or_default();
                let n = batch.len() as u64;
                run_batch(policy, &mut batch, opts, &mut store, &mut latest, &mut out);
                progress.advance(n, &position(&at, &out));
            }
        }
    }
    if !batch.is_empty() {
        run_batch(policy, &mut batch, opts, &mut store, &mut latest, &mut out);
    }
    progress.finish();
    Ok(out)
}

/// Where a file replay is: the last record read (`file:line` or
/// `file#sequence`) and what the policy did so far.
fn position(record: &str, out: &Backtest) -> String {
    let record = record.rsplit('/').next().unwrap_or(record);
    format!(
        "{record} ({} events, {} actions)",
        out.events,
        out.actions.len()
    )
}

fn run_batch(
    policy: &Policy,
    batch: &mut Vec<ArchiveRecord>,
    opts: &Options,
    store: &mut MemoryStore,
    latest: &mut Option<Timestamp>,
    out: &mut Backtest,
) {
    let fields = policy.field_map();
    let mut events = Vec::with_capacity(batch.len());
    let mut budget = audit_stream::record::BatchBudget::new(Default::default());
    for rec in batch.drain(..) {
        out.records += 1;
        let before = events.len();
        if let Err(reason) =
            audit_stream::decode_record_into(&rec.data, &rec.id, fields, &mut budget, &mut events)
        {
            out.malformed.push(MalformedRecord {
                record: rec.id,
                reason: reason.to_string(),
            });
            continue;
        }
        out.events += events.len() - before;
    }
    let windowed = opts.since.is_some() || opts.until.is_some();
    let before = events.len();
    events.retain(|e| match e.time {
        Some(t) => opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t < u),
        None => !windowed,
    });
    out.outside_window += before - events.len();
    if events.is_empty() {
        return;
    }
    // "Now" is the archive's own time: the latest event seen so far.
    let batch_latest = events.iter().filter_map(|e| e.time).max();
    *latest = (*latest).max(batch_latest);
    let now = latest.unwrap_or_else(Timestamp::now);
    let mut ctx = Context::new(now);
    ctx.default_fleet_arn = opts.default_fleet.clone();
    let plan_opts = PlanOptions::default().with_dry_run(true);
    let eval = policy.evaluate_events(&events, &ctx, store);
    let plan = policy.plan_events(&eval, &events, &ctx, &plan_opts);
    out.batches += 1;
    out.actions.extend(plan.actions);
    out.refusals.extend(plan.refusals);
}

/// An action's key across runs: kind and target.
pub fn key(a: &PlannedAction) -> (String, String) {
    (a.kind.to_string(), a.target.to_string())
}

fn cause_ids(a: &PlannedAction) -> Vec<String> {
    a.causes
        .iter()
        .map(|c| match c {
            Cause::Event { source_id, .. } => source_id.clone(),
            Cause::Resource { id } => id.clone(),
        })
        .collect()
}

/// One action as the JSON output shows it.
pub fn action_json(a: &PlannedAction) -> Value {
    json!({
        "kind": a.kind.to_string(),
        "target": a.target.to_string(),
        "rules": a.rules,
        "causes": cause_ids(a),
        "cause_count": a.cause_count,
        "outcome": "dry-run",
    })
}

impl Backtest {
    /// Planned actions merged by kind and target (one target may be planned
    /// in several batches: by several bursts).
    pub fn merged(&self) -> BTreeMap<(String, String), PlannedAction> {
        let mut out: BTreeMap<(String, String), PlannedAction> = BTreeMap::new();
        for a in &self.actions {
            match out.get_mut(&key(a)) {
                None => {
                    out.insert(key(a), a.clone());
                }
                Some(m) => {
                    for r in &a.rules {
                        if !m.rules.contains(r) {
                            m.rules.push(r.clone());
                        }
                    }
                    m.cause_count += a.cause_count;
                    m.causes.extend(a.causes.iter().cloned());
                }
            }
        }
        out
    }

    /// The JSON document of `replay --format json`.
    pub fn to_json(&self, policy: &str, opts: &Options) -> Value {
        let merged = self.merged();
        let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
        for (kind, _) in merged.keys() {
            *by_kind.entry(kind.clone()).or_default() += 1;
        }
        json!({
            "policy": policy,
            "dry_run": true,
            "inputs": self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "since": opts.since.map(|t| t.to_string()),
            "until": opts.until.map(|t| t.to_string()),
            "summary": {
                "files": self.files.len(),
                "records": self.records,
                "events": self.events,
                "events_outside_window": self.outside_window,
                "batches": self.batches,
                "malformed": self.malformed.len(),
                "actions": merged.len(),
                "actions_by_kind": by_kind,
                "refusals": self.refusals.len(),
            },
            "actions": merged.values().map(action_json).collect::<Vec<_>>(),
            "refusals": self.refusals.iter().map(|r| json!({
                "kind": r.action.kind.to_string(),
                "target": r.action.target.to_string(),
                "rules": r.action.rules,
                "reason": r.reason.to_string(),
            })).collect::<Vec<_>>(),
            "malformed": self.malformed,
        })
    }

    /// The text of `replay --from-file`.
    pub fn to_text(&self, policy: &str) -> String {
        let mut out = String::new();
        let merged = self.merged();
        let _ = writeln!(
            out,
            "replay of {} file(s) with {policy} (dry-run: nothing executed)",
            self.files.len()
        );
        let _ = writeln!(
            out,
            "read {} records in {} batches: {} events ({} outside --since/--until), {} malformed",
            self.records,
            self.batches,
            self.events,
            self.outside_window,
            self.malformed.len()
        );
        let _ = writeln!(out, "it would take {} action(s):", merged.len());
        for ((kind, target), a) in &merged {
            let causes = cause_ids(a);
            let _ = writeln!(
                out,
                "  {kind} {target}\n      rules: {}; {} event(s), first: {}",
                a.rules.join(", "),
                a.cause_count,
                causes
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        write_refusals(&mut out, &self.refusals);
        if !self.malformed.is_empty() {
            let _ = writeln!(out, "malformed records ({}):", self.malformed.len());
            for m in self.malformed.iter().take(20) {
                let _ = writeln!(out, "  {}: {}", m.record, m.reason);
            }
        }
        out
    }
}

/// Writes the refusals as `refused:` lines, each distinct line once (a
/// target refused in several batches is listed once).
pub fn write_refusals<'a>(out: &mut String, refusals: impl IntoIterator<Item = &'a Refusal>) {
    let mut seen = BTreeSet::new();
    for r in refusals {
        let line = format!(
            "  {} {}: {} (rules: {})",
            r.action.kind,
            r.action.target,
            r.reason,
            r.action.rules.join(", ")
        );
        if seen.is_empty() {
            let _ = writeln!(out, "refused:");
        }
        if seen.insert(line.clone()) {
            let _ = writeln!(out, "{line}");
        }
    }
}

/// What two policies do differently over the same archive.
#[derive(Debug, Clone)]
pub struct Diff {
    /// Actions only the old policy takes, by (kind, target).
    pub only_old: BTreeMap<(String, String), PlannedAction>,
    /// Actions only the new policy takes.
    pub only_new: BTreeMap<(String, String), PlannedAction>,
    /// Actions both take.
    pub unchanged: usize,
    /// Events both saw.
    pub events: usize,
    /// Files read.
    pub files: usize,
}

impl Diff {
    /// Compares two backtests of the same inputs.
    pub fn new(old: &Backtest, new: &Backtest) -> Diff {
        let (mut o, mut n) = (old.merged(), new.merged());
        let common: Vec<_> = o.keys().filter(|k| n.contains_key(*k)).cloned().collect();
        for k in &common {
            o.remove(k);
            n.remove(k);
        }
        Diff {
            only_old: o,
            only_new: n,
            unchanged: common.len(),
            events: new.events,
            files: new.files.len(),
        }
    }

    /// Whether the two policies act the same.
    pub fn is_empty(&self) -> bool {
        self.only_old.is_empty() && self.only_new.is_empty()
    }

    fn by_rule(
        actions: &BTreeMap<(String, String), PlannedAction>,
    ) -> BTreeMap<String, Vec<&PlannedAction>> {
        let mut out: BTreeMap<String, Vec<&PlannedAction>> = BTreeMap::new();
        for a in actions.values() {
            for r in &a.rules {
                out.entry(r.clone()).or_default().push(a);
            }
        }
        out
    }

    /// The text report.
    pub fn to_text(&self, old: &str, new: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "policy diff over {} events from {} file(s): {old} -> {new}",
            self.events, self.files
        );
        for (label, actions) in [
            (format!("only with {new}"), &self.only_new),
            (format!("only with {old}"), &self.only_old),
        ] {
            if actions.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{label} ({} action(s)):", actions.len());
            for (rule, list) in Self::by_rule(actions) {
                let _ = writeln!(out, "  rule {rule}:");
                for a in list {
                    let _ = writeln!(
                        out,
                        "    {} {}  ({} event(s): {})",
                        a.kind,
                        a.target,
                        a.cause_count,
                        cause_ids(a)
                            .into_iter()
                            .take(5)
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        if self.is_empty() {
            let _ = writeln!(out, "no difference");
        }
        let _ = writeln!(out, "unchanged: {} action(s)", self.unchanged);
        out
    }

    /// The JSON report.
    pub fn to_json(&self, old: &str, new: &str) -> Value {
        let list = |m: &BTreeMap<(String, String), PlannedAction>| -> Value {
            Value::Array(m.values().map(action_json).collect())
        };
        json!({
            "old": old,
            "new": new,
            "events": self.events,
            "files": self.files,
            "only_old": list(&self.only_old),
            "only_new": list(&self.only_new),
            "unchanged": self.unchanged,
            "different": !self.is_empty(),
        })
    }
}

/// `--since` / `--until`: an RFC 3339 time, or a duration back from now
/// (`24h`, `7d`).
pub fn parse_time(flag: &str, value: &str) -> anyhow::Result<Timestamp> {
    if let Ok(t) = value.parse::<Timestamp>() {
        return Ok(t);
    }
    let back = warden_core::time::parse_duration(value).map_err(|e| {
        anyhow::anyhow!("{flag} {value:?}: neither an RFC 3339 time nor a duration ({e})")
    })?;
    Timestamp::now()
        .checked_sub(back)
        .map_err(|_| anyhow::anyhow!("{flag} {value:?} is too far back"))
}
