//! Choosing what to run: job ids, node ids, globs and `!` exclusions, then everything
//! the chosen nodes need.

use globset::{Glob, GlobMatcher};

use crate::compile::graph::Graph;
use crate::load::diag::{Problem, did_you_mean};

/// Which nodes of the graph are selected (indexed like `graph.nodes`).
pub fn select(graph: &Graph, targets: &[String]) -> Result<Vec<bool>, Problem> {
    let (exclusions, inclusions): (Vec<&String>, Vec<&String>) =
        targets.iter().partition(|t| t.starts_with('!'));
    let mut selected = vec![inclusions.is_empty(); graph.nodes.len()];
    for target in inclusions {
        let hits = matching(graph, target)?;
        if hits.is_empty() {
            return Err(no_match(graph, target));
        }
        for n in hits {
            selected[n] = true;
        }
    }
    for target in exclusions {
        let pattern = &target[1..];
        let hits = matching(graph, pattern)?;
        if hits.is_empty() {
            return Err(no_match(graph, pattern));
        }
        for n in hits {
            selected[n] = false;
        }
    }
    // What a selected node needs runs too: a node never runs without its needs. A `uses`
    // job has no nodes of its own; needing it means needing its members.
    let mut needed = vec![false; graph.jobs.len()];
    for &job in graph.topo_order.iter().rev() {
        let spec = &graph.jobs[job];
        if needed[job] || selected[spec.nodes.clone()].iter().any(|s| *s) {
            for &need in &spec.needs {
                needed[need] = true;
                for s in &mut selected[graph.jobs[need].nodes.clone()] {
                    *s = true;
                }
            }
        }
    }
    Ok(selected)
}

/// The nodes one target names: a job id, a node id, or a glob over either.
fn matching(graph: &Graph, target: &str) -> Result<Vec<usize>, Problem> {
    if let Some(job) = graph.job_index(target) {
        return Ok(graph.job_nodes(job));
    }
    if let Some(node) = graph.nodes.iter().position(|n| n.id == target) {
        return Ok(vec![node]);
    }
    if !target.contains(crate::files::glob::GLOB_CHARS) {
        return Ok(Vec::new());
    }
    let matcher: GlobMatcher = Glob::new(target)
        .map_err(|e| Problem::general(format!("target `{target}` is not a valid glob: {e}")))?
        .compile_matcher();
    Ok(graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matcher.is_match(&n.id) || matcher.is_match(&graph.jobs[n.job].id))
        .map(|(i, _)| i)
        .collect())
}

fn no_match(graph: &Graph, target: &str) -> Problem {
    let names = graph
        .jobs
        .iter()
        .map(|j| j.id.as_str())
        .chain(graph.nodes.iter().map(|n| n.id.as_str()));
    let mut problem = Problem::general(format!("target `{target}` matches no job or node"));
    problem.help = did_you_mean(target, names)
        .or_else(|| Some("`orch list` shows the jobs; `orch graph` the nodes".into()));
    problem
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::build::compile;
    use crate::compile::graph::Overrides;
    use crate::load::diag::SourceFile;
    use crate::load::{decode, tree};
    use std::sync::Arc;

    fn graph() -> Graph {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: "jobs:\n  build: { run: x }\n  test: { run: y, needs: build, matrix: { suite: [unit, slow] } }\n  lint: { run: z }\n".into(),
        };
        let playbook = decode::decode(&source, &tree::parse(&source).unwrap()).unwrap();
        compile(
            Arc::new(playbook),
            std::path::Path::new("orch.yml"),
            &Overrides::default(),
            &mut crate::compile::build::tests::no_uses,
        )
        .unwrap()
    }

    fn chosen(targets: &[&str]) -> Vec<String> {
        let g = graph();
        let targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
        let sel = select(&g, &targets).unwrap();
        g.nodes
            .iter()
            .zip(sel)
            .filter(|(_, s)| *s)
            .map(|(n, _)| n.id.clone())
            .collect()
    }

    #[test]
    fn targets_select_with_needs() {
        assert_eq!(chosen(&[]).len(), 4);
        assert_eq!(chosen(&["lint"]), ["lint"]);
        assert_eq!(chosen(&["test[suite=unit]"]), ["build", "test[suite=unit]"]);
        assert_eq!(
            chosen(&["test*"]),
            ["build", "test[suite=unit]", "test[suite=slow]"]
        );
        assert_eq!(
            chosen(&["!test[suite=slow]"]),
            ["build", "test[suite=unit]", "lint"]
        );
        assert_eq!(chosen(&["test", "!*slow*"]), ["build", "test[suite=unit]"]);
    }

    #[test]
    fn unknown_target_suggests() {
        let g = graph();
        let e = select(&g, &["buidl".to_owned()]).unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `build`?"));
    }
}
