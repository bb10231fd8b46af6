//! The scheduler's decisions: when a job is released, whether a node runs, is skipped
//! or cancelled, and what a finished job is to its dependents (`needs.<job>`).

use serde_json::{Map, Value, json};

use super::scheduler::State;
use crate::cache::state::RecordUpdate;
use crate::compile::expr;
use crate::compile::graph::{Body, Uses};
use crate::report::event::{NodeResult, NodeStatus, PlanAction};

/// A job's result from its parts' results: any failure fails it, then any cancellation
/// cancels it; all skipped is skipped; else success.
pub(super) fn aggregate(results: &[NodeStatus]) -> NodeStatus {
    if results.contains(&NodeStatus::Failure) {
        NodeStatus::Failure
    } else if results.contains(&NodeStatus::Cancelled) {
        NodeStatus::Cancelled
    } else if !results.is_empty() && results.iter().all(|r| *r == NodeStatus::Skipped) {
        NodeStatus::Skipped
    } else {
        NodeStatus::Success
    }
}

#[derive(Clone)]
pub(super) struct JobOutcome {
    pub(super) result: NodeStatus,
    pub(super) failed: bool,
    /// `needs.<job>` for expressions: `{ result, outputs }`.
    pub(super) context: Value,
    /// What could not be rendered (a reusable playbook's `outputs`): the job failed.
    pub(super) problems: Vec<String>,
}

// Returned by `decide` and consumed at once, like `Event`.
#[allow(clippy::large_enum_variant)]
pub(super) enum Decision {
    Run,
    Finish(NodeResult),
}

impl State<'_> {
    /// Queues a job's nodes once every job it needs has finished. True when it did.
    pub(super) fn release_if_ready(&mut self, job: usize) -> bool {
        let spec = &self.graph.jobs[job];
        if self.released[job]
            || spec
                .needs
                .iter()
                .chain(&spec.after)
                .any(|n| self.job_outcomes[*n].is_none())
        {
            return false;
        }
        self.released[job] = true;
        self.job_epoch[job] = self.changes;
        let graph = self.graph;
        self.failure_upstream[job] = graph.jobs[job]
            .needs
            .iter()
            .any(|&n| self.failure_upstream[n] || self.job_failed(n));
        for node in graph.jobs[job].nodes.clone() {
            if self.options.selected[node] {
                self.ready.push_back(node);
            }
        }
        // A job with nothing to run (a `uses` job, an empty matrix) ends as it starts.
        if self.unfinished[job] == 0 {
            self.end_job(job);
        }
        true
    }

    /// Records a job's outcome once all its nodes have ended. A reusable playbook whose
    /// `outputs` could not be rendered fails the run, and says why.
    pub(super) fn end_job(&mut self, job: usize) {
        self.job_upstream[job] = Some(crate::cache::key::upstream_digest(&self.job_needs(job)));
        let outcome = self.job_outcome(job);
        if !outcome.problems.is_empty() {
            self.run_failed = true;
            self.warnings.extend(
                outcome
                    .problems
                    .iter()
                    .map(|p| format!("job `{}`: {p}", self.graph.jobs[job].id)),
            );
        }
        self.job_outcomes[job] = Some(outcome);
        self.newly_finished.push(job);
    }

    /// Whether a finished job has a failed node (continue-on-error ones included).
    pub(super) fn job_failed(&self, job: usize) -> bool {
        self.job_outcomes[job].as_ref().is_some_and(|o| o.failed)
    }

    pub(super) fn finish(&mut self, node: usize, mut result: NodeResult) {
        if result.attempts > 0 && !result.cached {
            self.changes += 1;
        }
        if result.status == NodeStatus::Failure {
            result.allowed_failure = self.allows_failure(node, &mut result);
        }
        let job = self.graph.nodes[node].job;
        let spec = &self.graph.jobs[job];
        if result.status == NodeStatus::Failure && !result.allowed_failure {
            self.run_failed = true;
            // `fail-fast: false` says, as on GitHub, that this job's failure stops nothing:
            // its other legs and independent jobs go on (its dependents are skipped).
            if !self.options.keep_going && spec.fail_fast {
                self.halted = true;
            }
            if spec.fail_fast && spec.nodes.len() > 1 {
                self.failed_fast[job] = true;
            }
        }
        if result.status == NodeStatus::Failure && result.attempts > 0 {
            let id = &self.graph.nodes[node].id;
            if let Some(fresh) = self.fresh_keys.iter_mut().rev().find(|f| f.node == *id) {
                fresh.record = RecordUpdate::Failed;
            }
        }
        self.results[node] = Some(result);
        self.unfinished[job] -= 1;
        if self.unfinished[job] == 0 {
            self.end_job(job);
        }
    }

    /// A finished job as its dependents see it, computed once.
    pub(super) fn job_outcome(&self, job: usize) -> JobOutcome {
        if let Body::Uses(uses) = &self.graph.jobs[job].body {
            return self.uses_outcome(uses);
        }
        let mut outputs = Map::new();
        let mut failed = false;
        for n in self.graph.jobs[job].nodes.clone() {
            if let Some(r) = &self.results[n] {
                failed |= r.status == NodeStatus::Failure;
                // The last node in expansion order that set an output wins.
                for (k, v) in &r.outputs {
                    outputs.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        let result = self.compute_job_result(job);
        let outcome = self.job_status(job, false);
        JobOutcome {
            result,
            failed,
            context: json!({ "result": result.as_str(), "outcome": outcome.as_str(), "outputs": outputs }),
            problems: Vec::new(),
        }
    }

    /// In a plan: whether a job's result is unknown because some node of it would run.
    pub(super) fn unresolved_in_plan(&self, job: usize) -> bool {
        self.graph.job_nodes(job).iter().any(|&n| {
            matches!(&self.results[n], Some(r) if matches!(r.plan, Some(PlanAction::Run | PlanAction::Blocked)))
        })
    }

    /// A `uses` job ends with its members: their combined result, and the used playbook's
    /// `outputs` evaluated over `jobs.<id>`.
    pub(super) fn uses_outcome(&self, uses: &Uses) -> JobOutcome {
        let results: Vec<NodeStatus> = uses.members.iter().map(|&m| self.job_result(m)).collect();
        let result = aggregate(&results);
        let mut scope = self.origin_scope(uses.origin);
        for &m in &uses.members {
            if let Some(outcome) = &self.job_outcomes[m] {
                scope
                    .jobs
                    .insert(self.graph.jobs[m].local_id.clone(), outcome.context.clone());
            }
        }
        let mut problems = Vec::new();
        let outputs: Map<String, Value> = uses
            .outputs
            .iter()
            .map(|(k, t)| {
                let value = t.render(&scope).unwrap_or_else(|e| {
                    problems.push(format!("an expression failed: outputs.{k}: {}", e.message));
                    String::new()
                });
                (k.clone(), Value::String(self.secrets.mask(&value)))
            })
            .collect();
        let result = if problems.is_empty() {
            result
        } else {
            NodeStatus::Failure
        };
        JobOutcome {
            result,
            failed: !problems.is_empty() || uses.members.iter().any(|&m| self.job_failed(m)),
            context: json!({ "result": result.as_str(), "outputs": outputs }),
            problems,
        }
    }

    /// `needs.<job>.result` of a finished job.
    pub(super) fn job_result(&self, job: usize) -> NodeStatus {
        self.job_outcomes[job]
            .as_ref()
            .map_or(NodeStatus::Cancelled, |o| o.result)
    }

    /// `needs.<job>.result` as GitHub computes it over a job's nodes.
    pub(super) fn compute_job_result(&self, job: usize) -> NodeStatus {
        self.job_status(job, true)
    }

    /// Over a job's nodes: with `allow_failure`, a failure its `continue-on-error` allows
    /// counts as success — GitHub's `result`; without, it is the job's real `outcome`.
    pub(super) fn job_status(&self, job: usize, allow_failure: bool) -> NodeStatus {
        let statuses: Vec<NodeStatus> = self.graph.jobs[job]
            .nodes
            .clone()
            .filter_map(|n| self.results[n].as_ref())
            .map(|r| match r.status {
                NodeStatus::Failure if allow_failure && r.allowed_failure => NodeStatus::Success,
                s => s,
            })
            .collect();
        aggregate(&statuses)
    }

    /// The node's `concurrency` group, rendered once (its needs have ended by then). One
    /// that cannot be rendered is its text: the node still waits for its like.
    pub(super) fn group_of(&mut self, node: usize) -> Option<String> {
        if let Some(known) = self.node_groups.get(&node) {
            return known.clone();
        }
        let job = &self.graph.jobs[self.graph.nodes[node].job];
        // GitHub's group names are case-insensitive.
        let group = job.concurrency.as_ref().map(|template| {
            template
                .render(&self.scope(node, Some(true)))
                .unwrap_or_else(|_| template.source())
                .to_lowercase()
        });
        self.node_groups.insert(node, group.clone());
        group
    }

    /// Whether another node of the node's `concurrency` group is running: it waits.
    pub(super) fn group_is_busy(&mut self, node: usize) -> bool {
        self.graph.jobs[self.graph.nodes[node].job]
            .concurrency
            .is_some()
            && self
                .group_of(node)
                .is_some_and(|group| self.running_groups.contains(&group))
    }

    /// Whether the job's `continue-on-error` allows this node's failure: the setting, or
    /// its expression rendered over the node's contexts. An expression that fails to
    /// render, or gives neither `true` nor `false`, allows nothing, and says why.
    fn allows_failure(&self, node: usize, result: &mut NodeResult) -> bool {
        let job = &self.graph.jobs[self.graph.nodes[node].job];
        let Some(template) = &job.continue_on_error_expr else {
            return job.continue_on_error;
        };
        match super::prepare::render_flag(template, &self.scope(node, Some(true))) {
            Ok(allowed) => allowed,
            Err(why) => {
                let why = format!("continue-on-error: {why}");
                result.reason = Some(match result.reason.take() {
                    Some(reason) => format!("{reason}; {why}"),
                    None => why,
                });
                false
            }
        }
    }

    pub(super) fn decide(&self, node: usize) -> Decision {
        let spec = &self.graph.jobs[self.graph.nodes[node].job];
        if self.cancel_level > 0 && !spec.condition_decides {
            return Decision::Finish(NodeResult::not_run(
                NodeStatus::Cancelled,
                "the run was cancelled",
            ));
        }
        if self.failed_fast[self.graph.nodes[node].job] {
            return Decision::Finish(NodeResult::not_run(
                NodeStatus::Cancelled,
                "fail-fast: another node of this job failed",
            ));
        }
        if self.options.plan
            && let Some(&waiting) = spec.needs.iter().find(|&&n| self.unresolved_in_plan(n))
        {
            return Decision::Finish(NodeResult {
                plan: Some(PlanAction::Blocked),
                why: Some(format!(
                    "waits for {}'s result",
                    self.graph.jobs[waiting].id
                )),
                status: NodeStatus::Success,
                ..NodeResult::not_run(NodeStatus::Success, "")
            });
        }
        let needs_ok = spec
            .needs
            .iter()
            .all(|&n| self.job_result(n) == NodeStatus::Success);
        if !spec.condition_decides {
            // What needs a failure is skipped, as on GitHub, whether or not the run halted;
            // what the halt alone kept from starting is cancelled.
            if self.halted && needs_ok {
                return Decision::Finish(NodeResult::not_run(
                    NodeStatus::Cancelled,
                    "an earlier node failed (use --keep-going to run the rest)",
                ));
            }
            if !needs_ok {
                let blocked = spec
                    .needs
                    .iter()
                    .find(|&&n| self.job_result(n) != NodeStatus::Success)
                    .map_or("", |&n| self.graph.jobs[n].id.as_str());
                return Decision::Finish(NodeResult::not_run(
                    NodeStatus::Skipped,
                    format!("needs `{blocked}`, which did not succeed"),
                ));
            }
        }
        let Some(condition) = &spec.condition else {
            return self.runs_here(node, needs_ok);
        };
        let scope = self.scope(node, Some(needs_ok));
        match expr::eval(condition, &scope) {
            Ok(v) if expr::truthy(&v) => self.runs_here(node, needs_ok),
            Ok(_) => Decision::Finish(NodeResult::not_run(
                NodeStatus::Skipped,
                "its `if` is false",
            )),
            Err(e) => Decision::Finish(NodeResult {
                reason: Some(format!("its `if` could not be evaluated: {e}")),
                ..NodeResult::not_run(NodeStatus::Failure, "")
            }),
        }
    }

    /// A workflow node runs when its `runs-on` labels name this host; else it is skipped
    /// with the reason, as GitHub would queue it for another machine.
    fn runs_here(&self, node: usize, needs_ok: bool) -> Decision {
        let spec = &self.graph.jobs[self.graph.nodes[node].job];
        if spec.runs_on.is_empty() {
            return Decision::Run;
        }
        let scope = self.scope(node, Some(needs_ok));
        let mut labels = Vec::with_capacity(spec.runs_on.len());
        for template in &spec.runs_on {
            match template.render(&scope) {
                Ok(label) => labels.push(label),
                Err(e) => {
                    return Decision::Finish(NodeResult {
                        reason: Some(format!("its `runs-on` could not be evaluated: {e}")),
                        ..NodeResult::not_run(NodeStatus::Failure, "")
                    });
                }
            }
        }
        let local = self
            .options
            .workflow
            .as_ref()
            .map(|w| w.local_labels.as_slice())
            .unwrap_or_default();
        match crate::exec::github::elsewhere(&labels, local) {
            Some(why) => Decision::Finish(NodeResult::not_run(NodeStatus::Skipped, why)),
            None => Decision::Run,
        }
    }
}
