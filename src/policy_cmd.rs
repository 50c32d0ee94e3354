//! `warden policy validate | test | explain`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use warden_core::jiff::Timestamp;
use warden_core::policy::policy_files;
use warden_core::{AuditEvent, Context, LoadError, PlanOptions, Policy, Report, Resource};

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCmd {
    /// Check policy files; errors name file, line, column, rule and field.
    Validate {
        /// Policy files (or directories of them).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run every rule's test cases; prints `N passed, N failed`.
    Test {
        /// Policy files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// What would a policy change do differently? Both policies over the
    /// same archived events (as `replay --from-file` reads them); prints the
    /// actions only one of them takes, by rule, with their causing events.
    /// Exit 0: no difference, 1: differences, 2: error.
    Diff {
        /// The policy as it is.
        old: PathBuf,
        /// The policy as proposed.
        new: PathBuf,
        /// Archived audit logs: NDJSON, gzipped NDJSON, a Lambda Kinesis
        /// event, or directories of them (repeatable).
        #[arg(long, required = true, num_args = 1..)]
        events: Vec<PathBuf>,
        /// `text` or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Only events at or after this time (RFC 3339, or a duration back from now: `7d`).
        #[arg(long)]
        since: Option<String>,
        /// Only events before this time.
        #[arg(long)]
        until: Option<String>,
        /// Records per batch, as the function's BatchSize.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch_size: u64,
        /// The fleet for events and rules that name none.
        #[arg(long)]
        default_fleet: Option<String>,
    },
    /// Show which rules match an event (or resource), which conditions
    /// failed and why, and the resulting plan.
    Explain {
        /// The policy file.
        #[arg(long)]
        policy: PathBuf,
        /// Audit events: a JSON object, an array of objects, or JSON lines.
        #[arg(
            long,
            required_unless_present = "resource",
            conflicts_with = "resource"
        )]
        event: Option<PathBuf>,
        /// Resources: `{"instance": {...}}` (or device/domain/fleet), or an array of them.
        #[arg(long)]
        resource: Option<PathBuf>,
        /// "Now" (RFC 3339); default: the latest event time, else the clock.
        #[arg(long)]
        now: Option<String>,
        /// The default fleet ARN (as the function would be configured).
        #[arg(long)]
        fleet: Option<String>,
        /// The configured audit stream ARN (fleet-sweep's
        /// WARDEN_AUDIT_STREAM_ARN): where a `set-audit-stream` without
        /// `stream-arn` points fleets.
        #[arg(long)]
        audit_stream: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: PolicyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCmd::Diff {
            old,
            new,
            events,
            format,
            since,
            until,
            batch_size,
            default_fleet,
        } => {
            let opts = crate::backtest::Options {
                batch_size: batch_size as usize,
                since: since
                    .map(|v| crate::backtest::parse_time("--since", &v))
                    .transpose()?,
                until: until
                    .map(|v| crate::backtest::parse_time("--until", &v))
                    .transpose()?,
                default_fleet,
                progress: true,
            };
            diff(&old, &new, &events, &opts, &format)
        }
        PolicyCmd::Validate { files } => validate(&files),
        PolicyCmd::Test { paths } => test(&paths),
        PolicyCmd::Explain {
            policy,
            event,
            resource,
            now,
            fleet,
            audit_stream,
            json,
        } => explain(
            &policy,
            event.as_deref(),
            resource.as_deref(),
            now,
            fleet,
            audit_stream,
            json,
        ),
    }
}

fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let files = policy_files(p).with_context(|| format!("{}: cannot list", p.display()))?;
        if files.is_empty() {
            anyhow::bail!("{}: no policy files (*.yaml, *.yml)", p.display());
        }
        out.extend(files);
    }
    Ok(out)
}

fn print_load_error(e: &LoadError) {
    match e {
        LoadError::Invalid(errs) => {
            for err in errs.iter() {
                eprintln!("error: {err}");
            }
        }
        other => eprintln!("error: {other}"),
    }
}

fn validate(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut bad = 0usize;
    for file in expand(paths)? {
        match Policy::from_file(&file) {
            Ok(p) => {
                let cases: usize = p.rules.iter().map(|r| r.tests.len()).sum();
                println!(
                    "ok: {} ({} rules, {} test cases)",
                    file.display(),
                    p.rules.len(),
                    cases
                );
            }
            Err(e) => {
                bad += 1;
                print_load_error(&e);
            }
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{bad} invalid policy file(s)");
        ExitCode::FAILURE
    })
}

fn test(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in expand(paths)? {
        let policy = match Policy::from_file(&file) {
            Ok(p) => p,
            Err(e) => {
                print_load_error(&e);
                println!("FAIL {}: does not load", file.display());
                failed += 1;
                continue;
            }
        };
        for case in warden_core::testing::run_tests(&policy) {
            if case.passed {
                passed += 1;
                println!("PASS {} :: {} :: {}", case.file, case.rule, case.case);
            } else {
                failed += 1;
                println!(
                    "FAIL {}:{} :: {} :: {}",
                    case.file, case.location.line, case.rule, case.case
                );
                for f in &case.failures {
                    println!("     {f}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_json_values(path: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(items)) => Ok(items),
        Ok(v) => Ok(vec![v]),
        Err(whole) => {
            // JSON lines.
            let mut out = Vec::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let v = serde_json::from_str(line).map_err(|e| {
                    anyhow::anyhow!(
                        "{}:{}: not JSON ({e}); the whole file is not JSON either ({whole})",
                        path.display(),
                        i + 1
                    )
                })?;
                out.push(v);
            }
            Ok(out)
        }
    }
}

fn explain(
    policy_path: &Path,
    event: Option<&Path>,
    resource: Option<&Path>,
    now: Option<String>,
    fleet: Option<String>,
    audit_stream: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let policy = match Policy::from_file(policy_path) {
        Ok(p) => p,
        Err(e) => {
            print_load_error(&e);
            return Ok(ExitCode::FAILURE);
        }
    };
    let now = match now {
        Some(s) => Some(
            warden_core::time::parse_timestamp(&s)
                .ok_or_else(|| anyhow::anyhow!("--now `{s}`: expected an RFC 3339 time"))?,
        ),
        None => None,
    };
    let mut events = Vec::new();
    let mut resources = Vec::new();
    if let Some(path) = event {
        for (i, v) in read_json_values(path)?.into_iter().enumerate() {
            let id = format!("{}#{}", path.display(), i + 1);
            events.push(AuditEvent::from_json(v, id, policy.field_map())?);
        }
    }
    if let Some(path) = resource {
        for (i, v) in read_json_values(path)?.into_iter().enumerate() {
            let r: Resource = serde_json::from_value(v)
                .with_context(|| format!("{}: resource #{}: expected {{\"device\"|\"domain\"|\"fleet\"|\"instance\": {{...}}}}", path.display(), i + 1))?;
            resources.push(r);
        }
    }
    let now = now
        .or_else(|| events.iter().filter_map(|e| e.time).max())
        .unwrap_or_else(Timestamp::now);
    let mut ctx = Context::new(now);
    ctx.default_fleet_arn = fleet;
    ctx.audit_stream_arn = audit_stream;
    let report = if resources.is_empty() {
        policy.explain_events(&events, &ctx, &PlanOptions::default())
    } else {
        policy.explain_resources(&resources, &ctx, &PlanOptions::default())
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&policy, &report, now);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(policy: &Policy, report: &Report, now: Timestamp) {
    println!("policy {} at {now}", policy.source);
    for ex in &report.explanations {
        println!("\n{}", ex.subject);
        for r in &ex.rules {
            if !r.applies {
                println!(
                    "  rule {}: not applicable ({})",
                    r.rule,
                    r.note.as_deref().unwrap_or("")
                );
                continue;
            }
            let verdict = if r.matched {
                "MATCHED"
            } else if r.conditions_hold {
                "conditions hold, threshold not reached"
            } else {
                "no match"
            };
            println!("  rule {}: {verdict}", r.rule);
            for c in &r.conditions {
                let indent = "  ".repeat(c.depth + 2);
                let mark = if c.passed { "pass" } else { "FAIL" };
                match &c.reason {
                    Some(reason) => {
                        println!("{indent}[{mark}] {} (line {}): {reason}", c.text, c.line)
                    }
                    None => println!("{indent}[{mark}] {}", c.text),
                }
            }
            if let Some(n) = &r.note {
                println!("      {n}");
            }
        }
    }
    println!("\nplan:");
    for line in report.plan.summary().lines() {
        println!("  {line}");
    }
}

/// `warden policy diff`: exit 0 when both policies act the same, 1 when not.
fn diff(
    old: &Path,
    new: &Path,
    events: &[PathBuf],
    opts: &crate::backtest::Options,
    format: &str,
) -> anyhow::Result<ExitCode> {
    let load = |p: &Path| Policy::from_file(p).with_context(|| format!("policy {}", p.display()));
    let (old_policy, new_policy) = (load(old)?, load(new)?);
    let before = crate::backtest::run(&old_policy, events, opts)?;
    let after = crate::backtest::run(&new_policy, events, opts)?;
    let d = crate::backtest::Diff::new(&before, &after);
    let (o, n) = (old.display().to_string(), new.display().to_string());
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&d.to_json(&o, &n))?);
    } else {
        print!("{}", d.to_text(&o, &n));
    }
    Ok(if d.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
