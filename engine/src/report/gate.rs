//! A playbook's `success:` rules (AitherZero's `SuccessCriteria`): whether a run that
//! was not cancelled succeeded, judged on the nodes' real outcomes — a node that failed
//! under `continue-on-error` did not succeed, though its dependents saw `success`.

use crate::compile::graph::Graph;
use crate::load::model::SuccessCriteria;
use crate::report::event::{NodeResult, NodeStatus};

/// The rules a run broke, each said in words; empty when it succeeded by them.
pub fn broken_rules(
    criteria: &SuccessCriteria,
    graph: &Graph,
    results: &[Option<NodeResult>],
) -> Vec<String> {
    let job_of = |node: usize| graph.jobs[graph.nodes[node].job].id.as_str();
    let ran: Vec<(usize, &NodeResult)> = results
        .iter()
        .enumerate()
        .filter_map(|(node, r)| Some((node, r.as_ref()?)))
        .collect();
    let succeeded = ran
        .iter()
        .filter(|(_, r)| r.status == NodeStatus::Success)
        .count();
    let mut broken = Vec::new();
    for critical in &criteria.critical {
        let failed: Vec<&str> = ran
            .iter()
            .filter(|(node, r)| job_of(*node) == critical.value && r.status != NodeStatus::Success)
            .map(|(node, _)| graph.nodes[*node].id.as_str())
            .collect();
        if !failed.is_empty() {
            broken.push(format!(
                "critical job `{}` did not succeed ({})",
                critical.value,
                failed.join(", ")
            ));
        }
    }
    if criteria.require_all {
        let allowed = |node: usize, r: &NodeResult| {
            r.allowed_failure
                || criteria
                    .allowed_failures
                    .iter()
                    .any(|a| a.value == job_of(node))
        };
        let failed: Vec<&str> = ran
            .iter()
            .filter(|(node, r)| r.status == NodeStatus::Failure && !allowed(*node, r))
            .map(|(node, _)| graph.nodes[*node].id.as_str())
            .collect();
        if !failed.is_empty() {
            broken.push(format!(
                "every node must succeed; failed: {}",
                failed.join(", ")
            ));
        }
    }
    if let Some(minimum) = criteria.minimum_count
        && (succeeded as u64) < u64::from(minimum)
    {
        broken.push(format!(
            "{succeeded} nodes succeeded, fewer than the {minimum} required"
        ));
    }
    if let Some(permille) = criteria.minimum_rate_permille
        && (succeeded as u64) * 1000 < u64::from(permille) * ran.len() as u64
    {
        broken.push(format!(
            "{succeeded} of {} nodes succeeded, less than the {:.1} % required",
            ran.len(),
            f64::from(permille) / 10.0
        ));
    }
    broken
}
