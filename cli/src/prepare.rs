//! What `run`, `plan`, `explain` and `watch` share: the selection from the command
//! line, the playbook loaded and its nodes selected, `requires` checked, secrets read,
//! the cache opened ([`Prepared`]), and the scheduler run on a fresh runtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orch_engine::cache::state;
use orch_engine::compile::graph::Graph;
use orch_engine::compile::targets;
use orch_engine::exec::github::{GitFacts, WorkflowRun};
use orch_engine::exec::scheduler::{self, CacheOptions, RunOptions, RunOutcome};
use orch_engine::load::diag::{Problem, did_you_mean};
use orch_engine::load::workspace::Located;
use orch_engine::report::event::{Event, Observer};
use orch_engine::report::runs;
use orch_engine::report::summary::RunReport;
use orch_store::{Backend, LocalStore, NoStore};
use tokio::sync::watch;

use crate::run::forward_signals;
use crate::{Cli, Failure, open, overrides};

/// What to run and with which values: shared by `run` and `plan`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Selection {
    /// Job ids, node ids or globs; `!PATTERN` removes; none means every job
    pub(crate) targets: Vec<String>,
    /// Set a var (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub(crate) vars: Vec<String>,
    /// Replace the values of a matrix axis, in the jobs that have it (of the targets, when named; repeatable)
    #[arg(long = "matrix", value_name = "AXIS=V1,V2")]
    pub(crate) matrix: Vec<String>,
    /// Use a profile's vars and targets
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Read secrets from this dotenv file instead of the environment
    #[arg(long, value_name = "FILE")]
    pub(crate) secrets_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) workflow: WorkflowArgs,
    #[command(flatten)]
    pub(crate) cache: crate::CacheArgs,
    #[command(flatten)]
    pub(crate) remote: crate::remote::RemoteArgs,
}

/// What a GitHub Actions workflow's run is told (see docs/github-actions.md).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WorkflowArgs {
    /// A workflow's triggering event: `github.event_name`, checked against its `on:`
    #[arg(
        long,
        value_name = "NAME",
        default_value = "push",
        help_heading = "GitHub Actions workflows"
    )]
    pub(crate) event: String,
    /// A workflow's event payload (JSON): `github.event`
    #[arg(long, value_name = "FILE", help_heading = "GitHub Actions workflows")]
    pub(crate) event_file: Option<PathBuf>,
    /// A workflow's input (`workflow_dispatch`), as `inputs.NAME` (repeatable)
    #[arg(
        long = "input",
        value_name = "NAME=VALUE",
        help_heading = "GitHub Actions workflows"
    )]
    pub(crate) inputs: Vec<String>,
    /// Run jobs whose `runs-on` has this label here (repeatable)
    #[arg(
        long = "runner",
        value_name = "LABEL=local",
        help_heading = "GitHub Actions workflows"
    )]
    pub(crate) runners: Vec<String>,
}

impl Default for WorkflowArgs {
    fn default() -> Self {
        Self {
            event: "push".to_owned(),
            event_file: None,
            inputs: Vec::new(),
            runners: Vec::new(),
        }
    }
}

/// A playbook loaded, its nodes selected, and its cache opened.
pub(crate) struct Prepared {
    pub(crate) located: Located,
    pub(crate) graph: Arc<Graph>,
    pub(crate) selected: Vec<bool>,
    pub(crate) secrets: BTreeMap<String, String>,
    pub(crate) orch_dir: PathBuf,
    pub(crate) store: Arc<dyn Backend>,
    /// The remote cache behind the local store, when one is used.
    pub(crate) remote: Option<Arc<orch_remote::TieredStore>>,
    /// Where steps run when not here (`--remote-exec`).
    pub(crate) executor: Option<Arc<orch_remote::RemoteExecutor>>,
    /// `--remote-exec-jobs marked`.
    pub(crate) remote_jobs_marked: bool,
    pub(crate) cache_dir: PathBuf,
    /// A GitHub Actions workflow's run facts (event, inputs, git); `None` for a playbook.
    pub(crate) workflow: Option<Arc<WorkflowRun>>,
}

/// `peek_only` for plans: a remote cache is asked what it holds, nothing is downloaded.
pub(crate) fn prepare(
    cli: &Cli,
    selection: &Selection,
    peek_only: bool,
) -> Result<Prepared, Failure> {
    let (located, session) = open(cli)?;
    // A profile's vars and targets come first; the command line's win.
    let mut vars = Vec::new();
    let mut chosen = selection.targets.clone();
    if let Some(name) = &selection.profile {
        let playbook = match session.playbook() {
            Ok(playbook) => playbook,
            // Every problem in one round: those of the command line's `--var`/`--matrix`
            // included (a profile's cannot be known from a playbook that does not load).
            Err(problems) => {
                return Err(
                    match overrides(&selection.vars, &selection.matrix, &selection.targets) {
                        Ok(overrides) => session.graph(overrides).err().unwrap_or(problems).into(),
                        Err(_) => problems.into(),
                    },
                );
            }
        };
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
    // Without a profile the playbook is not parsed before the graph is asked for (a
    // remembered graph needs no parse); a playbook's own problems still come before
    // those of the command line.
    let overrides = overrides(&vars, &selection.matrix, &chosen).map_err(|e| {
        session
            .playbook()
            .err()
            .map_or_else(|| e.into(), Failure::from)
    })?;
    let graph = session.graph(overrides)?;
    graph.check_on_disk(&located.workspace)?;
    let selected = targets::select(&graph, &chosen)?;
    check_requires(&graph)?;
    let secrets = read_secrets(&graph, &selected, selection.secrets_file.as_deref())?;
    let workflow = match &graph.playbook.workflow {
        Some(facts) => {
            let run = workflow_run(&graph, &located, selection)?;
            tell_not_applied(&graph.playbook.source, &facts.not_applied);
            Some(Arc::new(run))
        }
        None => None,
    };
    let orch_dir = located.workspace.join(".orch");
    let cache = cli.cache(&selection.cache);
    let cache_dir = match &cache.dir {
        Some(dir) => std::env::current_dir()
            .map(|cwd| cwd.join(dir))
            .unwrap_or_else(|_| dir.clone()),
        None => orch_dir.join("cache"),
    };
    // A cache that cannot be opened costs speed, never the run.
    let group = cache.mode == crate::CacheMode::Group;
    let mut remote = None;
    let store: Arc<dyn Backend> = match LocalStore::open_with_mode(&cache_dir, group) {
        Ok(local) => match crate::remote::tiered(&selection.remote, local, peek_only)? {
            Ok(tiered) => {
                remote = Some(tiered.clone());
                tiered
            }
            Err(local) => Arc::new(local),
        },
        Err(e) => {
            tell!(
                "warning: the cache is off for this run: cannot open {}: {e}",
                cache_dir.display()
            );
            Arc::new(NoStore)
        }
    };
    let executor = if peek_only {
        None
    } else {
        crate::remote::executor(&selection.remote, &cache_dir)?
    };
    Ok(Prepared {
        located,
        graph,
        selected,
        secrets,
        orch_dir,
        store,
        remote,
        executor,
        remote_jobs_marked: selection.remote.remote_exec_jobs == crate::remote::RemoteJobs::Marked,
        cache_dir,
        workflow,
    })
}

/// What a workflow says that a local run cannot honour, once per key at its first place
/// (per job for `services` and `container`, which the job runs without).
fn tell_not_applied(
    source: &orch_engine::load::diag::SourceFile,
    not_applied: &[orch_engine::load::model::NotApplied],
) {
    let mut told: Vec<&str> = Vec::new();
    for item in not_applied {
        let last = item.key.rsplit('.').next().unwrap_or(&item.key);
        let per_job = matches!(last, "services" | "container");
        let said = if per_job { item.key.as_str() } else { last };
        if told.contains(&said) {
            continue;
        }
        told.push(said);
        let at = Problem::at(source, item.span, "")
            .location()
            .unwrap_or_default();
        tell!("note: {at}: `{said}` is not applied: {}", item.why);
    }
}

/// A workflow's run facts from the command line and git: the event must be one of its
/// `on:` triggers, the payload JSON, each input one it declares.
fn workflow_run(
    graph: &Graph,
    located: &Located,
    selection: &Selection,
) -> Result<WorkflowRun, Failure> {
    let playbook = &graph.playbook;
    let triggers = playbook
        .workflow
        .as_ref()
        .map(|w| w.triggers.as_slice())
        .unwrap_or_default();
    let git = GitFacts::read(&located.workspace);
    let mut changed = || orch_engine::exec::github::changed_files(&located.workspace);
    if let Some(why) = orch_engine::exec::github::not_triggered(
        triggers,
        &selection.workflow.event,
        &git,
        &mut changed,
    ) {
        let events: Vec<&str> = triggers.iter().map(|t| t.event.value.as_str()).collect();
        let mut problem = Problem::general(format!(
            "{} does not run on `{}`: {why}",
            located.source.path.display(),
            selection.workflow.event,
        ));
        problem.help = did_you_mean(&selection.workflow.event, events.iter().copied())
            .filter(|_| !events.contains(&selection.workflow.event.as_str()))
            .or_else(|| {
                Some(format!(
                    "name another event with --event (this one has: {})",
                    events.join(", ")
                ))
            });
        return Err(problem.into());
    }
    let event = match &selection.workflow.event_file {
        None => serde_json::Value::Object(Default::default()),
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                Problem::general(format!("cannot read --event-file {}: {e}", file.display()))
            })?;
            serde_json::from_str(&text).map_err(|e| {
                Problem::general(format!(
                    "--event-file {}:{}:{}: not JSON: {e}",
                    file.display(),
                    e.line(),
                    e.column()
                ))
            })?
        }
    };
    let mut inputs = Vec::new();
    for given in &selection.workflow.inputs {
        let Some((name, value)) = given.split_once('=') else {
            return Err(Problem::general(format!("--input {given}: expected NAME=VALUE")).into());
        };
        if !playbook.inputs.contains_key(name) {
            let mut problem = Problem::general(format!(
                "--input {name}: the workflow has no input `{name}`"
            ));
            problem.help = did_you_mean(name, playbook.inputs.keys().map(String::as_str));
            return Err(problem.into());
        }
        inputs.push((name.to_owned(), value.to_owned()));
    }
    let mut local_labels = Vec::new();
    for given in &selection.workflow.runners {
        match given.split_once('=') {
            Some((label, "local")) => local_labels.push(label.to_owned()),
            _ => {
                return Err(
                    Problem::general(format!("--runner {given}: expected LABEL=local")).into(),
                );
            }
        }
    }
    let workflow = playbook.name.clone().unwrap_or_else(|| {
        located
            .source
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(WorkflowRun {
        event_name: selection.workflow.event.clone(),
        event,
        local_labels,
        inputs,
        workflow,
        git,
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
            artifacts_dir: run_dir.join("artifacts"),
            scratch_dir: run_dir.join("tmp"),
            jobs,
            // On GitHub a failing job stops only what needs it: independent jobs of a
            // workflow run whatever another one did.
            keep_going: keep_going || self.graph.playbook.workflow.is_some(),
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
            workflow: self.workflow.clone(),
            offload: self
                .executor
                .clone()
                .map(|e| e as Arc<dyn orch_store::Offload>),
            offload_only_marked: self.remote_jobs_marked,
        }
    }

    /// Runs the scheduler to its end on a fresh runtime, with Ctrl-C handling.
    pub(crate) fn execute(
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
            let outcome = scheduler::execute(graph, options, observer, interrupt_rx).await;
            // Results go to the remote cache in the background: the run ends when they are
            // there (or have failed, each within the timeout).
            if let Some(remote) = &self.remote {
                remote.finish_uploads().await;
            }
            // Operations cancelled on the server (Ctrl-C) are told before the run ends.
            if let Some(executor) = &self.executor {
                executor.finish().await;
            }
            outcome
        }))
    }

    /// Plans the selected nodes: nothing runs, nothing is written.
    pub(crate) fn plan(&self) -> Result<RunOutcome, Failure> {
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
        if let Some(remote) = &self.remote
            && let Err(e) = remote.save_stats()
        {
            tell!("warning: cannot keep the remote cache's statistics: {e}");
        }
        let cached: Vec<runs::CachedLog> = outcome
            .results
            .iter()
            .enumerate()
            .filter_map(|(node, r)| {
                let r = r.as_ref().filter(|r| r.cached && r.has_log)?;
                Some(runs::CachedLog {
                    file_name: format!(
                        "{}.log",
                        orch_engine::report::runs::node_file_name(&self.graph, node)
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
        let temp = orch_store::temp_beside(&json);
        if let Err(e) = orch_store::replace_through(&temp, &json, |f| report.write_json(f)) {
            tell!("warning: cannot write {}: {e}", json.display());
        }
        let markdown = report.markdown();
        let md = run_dir.path.join("summary.md");
        if let Err(e) = orch_store::replace_file(&md, markdown.as_bytes()) {
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

/// Every missing command and env var of `requires`, named before anything runs.
pub(crate) fn check_requires(graph: &Graph) -> Result<(), Problem> {
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
pub(crate) fn shown_from_here(path: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => orch_engine::files::paths::shown_from(&cwd, path),
        Err(_) => path.to_path_buf(),
    }
}

/// The declared secrets' values: from `--secrets-file` (dotenv) or the environment. A
/// required secret that a selected job reads and that is not set is an error, before
/// anything runs (never a silent `""`).
pub(crate) fn read_secrets(
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
            // A workflow's secret names are case-insensitive (GitHub keeps them upper
            // case): `secrets.deploy_key` reads DEPLOY_KEY when deploy_key is not set.
            let upper = (graph.playbook.workflow.is_some()
                && name.value != name.value.to_ascii_uppercase())
            .then(|| name.value.to_ascii_uppercase());
            let lookup = |key: &str| match &from_file {
                Some(values) => values.get(key).cloned(),
                None => std::env::var(key).ok(),
            };
            let value = lookup(&name.value).or_else(|| upper.as_deref().and_then(lookup));
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
