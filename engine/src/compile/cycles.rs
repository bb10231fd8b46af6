//! Cycles refused, naming every job on one in order; a stable topological order.

use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::load::diag::Problem;

use super::graph::*;
use crate::load::model::Playbook;

/// Every cycle of `needs`, named job by job in order, placed at the first job's `needs`.
pub(super) fn check_cycles(
    origins: &[Arc<Playbook>],
    jobs: &[CompiledJob],
    graph: &DiGraph<usize, ()>,
    problems: &mut Vec<Problem>,
) {
    for component in tarjan_scc(graph) {
        let self_loop = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let cycle = cycle_path(graph, &component);
        let names: Vec<&str> = cycle.iter().map(|n| jobs[graph[*n]].id.as_str()).collect();
        let mut shown = names.clone();
        shown.push(names[0]);
        let message = format!(
            "the jobs {} form a cycle: {}",
            names.join(", "),
            shown.join(" → ")
        );
        let first = &jobs[graph[cycle[0]]];
        let declared = origins
            .get(first.origin)
            .and_then(|p| Some((p, p.jobs.get(&first.local_id)?)));
        let problem = match declared {
            Some((playbook, job)) => {
                let span = job.needs.first().map_or(job.id.span, |n| n.span);
                Problem::at(&playbook.source, span, message).with_label("needs")
            }
            None => Problem::general(message),
        };
        problems.push(problem.with_help(
            "a job cannot wait for itself, directly or through others: remove one of these `needs`",
        ));
    }
}

/// A topological order that keeps declaration order wherever `needs` allow (Kahn's
/// algorithm taking the earliest declared ready job), so runs and listings are predictable.
pub(super) fn stable_topo_order(jobs: &[CompiledJob]) -> Vec<usize> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut waiting: Vec<usize> = jobs.iter().map(|j| j.needs.len() + j.after.len()).collect();
    let mut ready: BinaryHeap<Reverse<usize>> = (0..jobs.len())
        .filter(|j| waiting[*j] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(jobs.len());
    while let Some(Reverse(job)) = ready.pop() {
        order.push(job);
        for &dependent in &jobs[job].dependents {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    order
}

/// One cycle through the jobs of a strongly connected component, in `needs` order.
pub(super) fn cycle_path(graph: &DiGraph<usize, ()>, component: &[NodeIndex]) -> Vec<NodeIndex> {
    let start = *component
        .iter()
        .min_by_key(|n| graph[**n])
        .unwrap_or(&component[0]);
    let mut path = vec![start];
    let mut current = start;
    // Walk backwards along `needs` edges (edge need → dependent) inside the component.
    loop {
        let next = graph
            .neighbors_directed(current, petgraph::Direction::Incoming)
            .filter(|n| component.contains(n))
            .min_by_key(|n| graph[*n]);
        match next {
            Some(n) if n == start => break,
            Some(n) if path.contains(&n) => {
                let from = path.iter().position(|p| *p == n).unwrap_or(0);
                return path.split_off(from);
            }
            Some(n) => {
                path.push(n);
                current = n;
            }
            None => break,
        }
    }
    path
}
