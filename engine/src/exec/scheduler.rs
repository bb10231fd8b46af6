//! The scheduler: runs the selected nodes of a sealed graph on tokio, in dependency
//! order, within `-j`, `max-parallel`, `fail-fast`, `--keep-going`, `if`, `retries` and
//! `timeout`. It knows nodes and processes; observers get events, never a terminal.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cache::inputs;
use crate::cache::key::{HostNote, KEY_VERSION, KeyComponents, KeyView};
use crate::cache::outputs;
use crate::cache::state::{FreshKey, LastKeys, RecordUpdate};
use crate::compile::expr::{self, Expr, Scope, Template};
use crate::compile::graph::{Body, Graph, Uses};
use crate::db::{self, Database, Db, FileList};
use crate::exec::mask::Secrets;
use crate::exec::process::{self, Cancel, Outcome, Spawn};
use crate::load::model::Shell;
use crate::report::event::{Event, NodeResult, NodeStatus, Observer, PlanAction, RunStatus};
use orch_store::{Backend, Digest};
use salsa::Setter;

pub struct RunOptions {
    pub workspace: PathBuf,
    pub run_id: String,
    /// Where logs go (`.orch/runs/RUN_ID/logs`).
    pub log_dir: PathBuf,
    /// Scratch space for scripts and output files, removed by the caller afterwards.
    pub scratch_dir: PathBuf,
    pub jobs: usize,
    pub keep_going: bool,
    pub selected: Vec<bool>,
    /// Values of the playbook's secrets, read from the host or a secrets file.
    pub secrets: BTreeMap<String, String>,
    pub cache: CacheOptions,
    /// `orch plan`: decide cached / run / blocked for each node, run nothing.
    pub plan: bool,
    /// The key database of a previous run (watch keeps one); a fresh one when `None`.
    pub db: Option<Database>,
    /// Stat every file the database knows before the first key. Off when the caller
    /// already told the database which files changed (watch).
    pub refresh_known_files: bool,
    /// Files that change during the run (watch): a running node that reads one is
    /// cancelled, so the next round runs it on the new content. [`EVERYTHING`] stands for
    /// every file (the watcher lost events).
    pub changes: Option<tokio::sync::mpsc::UnboundedReceiver<Vec<String>>>,
}

/// A program found for a node's key: (name, the node's PATH, the folder the search
/// depended on, the executable's digest).
type FoundTool = (String, Option<String>, Option<PathBuf>, Digest);

/// A changed path that stands for every file of the workspace: what a watcher reports
/// when it lost events (a queue overflow, an error), so nothing is trusted to be as it was.
pub const EVERYTHING: &str = ".";

pub struct CacheOptions {
    pub backend: Arc<dyn Backend>,
    /// `--no-cache`: run every node, still store the results.
    pub force: bool,
    /// Each node's key components at its last run, to say why a key changed.
    pub last_keys: LastKeys,
    /// Folders never read as inputs (the cache directory, when inside the workspace).
    pub skip_dirs: Vec<PathBuf>,
    /// Where the stat cache lives (`.orch/state/stat-cache`).
    pub stat_cache: PathBuf,
}

pub struct RunOutcome {
    pub status: RunStatus,
    /// One entry per node; `None` for nodes that were not selected.
    pub results: Vec<Option<NodeResult>>,
    /// The key components computed this run, by node id.
    pub fresh_keys: Vec<FreshKey>,
    /// The keys the run started from (`CacheOptions::last_keys`), given back.
    pub last_keys: LastKeys,
    /// The key database, for the next run to reuse.
    pub db: Database,
}

struct State<'g> {
    graph: &'g Graph,
    options: &'g RunOptions,
    results: Vec<Option<NodeResult>>,
    /// Selected nodes of each job not finished yet.
    unfinished: Vec<usize>,
    released: Vec<bool>,
    running_per_job: Vec<usize>,
    running: usize,
    ready: VecDeque<usize>,
    /// A node failed and `--keep-going` is off: start nothing new but `always()`-like nodes.
    halted: bool,
    /// Jobs whose `fail-fast` tripped.
    failed_fast: Vec<bool>,
    /// Some node of the job, or of a job it needs transitively, failed.
    failure_upstream: Vec<bool>,
    cancel_level: u8,
    run_failed: bool,
    /// Set when a job has ended (all its selected nodes, or at once for a job with none).
    job_outcomes: Vec<Option<JobOutcome>>,
    /// Jobs that ended since their dependents were last looked at.
    newly_finished: Vec<usize>,
    env_cache: Vec<(String, String)>,
    base_scope: NodeScope,
    /// `base_scope` with the root playbook's env: what every root node starts from.
    root_scope: NodeScope,
    secrets: Secrets,
    /// The key queries (salsa): file digests and input sets, memoized across nodes.
    db: Database,
    /// The value of `changes` when known files were last stat-ed again, and when the
    /// workspace was last listed.
    refreshed_at: Option<u64>,
    listed_at: Option<u64>,
    /// How many times nodes may have changed the workspace (a node ran, or a restore
    /// wrote files).
    changes: u64,
    /// `changes` when each job was released: its keys need a listing at least that new.
    job_epoch: Vec<u64>,
    /// Never inputs by default: every declared output and every playbook file.
    not_inputs: Vec<String>,
    fresh_keys: Vec<FreshKey>,
    /// `Graph::transitive_needs`: whose results each job's keys hold.
    all_needs: Vec<Vec<usize>>,
    /// Interpreter and tool digests by (program, the node's PATH), found once per run.
    tool_memo: std::cell::RefCell<Vec<FoundTool>>,
    /// `key::platform()`, once.
    platform: String,
    /// orch's own PATH, what a node without one of its own searches.
    host_path: String,
    /// Problems that belong to no node (a reusable playbook's `outputs`), shown at the end.
    warnings: Vec<String>,
    /// Folders of rendered paths already checked to stay inside the workspace.
    path_checks: std::cell::RefCell<crate::load::workspace::CheckedFolders>,
    /// Each job's view of the other jobs' declared outputs (`claimed_by_others`).
    others_outputs: std::cell::RefCell<HashMap<usize, crate::files::Patterns>>,
    /// Input globs compiled to tell whether each matched a file.
    pattern_memo: std::cell::RefCell<HashMap<String, crate::files::Patterns>>,
}

pub async fn execute(
    graph: Arc<Graph>,
    options: RunOptions,
    observer: Arc<dyn Observer>,
    mut interrupts: watch::Receiver<u8>,
) -> RunOutcome {
    let mut options = options;
    let mut changes = options.changes.take();
    let db = match options.db.take() {
        Some(db) => {
            db.start_round();
            db
        }
        None => Database::for_workspace(&options.workspace, &options.cache.stat_cache),
    };
    let jobs = graph.jobs.len();
    if !options.plan {
        let _ = std::fs::create_dir_all(&options.scratch_dir);
    }
    let mut state = State {
        graph: &graph,
        options: &options,
        results: vec![None; graph.nodes.len()],
        unfinished: graph
            .jobs
            .iter()
            .map(|j| j.nodes.clone().filter(|n| options.selected[*n]).count())
            .collect(),
        released: vec![false; jobs],
        running_per_job: vec![0; jobs],
        running: 0,
        ready: VecDeque::new(),
        halted: false,
        failed_fast: vec![false; jobs],
        failure_upstream: vec![false; jobs],
        cancel_level: 0,
        run_failed: false,
        job_outcomes: vec![None; jobs],
        newly_finished: Vec::new(),
        base_scope: State::base_scope(&graph, &options),
        root_scope: NodeScope::default(),
        secrets: Secrets::new(options.secrets.values().map(String::as_str)),
        db,
        refreshed_at: None,
        listed_at: None,
        changes: 0,
        job_epoch: vec![0; jobs],
        not_inputs: not_inputs(&graph),
        fresh_keys: Vec::new(),
        env_cache: Vec::new(),
        all_needs: graph.transitive_needs(),
        tool_memo: Default::default(),
        platform: crate::cache::key::platform(),
        host_path: std::env::var("PATH").unwrap_or_default(),
        path_checks: Default::default(),
        warnings: Vec::new(),
        pattern_memo: Default::default(),
        others_outputs: Default::default(),
    };
    let (env, problems) = state.render_top_env();
    state.env_cache = env;
    state.root_scope = state.root_scope();
    state.root_scope.problems = problems;
    // Each running node has its own cancel channel: a run-wide cancel reaches them all,
    // a changed input only the nodes that read it.
    let mut node_cancels: HashMap<usize, watch::Sender<u8>> = HashMap::new();
    // Nodes started after the first interrupt (their `if` asked to): only a second one
    // stops them.
    let mut cleanups: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut tasks: JoinSet<(usize, NodeResult)> = JoinSet::new();
    for &job in &graph.topo_order {
        state.release_if_ready(job);
    }
    loop {
        // Settle every node that can be decided now; start what fits.
        loop {
            let mut progressed = false;
            // Capacity is checked before deciding, so a full `-j` costs O(1) per pass
            // however long the queue is.
            let mut at_job_limit = VecDeque::new();
            while let Some(node) = state.ready.pop_front() {
                if state.running >= options.jobs.max(1) {
                    state.ready.push_front(node);
                    break;
                }
                let job = graph.nodes[node].job;
                if state.running_per_job[job] >= graph.jobs[job].max_parallel.unwrap_or(usize::MAX)
                {
                    at_job_limit.push_back(node);
                    continue;
                }
                match state.decide(node) {
                    Decision::Finish(result) => {
                        observer.event(&Event::NodeFinished {
                            node,
                            result: result.clone(),
                        });
                        state.finish(node, result);
                        progressed = true;
                    }
                    Decision::Run => {
                        let mut work = state.prepare(node);
                        if let Some(result) = state.consult_cache(node, &mut work) {
                            observer.event(&Event::NodeFinished {
                                node,
                                result: result.clone(),
                            });
                            state.finish(node, result);
                            progressed = true;
                            continue;
                        }
                        state.for_running(node, &mut work);
                        state.running += 1;
                        state.running_per_job[job] += 1;
                        let observer = observer.clone();
                        // A node that starts after a first Ctrl-C because its `if` says so
                        // (`always()`, `cancelled()`: cleanup, a report) runs to its end, as
                        // on GitHub; a second Ctrl-C still kills it.
                        let cleanup = state.cancel_level == 1;
                        let level = if cleanup { 0 } else { state.cancel_level };
                        let (cancel_tx, cancel) = watch::channel(level);
                        if cleanup {
                            cleanups.insert(node);
                        }
                        node_cancels.insert(node, cancel_tx);
                        tasks.spawn(async move { (node, work.run(node, observer, cancel).await) });
                    }
                }
            }
            at_job_limit.append(&mut state.ready);
            state.ready = at_job_limit;
            while let Some(job) = state.newly_finished.pop() {
                for &dependent in &graph.jobs[job].dependents {
                    if state.release_if_ready(dependent) {
                        progressed = true;
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            Some(joined) = tasks.join_next() => {
                let Ok((node, mut result)) = joined else { continue };
                node_cancels.remove(&node);
                if result.status == NodeStatus::Cancelled && state.cancel_level == 0 {
                    result.reason = Some("cancelled: a file it reads changed while it ran".into());
                }
                let job = graph.nodes[node].job;
                state.running -= 1;
                state.running_per_job[job] -= 1;
                observer.event(&Event::NodeFinished { node, result: result.clone() });
                state.finish(node, result);
            }
            changed = interrupts.changed(), if state.cancel_level < 2 => {
                if changed.is_err() {
                    state.cancel_level = 2;
                    continue;
                }
                let level = *interrupts.borrow();
                if level > state.cancel_level {
                    if state.cancel_level == 0 {
                        observer.event(&Event::Cancelling);
                    }
                    state.cancel_level = level;
                    for (node, cancel) in &node_cancels {
                        if level >= 2 || !cleanups.contains(node) {
                            let _ = cancel.send(level);
                        }
                    }
                }
            }
            paths = next_change(&mut changes), if changes.is_some() => {
                match paths {
                    None => changes = None,
                    Some(paths) => {
                        for (node, cancel) in &node_cancels {
                            if state.reads_any(*node, &paths) {
                                let _ = cancel.send(1);
                            }
                        }
                    }
                }
            }
        }
    }
    // Nodes never reached (their needs could not finish) end as cancelled.
    for (node, selected) in options.selected.iter().enumerate() {
        if *selected && state.results[node].is_none() {
            let result = NodeResult::not_run(NodeStatus::Cancelled, "never started");
            observer.event(&Event::NodeFinished {
                node,
                result: result.clone(),
            });
            state.results[node] = Some(result);
        }
    }
    let status = if state.cancel_level > 0 {
        RunStatus::Cancelled
    } else if state.run_failed {
        RunStatus::Failure
    } else {
        RunStatus::Success
    };
    for warning in &state.warnings {
        observer.event(&Event::Warning(warning.clone()));
    }
    if let Err(e) = state.db.save_stat_cache(&options.cache.stat_cache) {
        observer.event(&Event::Warning(format!("cannot save the stat cache: {e}")));
    }
    let (results, fresh_keys, db) = (state.results, state.fresh_keys, state.db);
    RunOutcome {
        status,
        results,
        fresh_keys,
        last_keys: std::mem::take(&mut options.cache.last_keys),
        db,
    }
}

/// The context values an expression reads (longest paths: `vars.profile`, not `vars`),
/// as text, for keys.
fn condition_values(condition: &Expr, scope: &NodeScope) -> Vec<(String, String)> {
    let mut longest: BTreeMap<usize, (Vec<String>, Expr)> = BTreeMap::new();
    expr::visit(condition, &mut |sub| {
        if let Some((path, at)) = expr::path_of(sub)
            && longest.get(&at).is_none_or(|(p, _)| p.len() < path.len())
        {
            longest.insert(
                at,
                (path.into_iter().map(str::to_owned).collect(), sub.clone()),
            );
        }
    });
    longest
        .into_values()
        .map(|(path, sub)| {
            let value = expr::eval(&sub, scope)
                .map(|v| expr::to_text(&v))
                .unwrap_or_default();
            (path.join("."), value)
        })
        .collect()
}

async fn next_change(
    changes: &mut Option<tokio::sync::mpsc::UnboundedReceiver<Vec<String>>>,
) -> Option<Vec<String>> {
    match changes {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// What the default-inputs rule leaves out: every job's declared outputs and the
/// playbook files themselves (their relevant text is in each key already).
fn not_inputs(graph: &Graph) -> Vec<String> {
    let mut patterns: Vec<String> = graph
        .jobs
        .iter()
        .flat_map(|j| j.outputs.iter().map(Template::as_glob))
        // An output that starts with an expression has no known place: leaving it out of
        // the exclusions keeps inputs (a miss at worst) instead of dropping everything.
        .filter(|glob| !glob.starts_with('*'))
        .collect();
    patterns.retain(|p| !p.starts_with('!'));
    // A rendered output (`out/${{ matrix.os }}`) may be a folder: what is under it, too.
    let folders: Vec<String> = patterns
        .iter()
        .filter(|p| !crate::files::is_literal(p))
        .map(|p| format!("{p}/**"))
        .collect();
    patterns.extend(folders);
    patterns.extend(graph.origins.iter().map(|o| o.path.display().to_string()));
    patterns
}

/// A job's result from its parts' results: any failure fails it, then any cancellation
/// cancels it; all skipped is skipped; else success.
fn aggregate(results: &[&str]) -> &'static str {
    if results.contains(&"failure") {
        "failure"
    } else if results.contains(&"cancelled") {
        "cancelled"
    } else if !results.is_empty() && results.iter().all(|r| *r == "skipped") {
        "skipped"
    } else {
        "success"
    }
}

#[derive(Clone)]
struct JobOutcome {
    result: &'static str,
    failed: bool,
    /// `needs.<job>` for expressions: `{ result, outputs }`.
    context: Value,
    /// What could not be rendered (a reusable playbook's `outputs`): the job failed.
    problems: Vec<String>,
}

// Returned by `decide` and consumed at once, like `Event`.
#[allow(clippy::large_enum_variant)]
enum Decision {
    Run,
    Finish(NodeResult),
}

impl State<'_> {
    /// Queues a job's nodes once every job it needs has finished. True when it did.
    fn release_if_ready(&mut self, job: usize) -> bool {
        if self.released[job]
            || self.graph.jobs[job]
                .needs
                .iter()
                .any(|n| self.job_outcomes[*n].is_none())
        {
            return false;
        }
        self.released[job] = true;
        self.job_epoch[job] = self.changes;
        let graph = self.graph;
        self.failure_upstream[job] = graph.jobs[job]
            .needs
            .iter()
            .any(|&n| self.failure_upstream[n] || self.job_failed(n));
        for node in graph.jobs[job].nodes.clone() {
            if self.options.selected[node] {
                self.ready.push_back(node);
            }
        }
        // A job with nothing to run (a `uses` job, an empty matrix) ends as it starts.
        if self.unfinished[job] == 0 {
            self.end_job(job);
        }
        true
    }

    /// Records a job's outcome once all its nodes have ended. A reusable playbook whose
    /// `outputs` could not be rendered fails the run, and says why.
    fn end_job(&mut self, job: usize) {
        let outcome = self.job_outcome(job);
        if !outcome.problems.is_empty() {
            self.run_failed = true;
            self.warnings.extend(
                outcome
                    .problems
                    .iter()
                    .map(|p| format!("job `{}`: {p}", self.graph.jobs[job].id)),
            );
        }
        self.job_outcomes[job] = Some(outcome);
        self.newly_finished.push(job);
    }

    /// Whether a finished job has a failed node (continue-on-error ones included).
    fn job_failed(&self, job: usize) -> bool {
        self.job_outcomes[job].as_ref().is_some_and(|o| o.failed)
    }

    fn finish(&mut self, node: usize, result: NodeResult) {
        if result.attempts > 0 && !result.cached {
            self.changes += 1;
        }
        let job = self.graph.nodes[node].job;
        let spec = &self.graph.jobs[job];
        if result.status == NodeStatus::Failure && !spec.continue_on_error {
            self.run_failed = true;
            // `fail-fast: false` says, as on GitHub, that this job's failure stops nothing:
            // its other legs and independent jobs go on (its dependents are skipped).
            if !self.options.keep_going && spec.fail_fast {
                self.halted = true;
            }
            if spec.fail_fast && spec.nodes.len() > 1 {
                self.failed_fast[job] = true;
            }
        }
        if result.status == NodeStatus::Failure && result.attempts > 0 {
            let id = &self.graph.nodes[node].id;
            if let Some(fresh) = self.fresh_keys.iter_mut().rev().find(|f| f.node == *id) {
                fresh.record = RecordUpdate::Failed;
            }
        }
        self.results[node] = Some(result);
        self.unfinished[job] -= 1;
        if self.unfinished[job] == 0 {
            self.end_job(job);
        }
    }

    /// A finished job as its dependents see it, computed once.
    fn job_outcome(&self, job: usize) -> JobOutcome {
        if let Body::Uses(uses) = &self.graph.jobs[job].body {
            return self.uses_outcome(uses);
        }
        let mut outputs = Map::new();
        let mut failed = false;
        for n in self.graph.jobs[job].nodes.clone() {
            if let Some(r) = &self.results[n] {
                failed |= r.status == NodeStatus::Failure;
                // The last node in expansion order that set an output wins.
                for (k, v) in &r.outputs {
                    outputs.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        let result = self.compute_job_result(job);
        let outcome = self.job_status(job, false);
        JobOutcome {
            result,
            failed,
            context: json!({ "result": result, "outcome": outcome, "outputs": outputs }),
            problems: Vec::new(),
        }
    }

    /// Whether a node's key covers any of `paths` (an input file or a script). A node
    /// without a key (`cache: false`) is not known to read anything.
    fn reads_any(&self, node: usize, paths: &[String]) -> bool {
        let id = &self.graph.nodes[node].id;
        let Some(fresh) = self.fresh_keys.iter().rev().find(|f| f.node == *id) else {
            return false;
        };
        paths.iter().any(|path| {
            path == EVERYTHING
                || fresh.inputs.contains_key(path)
                || fresh
                    .partial
                    .command
                    .iter()
                    .any(|c| c.contains(&format!(":{path}:")))
        })
    }

    /// In a plan: whether a job's result is unknown because some node of it would run.
    fn unresolved_in_plan(&self, job: usize) -> bool {
        self.graph.job_nodes(job).iter().any(|&n| {
            matches!(&self.results[n], Some(r) if matches!(r.plan, Some(PlanAction::Run | PlanAction::Blocked)))
        })
    }

    /// Brings the key database up to date for a job's keys: files it knows are stat-ed
    /// again (changed ones re-hashed) and, when the job's patterns need it, the workspace
    /// is listed. Both only when something ran or was restored since, and only for jobs
    /// released after that: a node's inputs may come from its needs, not from nodes
    /// running beside it.
    fn sync_files(&mut self, job: usize, needs_listing: bool) -> FileList {
        let epoch = self.job_epoch[job];
        if self.refreshed_at.is_none_or(|at| at < epoch) {
            if self.refreshed_at.is_some() || self.options.refresh_known_files {
                self.db.refresh_files();
            }
            self.refreshed_at = Some(self.changes);
        }
        let files = match self.db.file_list {
            Some(files) => files,
            None => {
                let files = FileList::new(
                    &self.db,
                    Arc::default(),
                    Arc::default(),
                    self.not_inputs.clone(),
                );
                self.db.file_list = Some(files);
                files
            }
        };
        if *files.not_inputs(&self.db) != self.not_inputs {
            files
                .set_not_inputs(&mut self.db)
                .to(self.not_inputs.clone());
        }
        if needs_listing && self.listed_at.is_none_or(|at| at < epoch) {
            let workspace = &self.options.workspace;
            let skip = &self.options.cache.skip_dirs;
            let all = Arc::new(inputs::list_files(workspace, false, skip));
            let default = Arc::new(inputs::list_files(workspace, true, skip));
            // Setters start a new revision: only for a real change.
            if **files.all(&self.db) != *all {
                files.set_all(&mut self.db).to(all);
            }
            if **files.default(&self.db) != *default {
                files.set_default(&mut self.db).to(default);
            }
            self.listed_at = Some(self.changes);
        }
        files
    }

    /// Text for a key: each secret's value replaced by a marker naming it, so no key holds
    /// a secret, yet using another secret in a command is still a change.
    fn key_text(&self, text: &str) -> String {
        let mut named: Vec<(&String, String)> = self
            .options
            .secrets
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .flat_map(|(name, value)| {
                crate::exec::mask::forms(value)
                    .into_iter()
                    .map(move |form| (name, form))
            })
            .collect();
        named.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        let mut out = text.to_owned();
        for (name, value) in named {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("${{{{ secrets.{name} }}}}"));
            }
        }
        out
    }

    /// Everything that goes into a node's key but its input files (see `key.rs`).
    fn partial_components(&self, node: usize, work: &NodeWork) -> KeyComponents {
        let spec = &self.graph.nodes[node];
        let job = &self.graph.jobs[spec.job];
        let mut command = Vec::with_capacity(work.steps.len());
        let mut env: BTreeMap<String, String> = work
            .env
            .iter()
            .filter(|(k, _)| !k.starts_with("ORCH_"))
            .map(|(k, v)| (k.clone(), self.key_text(v)))
            .collect();
        for (index, step) in work.steps.iter().enumerate() {
            let condition = step
                .condition
                .as_ref()
                .map(|c| format!(" if {c}"))
                .unwrap_or_default();
            let text = match &step.command {
                StepCommand::Inline(text) => format!("run{condition}:{}", self.key_text(text)),
                StepCommand::Script { path, args } => {
                    let digest = self
                        .db
                        .file(path)
                        .digest(&self.db)
                        .map_or_else(|| "unreadable".to_owned(), |d| d.to_hex());
                    let args: Vec<String> = args.iter().map(|a| self.key_text(a)).collect();
                    format!("script{condition}:{path}:{digest}:{}", args.join("\0"))
                }
            };
            command.push(format!(
                "{}{text}",
                if step.continue_on_error {
                    "continue-on-error "
                } else {
                    ""
                }
            ));
            for (k, v) in &step.env {
                env.insert(format!("step{index}.{k}"), self.key_text(v));
            }
            // A step's `if` is decided when it runs: the values it reads are part of the
            // key (its text already is), so `--var` or an input that flips it is a miss.
            if let Some(condition) = &step.condition {
                for (path, value) in condition_values(condition, &work.scope) {
                    env.insert(format!("step{index}.if {path}"), self.key_text(&value));
                }
            }
        }
        let mut needs = BTreeMap::new();
        for &need in &self.all_needs[spec.job] {
            for n in self.graph.job_nodes(need) {
                let digest = match &self.results[n] {
                    // A need that failed (and did not stop us: continue-on-error) has no
                    // result to compare: a fresh digest, so this node never hits on it.
                    Some(r) if r.status == NodeStatus::Failure => Digest::of(
                        format!("failed {} {}", self.options.run_id, self.graph.nodes[n].id)
                            .as_bytes(),
                    ),
                    Some(r) => r.result_digest.unwrap_or_else(|| {
                        Digest::of(format!("status:{}", r.status.as_str()).as_bytes())
                    }),
                    None => Digest::of(b"status:not-selected"),
                };
                needs.insert(self.graph.nodes[n].id.clone(), digest);
            }
        }
        let env_inputs = job
            .env_inputs
            .iter()
            .map(|name| {
                let value = std::env::var_os(name)
                    .map_or_else(|| b"\0unset".to_vec(), |v| v.into_encoded_bytes());
                (name.clone(), Digest::of(&value))
            })
            .collect();
        KeyComponents {
            version: KEY_VERSION,
            node: spec.id.clone(),
            shell: work.shell.name().to_owned(),
            command,
            env,
            matrix: spec
                .matrix
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            working_directory: work.cwd.strip_prefix(&self.options.workspace).map_or_else(
                |_| work.cwd.display().to_string(),
                |p| p.display().to_string(),
            ),
            inputs: BTreeMap::new(),
            env_inputs,
            outputs: work.outputs.clone(),
            platform: self.platform.clone(),
            tools: self.tool_digests(work, &job.tools),
            needs,
        }
    }

    /// Whether another job's declared outputs (expressions counting as `*`) match `path`:
    /// a restore never sweeps it away as a stray. Compiled once per job, when asked.
    fn claimed_by_others(&self, job: usize, path: &str) -> bool {
        let mut memo = self.others_outputs.borrow_mut();
        let patterns = memo.entry(job).or_insert_with(|| {
            let mut globs: Vec<String> = Vec::new();
            for (index, other) in self.graph.jobs.iter().enumerate() {
                if index == job {
                    continue;
                }
                for output in &other.outputs {
                    let glob = output.as_glob();
                    if !glob.starts_with('!') {
                        if !output.is_literal() {
                            globs.push(format!("{glob}/**"));
                        }
                        globs.push(glob);
                    }
                }
            }
            crate::files::Patterns::new(&globs).unwrap_or_else(|_| crate::files::Patterns::none())
        });
        patterns.matches(Path::new(path))
    }

    /// The first of a node's include patterns that matches none of its input files. A
    /// literal path or `dir/**` is looked up in the sorted inputs; other globs are
    /// compiled once per run.
    fn unmatched_pattern<'p>(
        &self,
        patterns: &'p [String],
        inputs: &BTreeMap<String, Digest>,
    ) -> Option<&'p str> {
        let mut compiled = self.pattern_memo.borrow_mut();
        patterns
            .iter()
            .filter(|p| !p.starts_with('!'))
            .find(|pattern| {
                let path = db::literal_path(pattern);
                let folder = path.strip_suffix("/**").unwrap_or(path);
                if !folder.contains(crate::files::GLOB_CHARS) {
                    // The file itself, or the first path after it that lies under it.
                    let under = |k: &String| {
                        k.len() > folder.len()
                            && k.starts_with(folder)
                            && k.as_bytes()[folder.len()] == b'/'
                    };
                    return !inputs.contains_key(folder)
                        && !inputs
                            .range::<str, _>((
                                std::ops::Bound::Excluded(folder),
                                std::ops::Bound::Unbounded,
                            ))
                            .take_while(|(k, _)| k.starts_with(folder))
                            .any(|(k, _)| under(k));
                }
                let matcher = compiled.entry((*pattern).clone()).or_insert_with(|| {
                    crate::files::Patterns::new(std::slice::from_ref(pattern))
                        .unwrap_or_else(|_| crate::files::Patterns::none())
                });
                !inputs.keys().any(|k| matcher.matches(Path::new(k)))
            })
            .map(String::as_str)
    }

    /// The interpreter that runs the node and each declared tool, by name → blake3 of the
    /// executable the node's PATH finds (a `stat` through the stat cache; remembered for
    /// the run). A program that is not found has a digest of its own, so it appearing later
    /// is a change.
    fn tool_digests(&self, work: &NodeWork, tools: &[String]) -> BTreeMap<String, Digest> {
        let path = work
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str());
        // Where the search depends on the working directory (a relative or empty PATH
        // entry, a name with a `/`), that is part of what is remembered.
        let path_is_absolute = path
            .unwrap_or(&self.host_path)
            .split(':')
            .all(|dir| dir.starts_with('/'));
        let mut memo = self.tool_memo.borrow_mut();
        std::iter::once(work.shell.program())
            .chain(tools.iter().map(String::as_str))
            .map(|name| {
                let cwd = (!path_is_absolute || name.contains('/')).then_some(&work.cwd);
                // A few entries per run: found by comparison, without building a key.
                let known = memo
                    .iter()
                    .find(|(n, p, c, _)| n == name && p.as_deref() == path && c.as_ref() == cwd)
                    .map(|(_, _, _, d)| *d);
                let digest = known.unwrap_or_else(|| {
                    let digest = process::locate(name, &work.env, &work.cwd)
                        .and_then(|found| std::fs::canonicalize(found).ok())
                        .and_then(|real| self.db.current_digest(&real.to_string_lossy()))
                        .unwrap_or_else(|| Digest::of(format!("not found: {name}").as_bytes()));
                    memo.push((
                        name.to_owned(),
                        path.map(str::to_owned),
                        cwd.cloned(),
                        digest,
                    ));
                    digest
                });
                (name.to_owned(), digest)
            })
            .collect()
    }

    /// Computes the node's key and looks it up. A hit is restored (or, in a plan, noted)
    /// and returned; a miss fills in the key, the reason and what to store after the run.
    fn consult_cache(&mut self, node: usize, work: &mut NodeWork) -> Option<NodeResult> {
        let started = Instant::now();
        let job = &self.graph.jobs[self.graph.nodes[node].job];
        let id = self.graph.nodes[node].id.clone();
        let backend = self.options.cache.backend.clone();
        work.backend = Some(backend.clone());
        // A node whose paths or values could not be rendered fails when it runs; it is
        // never looked up.
        if let Some(problem) = work.render_problems.first() {
            work.why = Some(problem.clone());
            return self.options.plan.then(|| NodeResult {
                plan: Some(PlanAction::Run),
                why: Some(problem.clone()),
                ..NodeResult::not_run(NodeStatus::Success, "")
            });
        }
        // A node that is never cached needs no key to run (plans still show one).
        if !job.cache && !self.options.plan {
            work.why = Some("cache: false".into());
            return None;
        }
        // Known files first (their digests brought up to date), then: literal paths of
        // existing files are read through their own inputs, with no listing.
        self.sync_files(self.graph.nodes[node].job, false);
        let needs_listing = work.inputs.as_ref().is_none_or(|patterns| {
            patterns.iter().any(|p| {
                !crate::files::is_literal(p)
                    || self.db.file(db::literal_path(p)).digest(&self.db).is_none()
            })
        });
        let files = self.sync_files(self.graph.nodes[node].job, needs_listing);
        let partial = Arc::new(self.partial_components(node, work));
        let request = self
            .db
            .node_input(&id, partial.clone(), work.inputs.clone());
        let db::NodeKey {
            mut inputs,
            mut key,
        } = db::node_key(&self.db, request, files).clone();
        // Something ran since this job was released: its inputs' digests may be old. Look
        // at them again (a stat each) and recompute until the key stands.
        if self.changes > self.job_epoch[self.graph.nodes[node].job] {
            for _ in 0..3 {
                let stale: Vec<String> = inputs
                    .iter()
                    .filter(|(path, digest)| self.db.current_digest(path) != Some(**digest))
                    .map(|(path, _)| path.clone())
                    .collect();
                if stale.is_empty() {
                    break;
                }
                self.db.update_paths(&stale);
                db::NodeKey { inputs, key } = db::node_key(&self.db, request, files).clone();
            }
        }
        // A pattern that matches nothing would keep the key constant whatever the files
        // it was meant for do: the node fails instead, and says which.
        let refused = work.inputs.as_ref().and_then(|patterns| {
            if let Some(pattern) = self.unmatched_pattern(patterns, &inputs) {
                return Some(format!("input pattern `{pattern}` matches no file"));
            }
            // orch never reads outside the workspace: a declared input that leads out is
            // refused rather than counted by its text.
            self.db
                .first_refused_link(inputs.keys())
                .map(|(link, why)| format!("input {link} is {why}"))
        });
        if let Some(problem) = refused {
            work.render_problems.push(problem.clone());
            work.why = Some(problem.clone());
            return self.options.plan.then(|| NodeResult {
                plan: Some(PlanAction::Run),
                why: Some(problem),
                ..NodeResult::not_run(NodeStatus::Success, "")
            });
        }
        work.key_inputs = Some((self.db.stat_cache_handle(), inputs.clone()));
        // Why the key is not the last one: only a miss needs the words.
        let options = self.options;
        let last_keys = &options.cache.last_keys;
        let since_last = |id: &str| match last_keys.key(id) {
            None => Some("no previous run".to_owned()),
            Some(old) if old == key => None,
            Some(_) => Some(last_keys.components(id).map_or_else(
                || "key changed".to_owned(),
                |old| {
                    KeyView::new(&partial, &inputs)
                        .to_components()
                        .why_changed(&old)
                },
            )),
        };
        self.fresh_keys.push(FreshKey {
            node: id.clone(),
            key,
            partial: partial.clone(),
            inputs: inputs.clone(),
            record: RecordUpdate::Clear,
        });
        work.key = Some(key);

        let miss = |why: String| -> Option<NodeResult> {
            Some(NodeResult {
                why: Some(why),
                ..NodeResult::not_run(NodeStatus::Success, "")
            })
        };
        let verdict = if !job.cache {
            miss("cache: false".into())
        } else if self.options.cache.force {
            work.store = true;
            miss("--no-cache".into())
        } else {
            work.store = true;
            match self.look_up(&id, &key, backend.as_ref()) {
                Ok(Some((record, _))) if self.options.plan => {
                    return Some(NodeResult {
                        plan: Some(PlanAction::Cached),
                        why: Some("key found in cache".into()),
                        key: Some(key),
                        cached: true,
                        outputs: record.outputs.into_iter().collect(),
                        result_digest: Some(record.result_digest),
                        ..NodeResult::not_run(NodeStatus::Success, "")
                    });
                }
                Ok(Some((record, remember))) => {
                    match outputs::restore(
                        &self.options.workspace,
                        &record.files,
                        &work.outputs,
                        // The record remembered under this very key passed every check
                        // when it was restored here, and left no strays.
                        !matches!(remember, RecordUpdate::Keep),
                        &|path| self.claimed_by_others(self.graph.nodes[node].job, path),
                        backend.as_ref(),
                        &|path| self.db.current_file(path),
                    ) {
                        Ok(wrote) => {
                            if wrote {
                                self.changes += 1;
                            }
                            if let Some(fresh) = self.fresh_keys.last_mut() {
                                fresh.record = remember;
                            }
                            return Some(self.restored(key, record, started));
                        }
                        Err(why) => miss(format!("cached outputs could not be restored: {why}")),
                    }
                }
                Ok(None) => {
                    // A node this workspace never ran may have a result from another
                    // host: say so rather than "no previous run".
                    let elsewhere = last_keys.key(&id).is_none().then(|| {
                        let note = HostNote::of(&partial, &inputs);
                        let found = backend.get_action(&note.key).ok().flatten()?;
                        note.differs(&found)
                    });
                    let elsewhere = elsewhere.flatten();
                    let failed = last_keys
                        .failed(&id, &key)
                        .then(|| "it failed last time (failures are not cached)".to_owned());
                    miss(
                        elsewhere
                            .or(failed)
                            .or_else(|| since_last(&id))
                            .unwrap_or_else(|| "not in the cache (evicted or cleared)".into()),
                    )
                }
                Err(e) => miss(format!("the cache could not be read: {e}")),
            }
        };
        let why = verdict.and_then(|r| r.why);
        if work.store && !self.options.plan {
            work.host_note = Some(HostNote::of(&partial, &inputs));
        }
        work.why.clone_from(&why);
        self.options.plan.then(|| NodeResult {
            plan: Some(PlanAction::Run),
            why,
            key: Some(key),
            ..NodeResult::not_run(NodeStatus::Success, "")
        })
    }

    /// The result recorded under a node's key. The one remembered from the node's last
    /// run (`LastKeys::record`) is used when the cache still has the key — a `stat`
    /// instead of a read; otherwise the cache's record is read, to be remembered next.
    fn look_up(
        &self,
        id: &str,
        key: &Digest,
        backend: &dyn Backend,
    ) -> Result<Option<(orch_store::ActionResult, RecordUpdate)>, orch_store::StoreError> {
        if let Some(record) = self.options.cache.last_keys.record(id, key) {
            return Ok(backend
                .has_action(key)?
                .then_some((record, RecordUpdate::Keep)));
        }
        Ok(backend.get_action(key)?.map(|record| {
            let bytes = orch_store::encode_record(&record);
            (record, RecordUpdate::Set(bytes))
        }))
    }

    /// A cache hit, its outputs already restored. Its log is placed into the run's logs
    /// when the run ends (`runs::place_logs`), all cached logs at once.
    fn restored(
        &self,
        key: Digest,
        record: orch_store::ActionResult,
        started: Instant,
    ) -> NodeResult {
        NodeResult {
            status: NodeStatus::Success,
            exit_code: Some(record.exit_code),
            attempts: 1,
            duration: started.elapsed(),
            outputs: record.outputs.into_iter().collect(),
            summary: record.summary,
            reason: None,
            has_log: true,
            cached: true,
            cached_log: record.log,
            key: Some(key),
            why: Some("key found in cache".into()),
            result_digest: Some(record.result_digest),
            plan: None,
        }
    }

    /// A `uses` job ends with its members: their combined result, and the used playbook's
    /// `outputs` evaluated over `jobs.<id>`.
    fn uses_outcome(&self, uses: &Uses) -> JobOutcome {
        let results: Vec<&str> = uses.members.iter().map(|&m| self.job_result(m)).collect();
        let result = aggregate(&results);
        let mut scope = self.origin_scope(uses.origin);
        for &m in &uses.members {
            if let Some(outcome) = &self.job_outcomes[m] {
                scope
                    .jobs
                    .insert(self.graph.jobs[m].local_id.clone(), outcome.context.clone());
            }
        }
        let mut problems = Vec::new();
        let outputs: Map<String, Value> = uses
            .outputs
            .iter()
            .map(|(k, t)| {
                let value = t.render(&scope).unwrap_or_else(|e| {
                    problems.push(format!("an expression failed: outputs.{k}: {}", e.message));
                    String::new()
                });
                (k.clone(), Value::String(self.secrets.mask(&value)))
            })
            .collect();
        let result = if problems.is_empty() {
            result
        } else {
            "failure"
        };
        JobOutcome {
            result,
            failed: !problems.is_empty() || uses.members.iter().any(|&m| self.job_failed(m)),
            context: json!({ "result": result, "outputs": outputs }),
            problems,
        }
    }

    /// `needs.<job>.result` of a finished job.
    fn job_result(&self, job: usize) -> &'static str {
        self.job_outcomes[job]
            .as_ref()
            .map_or("cancelled", |o| o.result)
    }

    /// `needs.<job>.result` as GitHub computes it over a job's nodes.
    fn compute_job_result(&self, job: usize) -> &'static str {
        self.job_status(job, self.graph.jobs[job].continue_on_error)
    }

    /// Over a job's nodes: with `allow_failure` (continue-on-error), a failure counts as
    /// success — GitHub's `result`; without, it is the job's real `outcome`.
    fn job_status(&self, job: usize, allow_failure: bool) -> &'static str {
        let statuses: Vec<&str> = self.graph.jobs[job]
            .nodes
            .clone()
            .filter_map(|n| self.results[n].as_ref().map(|r| r.status))
            .map(|s| match s {
                NodeStatus::Failure if allow_failure => "success",
                s => s.as_str(),
            })
            .collect();
        aggregate(&statuses)
    }

    fn decide(&self, node: usize) -> Decision {
        let spec = &self.graph.jobs[self.graph.nodes[node].job];
        if self.cancel_level > 0 && !spec.condition_decides {
            return Decision::Finish(NodeResult::not_run(
                NodeStatus::Cancelled,
                "the run was cancelled",
            ));
        }
        if self.failed_fast[self.graph.nodes[node].job] {
            return Decision::Finish(NodeResult::not_run(
                NodeStatus::Cancelled,
                "fail-fast: another node of this job failed",
            ));
        }
        if self.options.plan
            && let Some(&waiting) = spec.needs.iter().find(|&&n| self.unresolved_in_plan(n))
        {
            return Decision::Finish(NodeResult {
                plan: Some(PlanAction::Blocked),
                why: Some(format!(
                    "waits for {}'s result",
                    self.graph.jobs[waiting].id
                )),
                status: NodeStatus::Success,
                ..NodeResult::not_run(NodeStatus::Success, "")
            });
        }
        let needs_ok = spec.needs.iter().all(|&n| self.job_result(n) == "success");
        if !spec.condition_decides {
            // What needs a failure is skipped, as on GitHub, whether or not the run halted;
            // what the halt alone kept from starting is cancelled.
            if self.halted && needs_ok {
                return Decision::Finish(NodeResult::not_run(
                    NodeStatus::Cancelled,
                    "an earlier node failed (use --keep-going to run the rest)",
                ));
            }
            if !needs_ok {
                let blocked = spec
                    .needs
                    .iter()
                    .find(|&&n| self.job_result(n) != "success")
                    .map_or("", |&n| self.graph.jobs[n].id.as_str());
                return Decision::Finish(NodeResult::not_run(
                    NodeStatus::Skipped,
                    format!("needs `{blocked}`, which did not succeed"),
                ));
            }
        }
        let Some(condition) = &spec.condition else {
            return Decision::Run;
        };
        let scope = self.scope(node, Some(needs_ok));
        match expr::eval(condition, &scope) {
            Ok(v) if expr::truthy(&v) => Decision::Run,
            Ok(_) => Decision::Finish(NodeResult::not_run(
                NodeStatus::Skipped,
                "its `if` is false",
            )),
            Err(e) => Decision::Finish(NodeResult {
                reason: Some(format!("its `if` could not be evaluated: {e}")),
                ..NodeResult::not_run(NodeStatus::Failure, "")
            }),
        }
    }

    fn scope(&self, node: usize, needs_ok: Option<bool>) -> NodeScope {
        let spec = &self.graph.nodes[node];
        let job = &self.graph.jobs[spec.job];
        let mut scope = self.origin_scope(job.origin);
        scope.matrix = spec
            .matrix
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        scope.needs = self.needs_context(&job.needs);
        scope.job.clone_from(&job.id);
        scope.node.clone_from(&spec.id);
        scope.success = needs_ok.unwrap_or(true) && self.cancel_level == 0;
        scope.failure =
            self.failure_upstream[spec.job] || job.needs.iter().any(|&n| self.job_failed(n));
        scope.cancelled = self.cancel_level > 0;
        scope
    }

    /// `needs.<job>` for every job of `needs` that has ended, by the ids written in `needs`.
    fn needs_context(&self, needs: &[usize]) -> Map<String, Value> {
        needs
            .iter()
            .filter_map(|&n| {
                Some((
                    self.graph.jobs[n].local_id.clone(),
                    self.job_outcomes[n].as_ref()?.context.clone(),
                ))
            })
            .collect()
    }

    /// What the expressions of one playbook see before any node: its vars, inputs and env.
    fn origin_scope(&self, origin: usize) -> NodeScope {
        if origin == 0 {
            return self.root_scope.clone();
        }
        let mut scope = self.base_scope.clone();
        let spec = &self.graph.origins[origin];
        scope.base_dir.clone_from(&spec.base_dir);
        scope.vars = Arc::new(
            spec.vars
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        );
        let (inputs, problems) = self.inputs_of(origin);
        scope.inputs = inputs;
        scope.problems = problems;
        for (k, t) in &spec.env {
            let value = t.render(&scope).unwrap_or_else(|e| {
                scope
                    .problems
                    .push(format!("an expression failed: env.{k}: {}", e.message));
                String::new()
            });
            Arc::make_mut(&mut scope.env).insert(k.clone(), Value::String(value));
        }
        scope
    }

    /// The root playbook's scope before any node: the base and its rendered `env`.
    fn root_scope(&self) -> NodeScope {
        NodeScope {
            env: Arc::new(
                self.env_cache
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            ..self.base_scope.clone()
        }
    }

    /// A used playbook's `inputs`: the caller's `with`, rendered in the caller's scope,
    /// then the declared defaults; and what failed to render.
    fn inputs_of(&self, origin: usize) -> (Map<String, Value>, Vec<String>) {
        let mut inputs = Map::new();
        let mut problems = Vec::new();
        let spec = &self.graph.origins[origin];
        if let Some(group) = spec.group
            && let Body::Uses(uses) = &self.graph.jobs[group].body
        {
            let mut caller = self.origin_scope(self.graph.jobs[group].origin);
            caller.needs = self.needs_context(&uses.caller_needs);
            problems.append(&mut caller.problems);
            for (k, t) in &uses.with {
                let value = t.render(&caller).unwrap_or_else(|e| {
                    problems.push(format!("an expression failed: with.{k}: {}", e.message));
                    String::new()
                });
                inputs.insert(k.clone(), Value::String(value));
            }
        }
        for (name, decl) in &spec.inputs {
            if !inputs.contains_key(name) {
                let default = decl.default.clone().map_or(Value::Null, Value::String);
                inputs.insert(name.clone(), default);
            }
        }
        (inputs, problems)
    }

    /// What every expression of the run sees: vars, secrets and `orch` without a node.
    fn base_scope(graph: &Graph, options: &RunOptions) -> NodeScope {
        NodeScope {
            vars: Arc::new(
                graph.origins[0]
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            secrets: Arc::new(
                options
                    .secrets
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            orch: Arc::new(
                [
                    ("run_id", options.run_id.clone()),
                    ("workspace", options.workspace.display().to_string()),
                    ("os", std::env::consts::OS.to_owned()),
                    ("arch", std::env::consts::ARCH.to_owned()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect(),
            ),
            workspace: Arc::new(options.workspace.clone()),
            ..NodeScope::default()
        }
    }

    /// The playbook's `env`, rendered once per run, and what failed to render.
    fn render_top_env(&self) -> (Vec<(String, String)>, Vec<String>) {
        let mut problems = Vec::new();
        let env = self.graph.origins[0]
            .env
            .iter()
            .map(|(k, t)| {
                let value = t.render(&self.base_scope).unwrap_or_else(|e| {
                    problems.push(format!("an expression failed: env.{k}: {}", e.message));
                    String::new()
                });
                (k.clone(), value)
            })
            .collect();
        (env, problems)
    }

    /// Everything a node's key needs, resolved now (expressions see the needs' results);
    /// what only running needs is added by [`State::for_running`].
    fn prepare(&self, node: usize) -> NodeWork {
        let spec = &self.graph.nodes[node];
        let job = &self.graph.jobs[spec.job];
        let mut scope = self.scope(node, Some(true));
        // The env of the node's own playbook (a used playbook does not inherit its caller's).
        let mut base_env: Vec<(String, String)> = scope
            .env
            .iter()
            .map(|(k, v)| (k.clone(), expr::to_text(v)))
            .collect();
        let mut problems = std::mem::take(&mut scope.problems);
        // The job's env first: what follows sees it in the `env` context.
        for (k, t) in &job.env {
            let value = t.render(&scope).unwrap_or_else(|e| {
                problems.push(format!("an expression failed: {}", e.message));
                String::new()
            });
            Arc::make_mut(&mut scope.env).insert(k.clone(), Value::String(value.clone()));
            base_env.push((k.clone(), value));
        }
        let mut render = |t: &Template| {
            t.render(&scope).unwrap_or_else(|e| {
                problems.push(format!("an expression failed: {}", e.message));
                String::new()
            })
        };
        let outputs: Vec<String> = job.outputs.iter().map(&mut render).collect();
        let inputs: Option<Vec<String>> = job
            .inputs
            .as_ref()
            .map(|list| list.iter().map(&mut render).collect());
        let rendered_cwd = job.working_directory.as_ref().map(|t| {
            let relative = self.graph.origins[job.origin].base_dir.join(render(t));
            (t.is_literal(), relative.to_string_lossy().into_owned())
        });
        let cwd = match &rendered_cwd {
            Some((_, relative)) => self.options.workspace.join(relative),
            None => self.options.workspace.clone(),
        };
        let steps = match &job.body {
            Body::Steps(steps) => steps
                .iter()
                .map(|s| StepWork {
                    name: s.name.as_ref().map(&mut render),
                    command: command(&s.body, &mut render),
                    env: s.env.iter().map(|(k, t)| (k.clone(), render(t))).collect(),
                    condition: s.condition.clone(),
                    continue_on_error: s.continue_on_error,
                })
                .collect(),
            body => vec![StepWork {
                name: None,
                command: command(body, &mut render),
                env: Vec::new(),
                condition: None,
                continue_on_error: false,
            }],
        };
        // Rendered paths pass the checks literal ones passed at load time, now.
        {
            let workspace = &self.options.workspace;
            let mut checked = self.path_checks.borrow_mut();
            let mut check = |what: &str, literal: bool, path: &str, folder: bool| {
                if !literal
                    && let Some(why) =
                        crate::load::workspace::path_refusal(workspace, path, folder, &mut checked)
                {
                    problems.push(format!("{what} {why}"));
                }
            };
            if let Some((literal, relative)) = &rendered_cwd {
                check("working-directory", *literal, relative, true);
            }
            for (template, output) in job.outputs.iter().zip(&outputs) {
                check("output", template.is_literal(), output, false);
            }
            // Literal inputs too: a need may have made a folder on the way a link since load.
            for input in inputs.iter().flatten() {
                check("input", false, input, false);
            }
        }
        NodeWork {
            steps,
            env: base_env,
            cwd,
            shell: job.shell.clone(),
            workspace: self.options.workspace.clone(),
            timeout: job.timeout,
            retries: job.retries,
            log_path: PathBuf::new(),
            scratch: PathBuf::new(),
            render_problems: problems,
            scope,
            secrets: Secrets::default(),
            key: None,
            why: None,
            outputs,
            inputs,
            backend: None,
            store: false,
            key_inputs: None,
            host_note: None,
        }
    }

    /// What only a node that runs needs: `ORCH_*` (first, as the spec lists them), its
    /// log and scratch paths, the secrets to mask. A cached node never pays for these.
    fn for_running(&self, node: usize, work: &mut NodeWork) {
        let spec = &self.graph.nodes[node];
        let job = &self.graph.jobs[spec.job];
        let mut env: Vec<(String, String)> = vec![
            (
                "ORCH_WORKSPACE".into(),
                self.options.workspace.display().to_string(),
            ),
            ("ORCH_RUN_ID".into(), self.options.run_id.clone()),
            ("ORCH_JOB".into(), job.id.clone()),
            ("ORCH_NODE".into(), spec.id.clone()),
        ];
        for (axis, value) in &spec.matrix {
            env.push((
                format!("ORCH_MATRIX_{}", axis.to_uppercase().replace('-', "_")),
                value.to_string(),
            ));
        }
        env.append(&mut work.env);
        work.env = env;
        let safe = crate::report::runs::file_safe(&spec.id);
        work.log_path = self.options.log_dir.join(format!("{safe}.log"));
        work.scratch = self.options.scratch_dir.join(&safe);
        work.secrets = self.secrets.clone();
    }
}

enum StepCommand {
    Inline(String),
    Script { path: String, args: Vec<String> },
}

fn command(body: &Body, render: &mut impl FnMut(&Template) -> String) -> StepCommand {
    match body {
        Body::Run(t) => StepCommand::Inline(render(t)),
        Body::Script { path, args } => StepCommand::Script {
            path: path.clone(),
            args: args.iter().map(render).collect(),
        },
        // Neither has a command of its own: steps are listed separately, and a `uses` job
        // has no nodes.
        Body::Steps(_) | Body::Uses(_) => StepCommand::Inline(String::new()),
    }
}

struct StepWork {
    name: Option<String>,
    command: StepCommand,
    env: Vec<(String, String)>,
    condition: Option<Expr>,
    continue_on_error: bool,
}

/// The stat cache and the input digests a key was made of.
type KeyInputs = (
    Arc<std::sync::Mutex<inputs::StatCache>>,
    Arc<BTreeMap<String, Digest>>,
);

struct NodeWork {
    steps: Vec<StepWork>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    shell: Shell,
    workspace: PathBuf,
    timeout: Option<Duration>,
    retries: u32,
    log_path: PathBuf,
    scratch: PathBuf,
    render_problems: Vec<String>,
    scope: NodeScope,
    secrets: Secrets,
    key: Option<Digest>,
    why: Option<String>,
    /// Declared outputs, relative to the workspace.
    outputs: Vec<String>,
    inputs: Option<Vec<String>>,
    backend: Option<Arc<dyn Backend>>,
    /// Record the result under the key after a success.
    store: bool,
    /// The input digests the key was made of, checked again before the result is stored.
    key_inputs: Option<KeyInputs>,
    /// Stored beside the result: which host produced it.
    host_note: Option<HostNote>,
}

impl NodeWork {
    async fn run(self, node: usize, observer: Arc<dyn Observer>, cancel: Cancel) -> NodeResult {
        let started = Instant::now();
        let mut result = NodeResult {
            status: NodeStatus::Failure,
            exit_code: None,
            attempts: 0,
            duration: Duration::ZERO,
            outputs: BTreeMap::new(),
            summary: String::new(),
            reason: None,
            has_log: true,
            cached: false,
            cached_log: None,
            key: self.key,
            why: self.why.clone(),
            result_digest: None,
            plan: None,
        };
        let mut log = match File::create(&self.log_path) {
            Ok(f) => f,
            Err(e) => {
                result.reason = Some(format!(
                    "cannot create its log {}: {e}",
                    self.log_path.display()
                ));
                result.has_log = false;
                return result;
            }
        };
        if let Some(problem) = self.render_problems.first() {
            let problem = self.secrets.mask(problem);
            let _ = writeln!(log, "orch: {problem}");
            result.reason = Some(problem.clone());
            return result;
        }
        // Beside the node's scratch folder (made only if a script file is needed).
        let beside = |suffix: &str| {
            let mut name = self.scratch.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        let output_file = beside(".output");
        let summary_file = beside(".summary.md");
        for attempt in 1..=self.retries.saturating_add(1) {
            result.attempts = attempt;
            observer.event(&Event::NodeStarted { node, attempt });
            if attempt > 1 {
                let _ = writeln!(log, "orch: attempt {attempt} of {}", self.retries + 1);
            }
            // Each attempt starts with empty files; a job's `>>` creates them (the first
            // attempt finds none: nothing to remove).
            if attempt > 1 {
                for file in [&output_file, &summary_file] {
                    let _ = std::fs::remove_file(file);
                }
            }
            let (status, exit_code, reason) = self
                .attempt(
                    node,
                    &observer,
                    &cancel,
                    &mut log,
                    &output_file,
                    &summary_file,
                )
                .await;
            result.status = status;
            result.exit_code = exit_code;
            result.reason = reason;
            if status != NodeStatus::Failure || *cancel.borrow() > 0 {
                break;
            }
        }
        if result.status == NodeStatus::Success {
            match std::fs::read_to_string(&output_file).map(|t| parse_outputs(&t)) {
                Ok(Ok(outputs)) => result.outputs = outputs,
                Ok(Err(why)) => {
                    let _ = writeln!(log, "orch: $ORCH_OUTPUT: {why}");
                    result.status = NodeStatus::Failure;
                    result.reason = Some(format!("bad $ORCH_OUTPUT: {why}"));
                }
                Err(_) => {}
            }
        }
        result.summary = self
            .secrets
            .mask(&std::fs::read_to_string(&summary_file).unwrap_or_default());
        for value in result.outputs.values_mut() {
            *value = self.secrets.mask(value);
        }
        result.reason = result.reason.map(|r| self.secrets.mask(&r));
        // Scratch files may hold rendered secrets: gone as soon as the node ends (the
        // folder exists only if a script file was written).
        if self.scratch.exists() {
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
        for file in [&output_file, &summary_file] {
            if file.exists() {
                let _ = std::fs::remove_file(file);
            }
        }
        result.duration = started.elapsed();
        if result.status == NodeStatus::Success {
            drop(log);
            let (digest, warning) = self.keep_result(&result).await;
            result.result_digest = Some(digest);
            if let Some(warning) = warning {
                if let Ok(mut log) = File::options().append(true).open(&self.log_path) {
                    let _ = writeln!(log, "orch: warning: {warning}");
                }
                observer.event(&Event::Warning(format!("{}: {warning}", self.scope.node)));
            }
        }
        result
    }

    /// After a success: the outputs into the store, the result's digest, and (when the
    /// node may be cached) its record under the key. Store failures are warnings: the
    /// run's result stands, only the cache misses out. When the outputs cannot be read,
    /// the digest is unique, so nothing downstream can wrongly look unchanged.
    async fn keep_result(&self, result: &NodeResult) -> (Digest, Option<String>) {
        let Some(backend) = self.backend.clone() else {
            return (crate::cache::key::result_digest(&[], &result.outputs), None);
        };
        // A node that is never cached may have effects no digest sees (a download into an
        // ignored folder): its result is new every time, so its dependents run again.
        let never_cached = !self.store;
        let workspace = self.workspace.clone();
        let patterns = self.outputs.clone();
        let log_path = self.log_path.clone();
        let record_key = self.key.filter(|_| self.store);
        let outputs = result.outputs.clone();
        let summary = result.summary.clone();
        let exit_code = result.exit_code.unwrap_or(0);
        let duration_ms = u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX);
        let key_inputs = self.key_inputs.clone();
        let host_note = self.host_note.as_ref().map(|n| (n.key, n.record.clone()));
        let kept = tokio::task::spawn_blocking(move || -> Result<Digest, (Digest, String)> {
            let unique = || {
                Digest::of(
                    format!(
                        "uncollected {:?} {}",
                        std::time::SystemTime::now(),
                        std::process::id()
                    )
                    .as_bytes(),
                )
            };
            let files = outputs::collect(&workspace, &patterns, backend.as_ref())
                .map_err(|e| (unique(), e))?;
            let digest = if never_cached {
                Digest::of(
                    format!(
                        "uncached {:?} {}",
                        std::time::SystemTime::now(),
                        std::process::id()
                    )
                    .as_bytes(),
                )
            } else {
                crate::cache::key::result_digest(&files, &outputs)
            };
            // An input that changed while the node ran (a user's edit, a job beside it)
            // makes the result not the key's: it is not stored.
            let changed = key_inputs.as_ref().and_then(|(stat, inputs)| {
                let mut stat = stat.lock().ok()?;
                inputs
                    .iter()
                    .find(|(path, digest)| stat.digest(&workspace, path).ok() != Some(**digest))
                    .map(|(p, _)| p.clone())
            });
            if let (Some(path), Some(_)) = (&changed, record_key) {
                return Err((
                    digest,
                    format!("input {path} changed while it ran; the result was not cached"),
                ));
            }
            if let Some(key) = record_key {
                let log = backend.put_file(&log_path).ok();
                let record = orch_store::ActionResult {
                    orch_version: env!("CARGO_PKG_VERSION").to_owned(),
                    exit_code,
                    duration_ms,
                    log,
                    files,
                    outputs: outputs.into_iter().collect(),
                    summary,
                    result_digest: digest,
                };
                backend
                    .put_action(&key, &record)
                    .map_err(|e| (digest, format!("the result was not cached: {e}")))?;
                if let Some((note_key, note)) = &host_note {
                    // Only words for other hosts' misses: a failure here costs nothing.
                    let _ = backend.put_action(note_key, note);
                }
            }
            Ok(digest)
        })
        .await;
        match kept {
            Ok(Ok(digest)) => (digest, None),
            Ok(Err((digest, warning))) => (digest, Some(warning)),
            Err(e) => (
                Digest::of(format!("{e}").as_bytes()),
                Some(format!("storing the result failed: {e}")),
            ),
        }
    }

    /// One attempt: every step in order; the first failing step ends it.
    async fn attempt(
        &self,
        node: usize,
        observer: &Arc<dyn Observer>,
        cancel: &Cancel,
        log: &mut File,
        output_file: &Path,
        summary_file: &Path,
    ) -> (NodeStatus, Option<i32>, Option<String>) {
        let mut failed = false;
        let mut last_code = None;
        let many = self.steps.len() > 1;
        let deadline = self.timeout.map(|t| Instant::now() + t);
        for (index, step) in self.steps.iter().enumerate() {
            if let Some(condition) = &step.condition {
                let mut scope = self.scope.clone();
                scope.success = !failed;
                scope.failure = failed;
                let run = match expr::eval(condition, &scope) {
                    Ok(v) => {
                        if expr::calls_status_function(condition) {
                            expr::truthy(&v)
                        } else {
                            !failed && expr::truthy(&v)
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(log, "orch: step {}: its `if` failed: {e}", index + 1);
                        return (NodeStatus::Failure, None, Some(e.message));
                    }
                };
                if !run {
                    continue;
                }
            } else if failed {
                continue;
            }
            if many {
                let name = step
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("step {}", index + 1));
                let _ = writeln!(log, "orch: ── {name}");
            }
            let (program, args) = match &step.command {
                // Passed as an argument when that is safe (no secret in it, not huge): no
                // file to write. Otherwise a private file, as a runner does.
                // A plain command (words only, no shell syntax) under bash or sh runs
                // without the shell: the same result, one process less.
                StepCommand::Inline(text)
                    if matches!(self.shell, Shell::Bash | Shell::Sh)
                        && !self.secrets.appears_in(text)
                        && plain_command(text).is_some() =>
                {
                    split_command(plain_command(text).unwrap_or_default())
                }
                StepCommand::Inline(text)
                    if text.len() < 64 * 1024
                        && !self.secrets.appears_in(text)
                        && self.shell.inline(text).is_some() =>
                {
                    split_command(self.shell.inline(text).unwrap_or_default())
                }
                StepCommand::Inline(text) => {
                    let script = self
                        .scratch
                        .join(format!("step{index}.{}", script_extension(&self.shell)));
                    if let Err(e) = std::fs::create_dir_all(&self.scratch)
                        .and_then(|()| write_private(&script, text))
                    {
                        return (
                            NodeStatus::Failure,
                            None,
                            Some(format!("cannot write its script: {e}")),
                        );
                    }
                    split_command(self.shell.command_line(&script.display().to_string()))
                }
                StepCommand::Script { path, args } => {
                    let script = self.workspace.join(path);
                    let mut line = self.shell.command_line(&script.display().to_string());
                    line.extend(args.iter().cloned());
                    split_command(line)
                }
            };
            let mut env = self.env.clone();
            env.push(("ORCH_OUTPUT".into(), output_file.display().to_string()));
            env.push(("ORCH_SUMMARY".into(), summary_file.display().to_string()));
            env.extend(step.env.iter().cloned());
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let spawn = Spawn {
                program,
                args,
                cwd: self.cwd.clone(),
                env,
                timeout,
                secrets: self.secrets.clone(),
            };
            match process::run(spawn, log, node, observer, cancel.clone()).await {
                Outcome::Exited(status) if status.success() => last_code = Some(0),
                Outcome::Exited(status) => {
                    last_code = status.code();
                    let why = match status.code() {
                        Some(code) => format!("exit code {code}"),
                        None => "killed by a signal".to_owned(),
                    };
                    if !step.continue_on_error {
                        let _ = writeln!(log, "orch: failed: {why}");
                        failed = true;
                        if !many {
                            return (NodeStatus::Failure, last_code, Some(why));
                        }
                    }
                }
                Outcome::TimedOut => {
                    let limit = self.timeout.unwrap_or_default();
                    let why = format!(
                        "timed out after {}",
                        crate::report::summary::human_duration(limit)
                    );
                    let _ = writeln!(log, "orch: {why}; its process tree was killed");
                    return (NodeStatus::Failure, None, Some(why));
                }
                Outcome::Cancelled => {
                    let _ = writeln!(log, "orch: cancelled");
                    return (
                        NodeStatus::Cancelled,
                        None,
                        Some("the run was cancelled".into()),
                    );
                }
                Outcome::NotStarted(why) => {
                    let _ = writeln!(log, "orch: {why}");
                    if !step.continue_on_error {
                        return (NodeStatus::Failure, None, Some(why));
                    }
                }
            }
        }
        if failed {
            (
                NodeStatus::Failure,
                last_code,
                Some(format!(
                    "a step failed (exit code {})",
                    last_code.map_or("-".into(), |c| c.to_string())
                )),
            )
        } else {
            (NodeStatus::Success, last_code.or(Some(0)), None)
        }
    }
}

/// Writes a file only its owner can read (rendered scripts may contain secrets).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// The words of a command that needs no shell to run (letters, digits and `-_./,:+@%`
/// only, on one line, no assignment), or `None`.
fn plain_command(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./,:+@% ".contains(c);
    if text.is_empty() || !text.chars().all(safe) {
        return None;
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    // `cd`, `exit` and the like are shell builtins, not programs.
    const BUILTINS: &[&str] = &[
        "cd", "exit", "export", "set", "unset", "source", ".", "exec", "eval", "alias", "ulimit",
        "umask", "wait", "trap", "shift", "return", "read", "times", "type", "hash", "command",
        "builtin", "local", "declare", "readonly", "let", "shopt", "pushd", "popd", "dirs", "jobs",
        "fg", "bg", "kill",
    ];
    if BUILTINS.contains(&words[0].as_str()) {
        return None;
    }
    Some(words)
}

fn split_command(mut line: Vec<String>) -> (String, Vec<String>) {
    if line.is_empty() {
        return (String::new(), line);
    }
    let program = line.remove(0);
    (program, line)
}

fn script_extension(shell: &Shell) -> &'static str {
    match shell {
        Shell::Python => "py",
        Shell::Pwsh => "ps1",
        Shell::Node => "js",
        _ => "sh",
    }
}

/// `name=value` lines and `name<<DELIM` … `DELIM` blocks, as GitHub's `$GITHUB_OUTPUT`.
pub fn parse_outputs(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<")
            && !name.contains('=')
        {
            let mut value = Vec::new();
            let mut closed = false;
            for l in lines.by_ref() {
                if l == delimiter {
                    closed = true;
                    break;
                }
                value.push(l);
            }
            if !closed {
                return Err(format!(
                    "`{name}<<{delimiter}` has no closing `{delimiter}` line"
                ));
            }
            outputs.insert(name.trim().to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.trim().to_owned(), value.to_owned());
        } else {
            return Err(format!(
                "line `{line}` is neither `name=value` nor `name<<DELIMITER`"
            ));
        }
    }
    Ok(outputs)
}

#[derive(Debug, Clone, Default)]
/// What a node's expressions see. The parts every node of a playbook shares (vars,
/// secrets, env, `orch` but its job and node) are shared, not copied per node.
struct NodeScope {
    vars: Arc<Map<String, Value>>,
    matrix: Map<String, Value>,
    needs: Map<String, Value>,
    env: Arc<Map<String, Value>>,
    secrets: Arc<Map<String, Value>>,
    /// `orch` without `job` and `node`.
    orch: Arc<Map<String, Value>>,
    job: String,
    node: String,
    success: bool,
    failure: bool,
    cancelled: bool,
    workspace: Arc<PathBuf>,
    inputs: Map<String, Value>,
    /// `jobs.<id>` in a reusable playbook's outputs.
    jobs: Map<String, Value>,
    /// The folder of the playbook whose expressions this scope serves (relative to the
    /// workspace): `hashFiles` patterns start there.
    base_dir: PathBuf,
    /// What failed to render while this scope was built (a playbook's `env`, a caller's
    /// `with`): every node in it fails with these, as with its own expressions.
    problems: Vec<String>,
}

impl Scope for NodeScope {
    fn context(&self, name: &str) -> Option<Value> {
        Some(match name {
            "vars" => Value::Object((*self.vars).clone()),
            "matrix" => Value::Object(self.matrix.clone()),
            "needs" => Value::Object(self.needs.clone()),
            "env" => Value::Object((*self.env).clone()),
            "secrets" => Value::Object((*self.secrets).clone()),
            "orch" => {
                let mut orch = (*self.orch).clone();
                orch.insert("job".into(), Value::String(self.job.clone()));
                orch.insert("node".into(), Value::String(self.node.clone()));
                Value::Object(orch)
            }
            "inputs" => Value::Object(self.inputs.clone()),
            "jobs" => Value::Object(self.jobs.clone()),
            _ => return None,
        })
    }

    fn context_property(&self, name: &str, property: &str) -> Option<Value> {
        let map = match name {
            "vars" => &self.vars,
            "matrix" => &self.matrix,
            "needs" => &self.needs,
            "env" => &self.env,
            "secrets" => &self.secrets,
            "orch" if property.eq_ignore_ascii_case("job") => {
                return Some(Value::String(self.job.clone()));
            }
            "orch" if property.eq_ignore_ascii_case("node") => {
                return Some(Value::String(self.node.clone()));
            }
            "orch" => &self.orch,
            "inputs" => &self.inputs,
            "jobs" => &self.jobs,
            _ => return None,
        };
        Some(expr::map_property(map, property))
    }

    /// Patterns are relative to the playbook the expression is written in.
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        if self.base_dir.as_os_str().is_empty() {
            return crate::files::hash_files(&self.workspace, patterns);
        }
        let base = self.base_dir.display();
        let patterns: Vec<String> = patterns
            .iter()
            .map(|p| match p.strip_prefix('!') {
                Some(rest) => format!("!{base}/{}", rest.strip_prefix("./").unwrap_or(rest)),
                None => format!("{base}/{}", p.strip_prefix("./").unwrap_or(p)),
            })
            .collect();
        crate::files::hash_files(&self.workspace, &patterns)
    }

    fn status(&self, function: &str) -> bool {
        match function {
            "always" => true,
            "success" => self.success,
            "failure" => self.failure,
            "cancelled" => self.cancelled,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_like_github() {
        let out = parse_outputs("a=1\nb=x=y\nlong<<EOF\nline 1\nline 2\nEOF\n").unwrap();
        assert_eq!(out["a"], "1");
        assert_eq!(out["b"], "x=y");
        assert_eq!(out["long"], "line 1\nline 2");
        assert!(parse_outputs("x<<EOF\nno end\n").is_err());
        assert!(parse_outputs("just words\n").is_err());
    }

    #[test]
    fn plain_commands_skip_the_shell() {
        assert_eq!(plain_command("true"), Some(vec!["true".to_owned()]));
        assert_eq!(
            plain_command(" make -j4 all "),
            Some(vec!["make".into(), "-j4".into(), "all".into()])
        );
        for shell_syntax in [
            "echo $HOME",
            "a | b",
            "a && b",
            "x=1 cmd",
            "echo 'q'",
            "ls *.rs",
            "a\nb",
            "cd dir",
            "exit 1",
            "",
        ] {
            assert_eq!(plain_command(shell_syntax), None, "{shell_syntax}");
        }
    }
}
