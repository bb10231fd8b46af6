//! `orch graph`: the DAG after matrix expansion, as text, dot, mermaid or JSON.

use std::fmt::Write as _;

use orch_engine::compile::graph::Graph;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Text,
    Dot,
    Mermaid,
    Json,
}

pub(crate) fn render(graph: &Graph, selected: &[bool], format: Format) -> String {
    let nodes = || graph.nodes.iter().enumerate().filter(|(i, _)| selected[*i]);
    let mut out = String::new();
    match format {
        Format::Text => {
            for &job in &graph.topo_order {
                for n in graph.jobs[job].nodes.clone().filter(|n| selected[*n]) {
                    let needs: Vec<&str> = graph.jobs[job]
                        .needs
                        .iter()
                        .map(|j| graph.jobs[*j].id.as_str())
                        .collect();
                    let after: Vec<&str> = graph.jobs[job]
                        .after
                        .iter()
                        .map(|j| graph.jobs[*j].id.as_str())
                        .collect();
                    let mut line = graph.nodes[n].id.clone();
                    if !needs.is_empty() {
                        line.push_str(&format!("  <- {}", needs.join(", ")));
                    }
                    if !after.is_empty() {
                        line.push_str(&format!("  (after {})", after.join(", ")));
                    }
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        Format::Dot => {
            out.push_str("digraph orch {\n  rankdir=LR;\n  node [shape=box];\n");
            for (i, n) in nodes() {
                let _ = writeln!(out, "  n{i} [label={}];", quote(&n.id));
            }
            for (i, n) in nodes() {
                for &need in &graph.jobs[n.job].needs {
                    for d in graph.job_nodes(need) {
                        let _ = writeln!(out, "  n{d} -> n{i};");
                    }
                }
                // Order only: dashed.
                for &before in &graph.jobs[n.job].after {
                    for d in graph.job_nodes(before) {
                        let _ = writeln!(out, "  n{d} -> n{i} [style=dashed];");
                    }
                }
            }
            out.push_str("}\n");
        }
        Format::Mermaid => {
            out.push_str("flowchart LR\n");
            for (i, n) in nodes() {
                let _ = writeln!(out, "  n{i}[\"{}\"]", n.id.replace('"', "#quot;"));
            }
            for (i, n) in nodes() {
                for &need in &graph.jobs[n.job].needs {
                    for d in graph.job_nodes(need) {
                        let _ = writeln!(out, "  n{d} --> n{i}");
                    }
                }
                for &before in &graph.jobs[n.job].after {
                    for d in graph.job_nodes(before) {
                        let _ = writeln!(out, "  n{d} -.-> n{i}");
                    }
                }
            }
        }
        Format::Json => {
            let list: Vec<Value> = nodes()
                .map(|(i, n)| {
                    let matrix: Map<String, Value> = n
                        .matrix
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_json()))
                        .collect();
                    let mut node = json!({
                        "id": n.id,
                        "job": graph.jobs[n.job].id,
                        "matrix": matrix,
                        "needs": graph.node_needs(i),
                    });
                    // Only where there is one: graphs without `after` read as before.
                    let after: Vec<&str> = graph.jobs[n.job]
                        .after
                        .iter()
                        .flat_map(|&j| graph.job_nodes(j))
                        .map(|d| graph.nodes[d].id.as_str())
                        .collect();
                    if !after.is_empty() {
                        node["after"] = json!(after);
                    }
                    node
                })
                .collect();
            out = serde_json::to_string_pretty(&json!({ "nodes": list })).unwrap_or_default();
            out.push('\n');
        }
    }
    out
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
