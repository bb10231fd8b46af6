//! `orch run`: select, check `requires`, run through the scheduler, write the summaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use orch_engine::diag::{Problem, did_you_mean};
use orch_engine::event::RunStatus;
use orch_engine::graph::Graph;
use orch_engine::sched::{self, RunOptions};
use orch_engine::summary::{RunReport, human_duration};
use orch_engine::{runs, targets};
use tokio::sync::watch;

use crate::{Cli, Failure, open, overrides, ui::Ui};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Job ids, node ids or globs; `!PATTERN` removes; none means every job
    targets: Vec<String>,
    /// How many nodes run at once (default: the number of CPUs)
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Set a var (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Set a matrix axis's values for the targeted jobs (repeatable)
    #[arg(long = "matrix", value_name = "AXIS=V1,V2")]
    matrix: Vec<String>,
    /// After a failure, still run every node that does not need the failed one
    #[arg(long)]
    keep_going: bool,
    /// Run everything even when cached (results are still stored)
    #[arg(long)]
    no_cache: bool,
    /// Also write the markdown summary here
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Also write summary.json here
    #[arg(long, value_name = "FILE")]
    json_summary: Option<PathBuf>,
    /// Write JUnit XML here (one test case per node)
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Use a profile's vars and targets
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Read secrets from this dotenv file instead of the environment
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<PathBuf>,
}

pub(crate) fn run(cli: &Cli, args: &RunArgs) -> Result<u8, Failure> {
    // A profile's vars and targets come first; the command line's win.
    let (located, session) = open(cli)?;
    let playbook = session.playbook()?;
    let mut vars = Vec::new();
    let mut chosen = args.targets.clone();
    if let Some(name) = &args.profile {
        let Some(profile) = playbook.profiles.get(name) else {
            let mut problem = Problem::general(format!("no profile `{name}` in the playbook"));
            problem.help = did_you_mean(name, playbook.profiles.keys().map(String::as_str));
            return Err(problem.into());
        };
        vars.extend(profile.vars.iter().map(|(k, v)| format!("{k}={v}")));
        if chosen.is_empty() {
            chosen.clone_from(&profile.targets);
        }
    }
    vars.extend(args.vars.iter().cloned());
    let overrides = overrides(&vars, &args.matrix, &chosen)?;
    let graph = session.graph(overrides)?;
    let selected = targets::select(&graph, &chosen)?;
    check_requires(&graph)?;
    let secrets = read_secrets(&graph, args.secrets_file.as_deref())?;

    let orch_dir = located.workspace.join(".orch");
    let run_dir = runs::create(&orch_dir).map_err(|e| {
        Problem::general(format!(
            "cannot create {}: {e}",
            orch_dir.join("runs").display()
        ))
    })?;
    let _ = std::fs::write(orch_dir.join(".gitignore"), "*\n");
    let scratch_dir = run_dir.path.join("tmp");
    let log_dir = run_dir.path.join("logs");
    let total = selected.iter().filter(|s| **s).count();
    let ui = Arc::new(Ui::new(
        graph.clone(),
        log_dir.clone(),
        total,
        cli.quiet,
        cli.verbose > 0,
    ));
    let options = RunOptions {
        workspace: located.workspace.clone(),
        run_id: run_dir.id.clone(),
        log_dir,
        scratch_dir: scratch_dir.clone(),
        jobs: args.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            |j| j as usize,
        ),
        keep_going: args.keep_going,
        selected,
        secrets,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Problem::general(format!("cannot start the runtime: {e}")))?;
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let (interrupt_tx, interrupt_rx) = watch::channel(0u8);
        tokio::spawn(forward_signals(interrupt_tx));
        sched::execute(graph.clone(), options, ui.clone(), interrupt_rx).await
    });
    let duration = started.elapsed();
    ui.finish();
    let _ = std::fs::remove_dir_all(&scratch_dir);

    let playbook_name = located.source.path.display().to_string();
    // Summaries name the playbook relative to its workspace, wherever orch was started.
    let playbook_file = located.path.file_name().map_or_else(
        || playbook_name.clone(),
        |f| f.to_string_lossy().into_owned(),
    );
    let report = RunReport {
        graph: &graph,
        run_id: &run_dir.id,
        playbook: &playbook_file,
        started_at: &run_dir.started_at,
        duration,
        status: outcome.status,
        results: &outcome.results,
        orch_dir: &orch_dir,
    };
    let json = serde_json::to_string_pretty(&report.json()).unwrap_or_default() + "\n";
    let markdown = report.markdown();
    write_file(&run_dir.path.join("summary.json"), &json);
    write_file(&run_dir.path.join("summary.md"), &markdown);
    if let Err(e) = runs::set_latest(&orch_dir, &run_dir.id) {
        eprintln!("warning: cannot update runs/latest: {e}");
    }
    if let Err(e) = runs::prune(&orch_dir) {
        eprintln!("warning: cannot prune old runs: {e}");
    }
    if let Some(path) = &args.summary {
        write_file(path, &markdown);
    }
    if let Some(path) = &args.json_summary {
        write_file(path, &json);
    }
    if let Some(path) = &args.junit {
        write_file(path, &report.junit());
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        append_file(Path::new(&path), &markdown);
    }

    let c = report.counts();
    if !cli.quiet || outcome.status != RunStatus::Success {
        let mark = match outcome.status {
            RunStatus::Success => "✅",
            RunStatus::Failure => "❌",
            RunStatus::Cancelled => "⚪",
        };
        eprintln!(
            "{mark} {} {}: {} nodes, {} succeeded, {} failed, {} skipped, {} cancelled in {} — {}",
            playbook_name,
            outcome.status.as_str(),
            c.total,
            c.success,
            c.failure,
            c.skipped,
            c.cancelled,
            human_duration(duration),
            run_dir
                .path
                .join("summary.md")
                .strip_prefix(&located.workspace)
                .unwrap_or(&run_dir.path)
                .display()
        );
    }
    Ok(match outcome.status {
        RunStatus::Success => 0,
        RunStatus::Failure => 1,
        RunStatus::Cancelled => 130,
    })
}

/// SIGINT/SIGTERM: the first stops gracefully, the next kills at once.
async fn forward_signals(level: watch::Sender<u8>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        let next = (*level.borrow()).saturating_add(1).min(2);
        if level.send(next).is_err() {
            return;
        }
    }
}

fn write_file(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("warning: cannot write {}: {e}", path.display());
    }
}

fn append_file(path: &Path, text: &str) {
    use std::io::Write;
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = result {
        eprintln!("warning: cannot append to {}: {e}", path.display());
    }
}

/// Every missing command and env var of `requires`, named before anything runs.
fn check_requires(graph: &Graph) -> Result<(), Problem> {
    let requires = &graph.playbook.requires;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut missing = Vec::new();
    for command in &requires.commands {
        let found =
            std::env::split_paths(&path).any(|dir| is_executable(&dir.join(&command.value)));
        if !found {
            missing.push(format!("command `{}` is not on PATH", command.value));
        }
    }
    for name in &requires.env {
        if std::env::var_os(&name.value).is_none_or(|v| v.is_empty()) {
            missing.push(format!("environment variable `{}` is not set", name.value));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let first = requires.commands.first().or(requires.env.first());
    let message = format!(
        "requires not met, nothing was run:\n  - {}",
        missing.join("\n  - ")
    );
    Err(match first {
        Some(at) => {
            Problem::at(&graph.playbook.source, at.span, message).with_label("required here")
        }
        None => Problem::general(message),
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The declared secrets' values: from `--secrets-file` (dotenv) or the environment.
fn read_secrets(graph: &Graph, file: Option<&Path>) -> Result<BTreeMap<String, String>, Problem> {
    let from_file = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Problem::general(format!("cannot read secrets file {}: {e}", path.display()))
            })?;
            let mut values = BTreeMap::new();
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let line = line.strip_prefix("export ").unwrap_or(line);
                let Some((k, v)) = line.split_once('=') else {
                    return Err(Problem::general(format!(
                        "{}:{}: expected NAME=VALUE",
                        path.display(),
                        number + 1
                    )));
                };
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(v);
                values.insert(k.trim().to_owned(), v.to_owned());
            }
            Some(values)
        }
        None => None,
    };
    Ok(graph
        .playbook
        .secrets
        .iter()
        .map(|name| {
            let value = match &from_file {
                Some(values) => values.get(&name.value).cloned(),
                None => std::env::var(&name.value).ok(),
            };
            (name.value.clone(), value.unwrap_or_default())
        })
        .collect())
}
