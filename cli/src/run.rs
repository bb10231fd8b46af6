//! `orch run`: the selected nodes run through the scheduler, the terminal view and the
//! event stream told, summaries written, Ctrl-C handled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use orch_engine::cache::state;
use orch_engine::files::paths::within_workspace;
use orch_engine::load::diag::Problem;
use orch_engine::report::event::{Fanout, NodeStatus, Observer, RunStatus};
use orch_engine::report::runs;
use orch_engine::report::stream::EventStream;
use orch_engine::report::summary::human_duration;
use tokio::sync::watch;

use crate::plan::print_plan;
use crate::prepare::{Selection, default_jobs, prepare, shown_from_here};
use crate::{Cli, Failure, ui::Ui};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    selection: Selection,
    /// How many nodes run at once (default: the number of CPUs)
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// After a failure, still run every node that does not need the failed one
    #[arg(long)]
    keep_going: bool,
    /// Run everything even when cached (results are still stored)
    #[arg(long)]
    no_cache: bool,
    /// Run nothing: show what would run, as `orch plan` does
    #[arg(long)]
    dry_run: bool,
    /// Also write the markdown summary here
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Also write summary.json here
    #[arg(long, value_name = "FILE")]
    json_summary: Option<PathBuf>,
    /// Write JUnit XML here (one test case per node)
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Stream the run's events as JSON lines to FILE, or to stdout with `-` (the rest
    /// of the output then goes to stderr)
    #[arg(long, value_name = "FILE|-", conflicts_with = "dry_run")]
    events: Option<PathBuf>,
    /// Exit as AitherZero's engine did, for scripts that read its statuses: 10 for a
    /// partial success (a success with failures it allows, or, without a `success:` gate,
    /// a run that went on past its failures to every node, as `StopOnError = $false`
    /// does), and a node that timed out recorded with exit code 124
    #[arg(long)]
    aitherzero_exit_codes: bool,
}

pub(crate) fn run(cli: &Cli, args: &RunArgs) -> Result<u8, Failure> {
    let prepared = prepare(cli, &args.selection, args.dry_run)?;
    if args.dry_run {
        let outcome = prepared.plan()?;
        print_plan(&prepared.graph, &outcome, false);
        return Ok(0);
    }
    let located = &prepared.located;
    let graph = prepared.graph.clone();
    let orch_dir = prepared.orch_dir.clone();
    let default_inputs = graph
        .jobs
        .iter()
        .any(|j| j.inputs.is_none() && j.cache && j.nodes.clone().any(|n| prepared.selected[n]));
    let in_git = located
        .workspace
        .ancestors()
        .any(|d| d.join(".git").exists());
    if !cli.quiet && default_inputs && !in_git && !orch_dir.join("runs").exists() {
        tell!(
            "note: {} is not in a git repository, so every file in it is an input of the jobs \
             that declare no `inputs`: a file one job writes makes the others run again. \
             Declare what each job writes (`outputs`), or what it reads (`inputs`).",
            match shown_from_here(&located.workspace) {
                p if p.as_os_str().is_empty() => "this folder".to_owned(),
                p => p.display().to_string(),
            }
        );
    }
    let to_stdout = args.events.as_deref() == Some(Path::new("-"));
    let events = match &args.events {
        None => None,
        Some(_) if to_stdout => Some(Arc::new(EventStream::new(
            graph.clone(),
            Box::new(std::io::stdout()),
        ))),
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| {
                Problem::general(format!("cannot write --events {}: {e}", path.display()))
            })?;
            Some(Arc::new(EventStream::new(graph.clone(), Box::new(file))))
        }
    };
    // What this run writes into the workspace is never an input by the default rule, in
    // this run and in every later command.
    let report_files: Vec<String> = [&args.events, &args.summary, &args.json_summary, &args.junit]
        .into_iter()
        .flatten()
        .filter(|path| !to_stdout || path.as_path() != Path::new("-"))
        .filter_map(|path| within_workspace(&located.workspace, path))
        .collect();
    if !report_files.is_empty()
        && let Err(e) = state::remember_report_files(&orch_dir, &report_files)
    {
        tell!("warning: cannot remember the report files: {e}");
    }
    let run_dir = runs::create(&orch_dir).map_err(|e| {
        Problem::general(format!(
            "cannot create {}: {e}",
            orch_dir.join("runs").display()
        ))
    })?;
    let _ = std::fs::write(orch_dir.join(".gitignore"), "*\n");
    let total = prepared.selected.iter().filter(|s| **s).count();
    let mut ui = Ui::new(
        graph.clone(),
        run_dir.path.join("logs"),
        prepared.store.clone(),
        total,
        cli.quiet,
        cli.verbose > 0,
    );
    if to_stdout {
        ui = ui.with_plain_to_stderr();
    }
    let ui = Arc::new(ui);
    let observer: Arc<dyn Observer> = match &events {
        Some(stream) => Arc::new(Fanout(vec![ui.clone(), stream.clone()])),
        None => ui.clone(),
    };
    let jobs = args.jobs.map_or_else(default_jobs, |j| j as usize);
    let options = prepared.options(
        run_dir.id.clone(),
        &run_dir.path,
        jobs,
        args.keep_going,
        args.no_cache,
        false,
    );
    let started = Instant::now();
    let mut outcome = prepared.execute(options, observer)?;
    if args.aitherzero_exit_codes {
        for result in outcome.results.iter_mut().flatten() {
            if result.timed_out && result.exit_code.is_none() {
                result.exit_code = Some(124);
            }
        }
    }
    let duration = started.elapsed();
    ui.finish();
    if let Some(e) = events.as_ref().and_then(|s| s.error()) {
        tell!("warning: the event stream stopped: {e}");
    }
    let (json, markdown) = prepared.keep(&run_dir, &outcome, duration);
    let playbook_name = located.source.path.display().to_string();
    let report = prepared.report(&run_dir, &outcome, duration);
    if let Some(path) = &args.summary {
        write_file(path, &markdown);
    }
    if let Some(path) = &args.json_summary
        && let Err(e) = std::fs::copy(&json, path)
    {
        tell!("warning: cannot write {}: {e}", path.display());
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
        let remote_hits = outcome
            .results
            .iter()
            .flatten()
            .filter(|r| r.remote_hit)
            .count();
        let cached = match &prepared.remote {
            Some(_) => format!("{} cached, {remote_hits} of them remote", c.cached),
            None => format!("{} cached", c.cached),
        };
        tell!(
            "{mark} {} {}: {}, {} succeeded ({cached}), {} failed, {} skipped, {} cancelled in {} — {}",
            playbook_name,
            outcome.status.as_str(),
            crate::counted(c.total, "node"),
            c.success,
            c.failure,
            c.skipped,
            c.cancelled,
            human_duration(duration),
            shown_from_here(&run_dir.path.join("summary.md")).display()
        );
    }
    let results = || outcome.results.iter().flatten();
    // The old engine's 10, a partial success: the run succeeded with failures it allows
    // (continue-on-error, a `success:` gate's allowed failures), or, without a gate to
    // decide, some scripts failed and the run went on to all the others.
    let some_failed = results().any(|r| r.status == NodeStatus::Failure);
    let gated = graph.playbook.success.is_some();
    let went_on_past_failures = !gated
        && some_failed
        && results().any(|r| r.status == NodeStatus::Success)
        && results().all(|r| matches!(r.status, NodeStatus::Success | NodeStatus::Failure));
    let code = match outcome.status {
        RunStatus::Success if args.aitherzero_exit_codes && some_failed => 10,
        RunStatus::Failure if args.aitherzero_exit_codes && went_on_past_failures => 10,
        RunStatus::Success => 0,
        RunStatus::Failure => 1,
        RunStatus::Cancelled => 130,
    };
    // The process ends next: freeing every node's results and the key database one by
    // one would only cost time (a tenth of a 1,000-node no-op run).
    std::mem::forget(outcome);
    std::mem::forget(prepared);
    Ok(code)
}

/// SIGINT/SIGTERM: the first stops gracefully, the next kills at once.
pub(crate) async fn forward_signals(level: watch::Sender<u8>) {
    on_signals(move || {
        let next = (*level.borrow()).saturating_add(1).min(2);
        let _ = level.send(next);
    })
    .await;
}

/// Calls `react` on every SIGINT and SIGTERM, for as long as the runtime lives.
pub(crate) async fn on_signals(mut react: impl FnMut()) {
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
        react();
    }
}

fn write_file(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        tell!("warning: cannot write {}: {e}", path.display());
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
        tell!("warning: cannot append to {}: {e}", path.display());
    }
}
