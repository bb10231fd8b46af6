//! `orch run`, `orch plan` and `orch explain`: select, check `requires`, open the cache,
//! then run through the scheduler (or only plan), and report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use orch_engine::cache::key::short;
use orch_engine::cache::state;
use orch_engine::compile::graph::Graph;
use orch_engine::compile::targets;
use orch_engine::exec::scheduler::{self, CacheOptions, RunOptions, RunOutcome};
use orch_engine::files::paths::within_workspace;
use orch_engine::load::diag::{Problem, did_you_mean};
use orch_engine::load::workspace::Located;
use orch_engine::report::event::{Event, Fanout, Observer, RunStatus};
use orch_engine::report::runs;
use orch_engine::report::stream::EventStream;
use orch_engine::report::summary::{RunReport, human_duration};
use orch_store::{Backend, LocalStore, NoStore};
use serde_json::json;
use tokio::sync::watch;

use crate::{Cli, Failure, open, overrides, ui::Ui};

/// What to run and with which values: shared by `run` and `plan`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Selection {
    /// Job ids, node ids or globs; `!PATTERN` removes; none means every job
    targets: Vec<String>,
    /// Set a var (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Replace the values of a matrix axis, in the jobs that have it (of the targets, when named; repeatable)
    #[arg(long = "matrix", value_name = "AXIS=V1,V2")]
    matrix: Vec<String>,
    /// Use a profile's vars and targets
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Read secrets from this dotenv file instead of the environment
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<PathBuf>,
}

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
}

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
}

/// A playbook loaded, its nodes selected, and its cache opened.
pub(crate) struct Prepared {
    pub(crate) located: Located,
    pub(crate) graph: Arc<Graph>,
    pub(crate) selected: Vec<bool>,
    pub(crate) secrets: BTreeMap<String, String>,
    pub(crate) orch_dir: PathBuf,
    pub(crate) store: Arc<dyn Backend>,
    pub(crate) cache_dir: PathBuf,
}

pub(crate) fn prepare(cli: &Cli, selection: &Selection) -> Result<Prepared, Failure> {
    let (located, session) = open(cli)?;
    let playbook = session.playbook()?;
    // A profile's vars and targets come first; the command line's win.
    let mut vars = Vec::new();
    let mut chosen = selection.targets.clone();
    if let Some(name) = &selection.profile {
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
    vars.extend(selection.vars.iter().cloned());
    let overrides = overrides(&vars, &selection.matrix, &chosen)?;
    let graph = session.graph(overrides)?;
    graph.check_on_disk(&located.workspace)?;
    let selected = targets::select(&graph, &chosen)?;
    check_requires(&graph)?;
    let secrets = read_secrets(&graph, &selected, selection.secrets_file.as_deref())?;
    let orch_dir = located.workspace.join(".orch");
    let cache_dir = match &cli.cache_dir {
        Some(dir) => std::env::current_dir()
            .map(|cwd| cwd.join(dir))
            .unwrap_or_else(|_| dir.clone()),
        None => orch_dir.join("cache"),
    };
    // A cache that cannot be opened costs speed, never the run.
    let group = cli.cache_mode == crate::CacheMode::Group;
    let store: Arc<dyn Backend> = match LocalStore::open_with_mode(&cache_dir, group) {
        Ok(store) => Arc::new(store),
        Err(e) => {
            tell!(
                "warning: the cache is off for this run: cannot open {}: {e}",
                cache_dir.display()
            );
            Arc::new(NoStore)
        }
    };
    Ok(Prepared {
        located,
        graph,
        selected,
        secrets,
        orch_dir,
        store,
        cache_dir,
    })
}

impl Prepared {
    pub(crate) fn options(
        &self,
        run_id: String,
        run_dir: &Path,
        jobs: usize,
        keep_going: bool,
        force: bool,
        plan: bool,
    ) -> RunOptions {
        let workspace = &self.located.workspace;
        let cache_dir =
            std::fs::canonicalize(&self.cache_dir).unwrap_or_else(|_| self.cache_dir.clone());
        let skip_dirs = cache_dir
            .strip_prefix(workspace)
            .map(Path::to_path_buf)
            .into_iter()
            .collect();
        RunOptions {
            workspace: workspace.clone(),
            run_id,
            log_dir: run_dir.join("logs"),
            scratch_dir: run_dir.join("tmp"),
            jobs,
            keep_going,
            selected: self.selected.clone(),
            secrets: self.secrets.clone(),
            cache: CacheOptions {
                backend: self.store.clone(),
                force,
                last_keys: state::LastKeys::load(&self.orch_dir),
                skip_dirs,
                not_inputs: state::report_file_patterns(&self.orch_dir),
                stat_cache: state::stat_cache_path(&self.orch_dir),
            },
            plan,
            db: None,
            refresh_known_files: true,
            changes: None,
        }
    }

    /// Runs the scheduler to its end on a fresh runtime, with Ctrl-C handling.
    fn execute(
        &self,
        options: RunOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<RunOutcome, Failure> {
        // One thread: the jobs are processes, their output is pumped asynchronously and
        // results are hashed on the blocking pool. On the 2-core machine the suite runs
        // on, worker threads competed with the jobs themselves (1,000 and 10,000 trivial
        // jobs at -j 2: 1.3-1.4× ninja with one thread, 1.5-2.4× with workers, in the
        // suite's runs). The price: while the scheduler hashes a large changed input or
        // restores a large output, running nodes' output and timers wait for it.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Problem::general(format!("cannot start the runtime: {e}")))?;
        let graph = self.graph.clone();
        Ok(runtime.block_on(async {
            let (interrupt_tx, interrupt_rx) = watch::channel(0u8);
            tokio::spawn(forward_signals(interrupt_tx));
            scheduler::execute(graph, options, observer, interrupt_rx).await
        }))
    }

    /// Plans the selected nodes: nothing runs, nothing is written.
    fn plan(&self) -> Result<RunOutcome, Failure> {
        let options = self.options(
            "plan".into(),
            &self.orch_dir.join("plan"),
            1,
            true,
            false,
            true,
        );
        self.execute(options, Arc::new(Silent))
    }
}

impl Prepared {
    /// After a run: scratch removed, keys remembered, summaries written, `latest` moved,
    /// old runs pruned. Returns summary.json's path and summary.md's text.
    pub(crate) fn keep(
        &self,
        run_dir: &runs::RunDir,
        outcome: &RunOutcome,
        duration: std::time::Duration,
    ) -> (PathBuf, String) {
        let _ = std::fs::remove_dir_all(run_dir.path.join("tmp"));
        let cached: Vec<runs::CachedLog> = outcome
            .results
            .iter()
            .enumerate()
            .filter_map(|(node, r)| {
                let r = r.as_ref().filter(|r| r.cached && r.has_log)?;
                Some(runs::CachedLog {
                    file_name: format!(
                        "{}.log",
                        orch_engine::report::runs::file_safe(&self.graph.nodes[node].id)
                    ),
                    blob: r.cached_log,
                })
            })
            .collect();
        let anything_ran = outcome
            .results
            .iter()
            .flatten()
            .any(|r| r.has_log && !r.cached);
        if !cached.is_empty() {
            // The backend answers asynchronously: a local store at once, without a runtime.
            let mut placing = Box::pin(runs::place_logs(
                &self.orch_dir,
                &run_dir.path,
                &cached,
                anything_ran,
                self.store.as_ref(),
            ));
            if orch_store::answered_now(&mut placing).is_none() {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(placing),
                    Err(e) => tell!("warning: cannot place the cached logs: {e}"),
                }
            }
        }
        if let Err(e) = state::save_keys(&self.orch_dir, &outcome.last_keys, &outcome.fresh_keys) {
            tell!("warning: cannot save node keys: {e}");
        }
        let report = self.report(run_dir, outcome, duration);
        let json = run_dir.path.join("summary.json");
        // Whole or not at all: a CI step or `orch runs` may read them meanwhile.
        let whole = orch_store::Durability::Whole;
        let temp = orch_store::temp_beside(&json);
        if let Err(e) = orch_store::replace_through(&temp, &json, whole, |f| report.write_json(f)) {
            tell!("warning: cannot write {}: {e}", json.display());
        }
        let markdown = report.markdown();
        let md = run_dir.path.join("summary.md");
        if let Err(e) = orch_store::replace_file(&md, markdown.as_bytes(), whole) {
            tell!("warning: cannot write {}: {e}", md.display());
        }
        if let Err(e) = runs::set_latest(&self.orch_dir, &run_dir.id) {
            tell!("warning: cannot update runs/latest: {e}");
        }
        if let Err(e) = runs::prune(&self.orch_dir) {
            tell!("warning: cannot prune old runs: {e}");
        }
        (json, markdown)
    }

    pub(crate) fn report<'a>(
        &'a self,
        run_dir: &'a runs::RunDir,
        outcome: &'a RunOutcome,
        duration: std::time::Duration,
    ) -> RunReport<'a> {
        RunReport {
            graph: &self.graph,
            run_id: &run_dir.id,
            playbook: self.playbook_file(),
            started_at: &run_dir.started_at,
            duration,
            status: outcome.status,
            results: &outcome.results,
            orch_dir: &self.orch_dir,
        }
    }

    /// The playbook relative to its workspace, as summaries name it.
    fn playbook_file(&self) -> &str {
        self.located
            .path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("orch.yml")
    }
}

/// An observer for plans: a plan prints its table at the end.
struct Silent;

impl Observer for Silent {
    fn event(&self, event: &Event) {
        if let Event::Warning(warning) = event {
            tell!("warning: {warning}");
        }
    }
}

pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub(crate) fn plan(cli: &Cli, args: &PlanArgs) -> Result<u8, Failure> {
    let prepared = prepare(cli, &args.selection)?;
    let outcome = prepared.plan()?;
    print_plan(&prepared.graph, &outcome, args.json);
    Ok(0)
}

/// `cached`, `run` or `blocked` (and `skipped`/`cancelled` for what would not run) per node.
fn print_plan(graph: &Graph, outcome: &RunOutcome, as_json: bool) {
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
    say!(
        "{}: {} cached, {} to run, {} blocked",
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
        secrets_file: None,
    };
    let prepared = prepare(cli, &selection)?;
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
        say!("  need {need}  result {}", short(digest));
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

pub(crate) fn run(cli: &Cli, args: &RunArgs) -> Result<u8, Failure> {
    let prepared = prepare(cli, &args.selection)?;
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
            shown_from_here(&located.workspace).display()
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
    let outcome = prepared.execute(options, observer)?;
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
        tell!(
            "{mark} {} {}: {}, {} succeeded ({} cached), {} failed, {} skipped, {} cancelled in {} — {}",
            playbook_name,
            outcome.status.as_str(),
            crate::counted(c.total, "node"),
            c.success,
            c.cached,
            c.failure,
            c.skipped,
            c.cancelled,
            human_duration(duration),
            shown_from_here(&run_dir.path.join("summary.md")).display()
        );
    }
    let code = match outcome.status {
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

/// A path as the user would type it from the current folder.
fn shown_from_here(path: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => orch_engine::files::paths::shown_from(&cwd, path),
        Err(_) => path.to_path_buf(),
    }
}

/// The declared secrets' values: from `--secrets-file` (dotenv) or the environment. A
/// required secret that a selected job reads and that is not set is an error, before
/// anything runs (never a silent `""`).
fn read_secrets(
    graph: &Graph,
    selected: &[bool],
    file: Option<&Path>,
) -> Result<BTreeMap<String, String>, Problem> {
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
    let values: BTreeMap<String, Option<String>> = graph
        .playbook
        .secrets
        .iter()
        .map(|name| {
            let value = match &from_file {
                Some(values) => values.get(&name.value).cloned(),
                None => std::env::var(&name.value).ok(),
            };
            (name.value.clone(), value)
        })
        .collect();
    let optional = &graph.playbook.optional_secrets;
    let mut missing: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (index, job) in graph.jobs.iter().enumerate() {
        if !job.nodes.clone().any(|n| selected[n]) {
            continue;
        }
        for name in graph.secrets_read_by(index) {
            if matches!(values.get(&name), Some(None)) && !optional.contains(&name) {
                missing.entry(name).or_default().push(&job.id);
            }
        }
    }
    if let Some((name, jobs)) = missing.iter().next() {
        let from = file.map_or_else(
            || "the environment".to_owned(),
            |f| format!("--secrets-file {}", f.display()),
        );
        let others: Vec<&str> = missing.keys().skip(1).map(String::as_str).collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!(" (also unset: {})", others.join(", "))
        };
        return Err(Problem::general(format!(
            "secret {name} is not set in {from}; {} reads it{also}",
            jobs.iter()
                .map(|j| format!("`{j}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_help(format!(
            "set {name}, or declare it optional: `secrets: {{ {name}: {{ required: false }} }}`"
        )));
    }
    Ok(values
        .into_iter()
        .map(|(name, value)| (name, value.unwrap_or_default()))
        .collect())
}
