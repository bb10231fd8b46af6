//! `orch runs` (the kept runs, newest first) and `orch logs NODE` (a node's log from the
//! latest run or a chosen one), read from `.orch/runs/`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use orch_engine::load::diag::Problem;
use orch_engine::report::summary::human_duration;
use serde_json::Value;

use crate::{Cli, Failure};

/// The workspace's `.orch/runs`, found from the playbook as every command finds it.
fn runs_dir(cli: &Cli) -> Result<PathBuf, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Problem::general(format!("cannot read the current directory: {e}")))?;
    let located = crate::locate(cli, &cwd)?;
    Ok(located.workspace.join(".orch").join("runs"))
}

fn summary(run: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).ok()?).ok()
}

/// `orch runs`: one line per kept run, newest first.
pub(crate) fn runs(cli: &Cli) -> Result<u8, Failure> {
    let dir = runs_dir(cli)?;
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                // Run folders only: not `last`, the link to the newest.
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    // Ids start with the UTC time to the second; within a second, the folder's own time
    // tells the order.
    let made = |id: &String| {
        std::fs::metadata(dir.join(id))
            .and_then(|m| m.modified())
            .ok()
    };
    ids.sort_by_cached_key(|id| {
        std::cmp::Reverse((id.get(..16).unwrap_or(id).to_owned(), made(id)))
    });
    let mut out = std::io::stdout().lock();
    if ids.is_empty() {
        let _ = writeln!(out, "no runs yet in {}", dir.display());
        return Ok(0);
    }
    for id in ids {
        let Some(s) = summary(&dir.join(&id)) else {
            let _ = writeln!(out, "{id}  (no summary: interrupted or still running)");
            continue;
        };
        let count = |k: &str| s["counts"][k].as_u64().unwrap_or(0);
        let duration = std::time::Duration::from_millis(s["duration_ms"].as_u64().unwrap_or(0));
        let _ = writeln!(
            out,
            "{id}  {:<9} {:>8}  {} nodes: {} cached, {} failed",
            s["status"].as_str().unwrap_or("?"),
            human_duration(duration),
            count("total"),
            count("cached"),
            count("failure"),
        );
    }
    Ok(0)
}

/// `orch logs [NODE] [--run ID]`: the node's log (every node of a job named by its id;
/// every node's of the run without one).
pub(crate) fn logs(cli: &Cli, node: Option<&str>, run: Option<&str>) -> Result<u8, Failure> {
    let dir = runs_dir(cli)?;
    let id = match run {
        Some(id) => id.to_owned(),
        None => std::fs::read_to_string(dir.join("latest"))
            .map(|id| id.trim().to_owned())
            .map_err(|_| Problem::general(format!("no runs yet in {}", dir.display())))?,
    };
    let run_dir = dir.join(&id);
    let Some(s) = summary(&run_dir) else {
        return Err(
            Problem::general(format!("no run {id} in {}", dir.display()))
                .with_help("`orch runs` lists the kept runs")
                .into(),
        );
    };
    let nodes = s["nodes"].as_array().cloned().unwrap_or_default();
    let chosen: Vec<&Value> = nodes
        .iter()
        .filter(|n| node.is_none_or(|node| n["id"] == node || n["job"] == node))
        .collect();
    if let (true, Some(node)) = (chosen.is_empty(), node) {
        let ids: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
        let mut problem = Problem::general(format!("run {id} has no node or job `{node}`"));
        problem.help = orch_engine::load::diag::did_you_mean(node, ids.iter().copied());
        return Err(problem.into());
    }
    let orch_dir = dir.parent().unwrap_or(&dir);
    let mut out = std::io::stdout().lock();
    for n in &chosen {
        let Some(log) = n["log"].as_str() else {
            continue;
        };
        if chosen.len() > 1 {
            let _ = writeln!(out, "── {}", n["id"].as_str().unwrap_or_default());
        }
        match std::fs::File::open(orch_dir.join(log)) {
            Ok(mut file) => {
                if std::io::copy(&mut file, &mut out).is_err() {
                    return Ok(0);
                }
            }
            Err(_) => {
                let _ = writeln!(out, "(no log: {} was not started)", n["id"]);
            }
        }
    }
    Ok(0)
}
