//! euc-warden core library (`warden-core`).
//!
//! The brain shared by the three functions. Everything here is pure and
//! synchronous; the pipeline is
//!
//! ```text
//! decode -> evaluate -> plan -> (execute: the functions, via `aws`) -> report
//! ```
//!
//! * [`event`]: [`AuditEvent`] (typed core fields + raw JSON), decoded
//!   tolerantly from a Kinesis record with a source id:
//!   [`Policy::decode_event`] / [`AuditEvent::decode_with`].
//! * [`resource`]: plain views the scheduled functions fill from SDK
//!   responses: [`Device`], [`Domain`], [`Fleet`], [`Instance`], wrapped in
//!   [`Resource`].
//! * [`policy`]: the YAML language, loaded once at cold start with located
//!   errors ([`Policy::from_file`], [`Policy::from_yaml_str`]) and compiled
//!   (regexes, globs, CIDRs, paths, time zones, event-type index).
//! * [`engine`]: [`Policy::evaluate_events`] / [`Policy::evaluate_resources`]
//!   give an [`Evaluation`] (matches); thresholds count through a
//!   [`ThresholdStore`] ([`MemoryStore`] for one invocation); time comes in
//!   [`Context::now`]. [`Policy::explain_events`] says why.
//! * [`plan`]: [`Policy::plan_events`] / [`Policy::plan_resources`] give a
//!   [`Plan`]: deduplicated [`PlannedAction`]s (kind, [`Target`], params,
//!   rules, causes, dry-run) and [`Refusal`]s (allow-lists, caps, conflicts).
//!   How to plan (forced dry-run, caps on or off) is [`PlanOptions`].
//! * [`pipeline`]: evaluate + plan in one call ([`Policy::run_events`],
//!   [`Policy::run_resources`]) and `explain` ([`Report`]). `engine` does
//!   not import `plan`; `plan` reads only the engine's `Context` and
//!   `Evaluation`.
//! * [`action`]: each action kind described once ([`action::ACTIONS`]):
//!   name, parameters, target, fitting `on` kinds, operation, "already
//!   done" state, planner step. `docs/extending.md` shows how to add one.
//! * [`arn`]: fleet, portal, stream ARNs and instance ids, parsed once.
//! * [`time`]: the one duration grammar ([`time::parse_duration`]) and
//!   timestamp readers.
//! * [`testing`]: runs the test cases rules carry.
//! * [`state`]: durable state across invocations (threshold windows,
//!   budgets, action ledger, revocation provenance, run leases) behind the
//!   [`state::StateStore`] trait.
//!
//! ```
//! use warden_core::{Context, MemoryStore, PlanOptions, Policy};
//! let policy = Policy::from_yaml_str(r#"
//! rules:
//!   - name: deny-list
//!     on: audit-event
//!     where: { user: { in: [mallory] } }
//!     actions: [sign-out-user]
//! "#, "inline.yaml").unwrap();
//! let ev = policy.decode_event(br#"{"eventType":"SignIn","userName":"mallory"}"#, "seq-1").unwrap();
//! let ctx = Context::new("2026-11-23T12:00:00Z".parse().unwrap())
//!     .with_default_fleet("arn:aws:worklink::123456789012:fleet/corp");
//! let plan = policy.run_events(&[ev], &ctx, &PlanOptions::default(), &mut MemoryStore::new());
//! assert_eq!(plan.actions.len(), 1);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod arn;
pub mod env;

#[cfg(feature = "aws")]
#[allow(missing_docs)]
pub mod aws;
pub mod engine;
pub mod error;
pub mod event;
pub mod overrides;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod resource;
pub mod shell;
pub mod state;
mod suggest;
pub mod testing;
pub mod time;
pub mod yaml;

/// Re-exported: `Context::new` takes a `jiff::Timestamp`.
pub use jiff;

pub use engine::{
    Context, Evaluation, Explanation, Match, MemoryStore, RuleExplanation, ThresholdCandidate,
    ThresholdStore,
};
pub use error::{EventError, Location, PolicyError, PolicyErrors};
pub use event::{AuditEvent, CoreField, FieldMap, Interner, JsonPath};
pub use pipeline::Report;
pub use plan::{
    ActionParams, Cause, Plan, PlanOptions, PlannedAction, Population, Refusal, RefusalReason,
    Skipped, Target,
};
pub use policy::{ActionKind, ActionSpec, Cap, LoadError, Policy, Rule};
pub use resource::{Device, Domain, Fleet, Instance, InstanceError, OnKind, Resource};
