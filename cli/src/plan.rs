//! `orch plan` and `orch explain`: the scheduler run with nothing run, each node's fate
//! and why, or one node's key, component by component.

use orch_engine::cache::key::short;
use orch_engine::cache::state;
use orch_engine::compile::graph::Graph;
use orch_engine::exec::scheduler::RunOutcome;
use orch_engine::load::diag::{Problem, did_you_mean};
use serde_json::json;

use crate::prepare::{Selection, prepare};
use crate::{Cli, Failure};

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    selection: Selection,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExplainArgs {
    /// The node (or job, when it has one node) to explain
    node: String,
    /// Set a var (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Replace the values of a matrix axis, in the jobs that have it (repeatable)
    #[arg(long = "matrix", value_name = "AXIS=V1,V2")]
    matrix: Vec<String>,
    /// Use a profile's vars
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    #[command(flatten)]
    workflow: crate::prepare::WorkflowArgs,
    #[command(flatten)]
    cache: crate::CacheArgs,
}

pub(crate) fn plan(cli: &Cli, args: &PlanArgs) -> Result<u8, Failure> {
    let prepared = prepare(cli, &args.selection, true)?;
    let outcome = prepared.plan()?;
    print_plan(&prepared.graph, &outcome, args.json);
    Ok(0)
}

/// `cached`, `run` or `blocked` (and `skipped`/`cancelled` for what would not run) per node.
pub(crate) fn print_plan(graph: &Graph, outcome: &RunOutcome, as_json: bool) {
    let rows: Vec<(&str, &str, String)> = outcome
        .results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let r = r.as_ref()?;
            let action = match (r.plan, r.status) {
                (Some(plan), _) => plan.as_str(),
                (None, status) => status.as_str(),
            };
            let why = r
                .why
                .clone()
                .or_else(|| r.reason.clone())
                .unwrap_or_default();
            Some((graph.nodes[i].id.as_str(), action, why))
        })
        .collect();
    if as_json {
        let nodes: Vec<_> = rows
            .iter()
            .map(|(id, action, why)| json!({ "id": id, "action": action, "reason": why }))
            .collect();
        say!(
            "{}",
            serde_json::to_string_pretty(&json!({ "nodes": nodes })).unwrap_or_default()
        );
        return;
    }
    let width = rows.iter().map(|(id, _, _)| id.len()).max().unwrap_or(0);
    for (id, action, why) in &rows {
        say!("{action:<8} {id:<width$}  {why}");
    }
    let count = |a: &str| rows.iter().filter(|(_, action, _)| *action == a).count();
    // What would not run (skipped by `if` or `runs-on`, ...) is counted too, so the
    // numbers add up.
    let mut others: Vec<&str> = rows
        .iter()
        .map(|(_, action, _)| *action)
        .filter(|a| !["cached", "run", "blocked"].contains(a))
        .collect();
    others.sort_unstable();
    others.dedup();
    let others: String = others
        .iter()
        .map(|a| format!(", {} {a}", count(a)))
        .collect();
    say!(
        "{}: {} cached, {} to run, {} blocked{others}",
        crate::counted(rows.len(), "node"),
        count("cached"),
        count("run"),
        count("blocked")
    );
}

pub(crate) fn explain(cli: &Cli, args: &ExplainArgs) -> Result<u8, Failure> {
    let selection = Selection {
        targets: vec![args.node.clone()],
        vars: args.vars.clone(),
        matrix: args.matrix.clone(),
        profile: args.profile.clone(),
        workflow: args.workflow.clone(),
        cache: args.cache.clone(),
        ..Selection::default()
    };
    let prepared = prepare(cli, &selection, true)?;
    let graph = &prepared.graph;
    let node = match graph.nodes.iter().position(|n| n.id == args.node) {
        Some(n) => n,
        None => match graph.job_index(&args.node).map(|j| graph.job_nodes(j)) {
            Some(nodes) if nodes.len() == 1 => nodes[0],
            _ => {
                let mut problem = Problem::general(format!(
                    "`{}` is not a node (explain takes one node)",
                    args.node
                ));
                problem.help = did_you_mean(&args.node, graph.nodes.iter().map(|n| n.id.as_str()))
                    .or_else(|| Some("`orch graph` lists the nodes".into()));
                return Err(problem.into());
            }
        },
    };
    let outcome = prepared.plan()?;
    let id = &graph.nodes[node].id;
    let result = outcome.results[node].as_ref();
    let verdict = result.map_or(String::new(), |r| {
        let action = r.plan.map_or(r.status.as_str(), |p| p.as_str());
        format!(
            "{action}: {}",
            r.why
                .clone()
                .or_else(|| r.reason.clone())
                .unwrap_or_default()
        )
    });
    say!("node {id}");
    say!("{verdict}");
    let Some(components) = outcome
        .fresh_keys
        .iter()
        .find(|f| f.node == *id)
        .map(|f| f.view().to_components())
    else {
        say!("its key cannot be computed yet: it depends on results that are not known");
        return Ok(0);
    };
    say!("key {}", components.digest());
    say!("  shell              {}", components.shell);
    for (i, step) in components.command.iter().enumerate() {
        let first = step.lines().next().unwrap_or("");
        let shown: String = first.chars().take(60).collect();
        say!(
            "  command[{i}]         {}  {shown}",
            short(&orch_store::Digest::of(step.as_bytes()))
        );
    }
    say!(
        "  working-directory  {}",
        if components.working_directory.is_empty() {
            "."
        } else {
            &components.working_directory
        }
    );
    for (name, value) in &components.env {
        say!(
            "  env {name:<14} {}  (value not shown)",
            short(&orch_store::Digest::of(value.as_bytes()))
        );
    }
    for (axis, value) in &components.matrix {
        say!("  matrix {axis:<11} {value}");
    }
    for (path, digest) in &components.inputs {
        say!("  input {path}  {}", short(digest));
    }
    for (name, digest) in &components.env_inputs {
        say!("  env-input {name}  {}", short(digest));
    }
    for (need, digest) in &components.needs {
        say!(
            "  need {need}  result {}  upstream {}",
            short(&digest.result),
            short(&digest.upstream)
        );
    }
    match state::LastKeys::load(&prepared.orch_dir).components(id) {
        None => say!("no previous run recorded"),
        Some(old) if old == components => say!("unchanged since the last run"),
        Some(old) => {
            say!("changed since the last run:");
            for line in components.differences(&old) {
                say!("  {line}");
            }
        }
    }
    Ok(0)
}
