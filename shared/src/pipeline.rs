//! The pure part of the pipeline in one call: evaluate, then plan. This is
//! the only module that knows both stages; `engine` never sees the planner
//! and `plan` only reads the engine's [`Evaluation`].

use serde::Serialize;

use crate::engine::{Context, Evaluation, Explanation, MemoryStore, ThresholdStore};
use crate::event::AuditEvent;
use crate::plan::{Plan, PlanOptions};
use crate::policy::Policy;
use crate::resource::Resource;

/// Everything `explain` shows: per-subject explanations, the evaluation and
/// the resulting plan.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Per-subject explanations.
    pub explanations: Vec<Explanation>,
    /// The batch evaluation.
    pub evaluation: Evaluation,
    /// The plan.
    pub plan: Plan,
}

impl Policy {
    /// Evaluate and plan a batch of events in one call.
    pub fn run_events(
        &self,
        events: &[AuditEvent],
        ctx: &Context,
        opts: &PlanOptions,
        store: &mut dyn ThresholdStore,
    ) -> Plan {
        let eval = self.evaluate_events(events, ctx, store);
        self.plan_events(&eval, events, ctx, opts)
    }

    /// Evaluate and plan resource views in one call.
    pub fn run_resources(&self, resources: &[Resource], ctx: &Context, opts: &PlanOptions) -> Plan {
        let eval = self.evaluate_resources(resources, ctx);
        self.plan_resources(&eval, resources, ctx, opts)
    }

    /// Explain a batch of events: every rule against every event, the batch
    /// evaluation (thresholds counted in a fresh [`MemoryStore`]) and the plan.
    pub fn explain_events(
        &self,
        events: &[AuditEvent],
        ctx: &Context,
        opts: &PlanOptions,
    ) -> Report {
        let evaluation = self.evaluate_events(events, ctx, &mut MemoryStore::new());
        let explanations = self.explain_each_event(events, &evaluation, ctx);
        let plan = self.plan_events(&evaluation, events, ctx, opts);
        Report {
            explanations,
            evaluation,
            plan,
        }
    }

    /// Explain resource views: every rule against every resource, the
    /// evaluation and the plan.
    pub fn explain_resources(
        &self,
        resources: &[Resource],
        ctx: &Context,
        opts: &PlanOptions,
    ) -> Report {
        let evaluation = self.evaluate_resources(resources, ctx);
        let explanations = self.explain_each_resource(resources, &evaluation, ctx);
        let plan = self.plan_resources(&evaluation, resources, ctx, opts);
        Report {
            explanations,
            evaluation,
            plan,
        }
    }
}
