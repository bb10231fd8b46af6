//! The scheduler: runs the selected nodes of a sealed graph on tokio, in dependency
//! order, within `-j`, `max-parallel`, `fail-fast`, `--keep-going`, `if`, `retries` and
//! `timeout`. It knows nodes and processes; observers get events, never a terminal.
//!
//! (Over 600 lines with its test, which needs a whole store that answers late.)

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinError;

use super::node_tasks::{self, NodeTasks};

use super::consult::{Answer, Consult, Pending, answer_now};
use super::decide::{Decision, JobOutcome};
use super::node_key::FoundTool;
use super::prepare::NodeWork;
use super::scope::NodeScope;
use crate::cache::state::{FreshKey, LastKeys};
use crate::compile::expr::Template;
use crate::compile::graph::Graph;
use crate::db::Database;
use crate::exec::mask::Secrets;
use crate::report::event::{Event, NodeResult, NodeStatus, Observer, RunStatus};
use orch_store::{Backend, Digest};

pub struct RunOptions {
    pub workspace: PathBuf,
    pub run_id: String,
    /// Where logs go (`.orch/runs/RUN_ID/logs`).
    pub log_dir: PathBuf,
    /// Where the run's artifacts are kept (`.orch/runs/RUN_ID/artifacts`).
    pub artifacts_dir: PathBuf,
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
    /// Set when the playbook is a GitHub Actions workflow: its contexts' facts.
    pub workflow: Option<Arc<crate::exec::github::WorkflowRun>>,
    /// `--remote-exec`: where the steps of the nodes that can go run.
    pub offload: Option<Arc<dyn orch_store::Offload>>,
    /// `--remote-exec-jobs marked`: only jobs that say `remote:` go.
    pub offload_only_marked: bool,
}

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
    /// Patterns of files never inputs by the default rule besides declared outputs and
    /// playbooks: what orch writes for runs (`state::report_file_patterns`).
    pub not_inputs: Vec<String>,
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

pub(super) struct State<'g> {
    pub(super) graph: &'g Graph,
    pub(super) options: &'g RunOptions,
    pub(super) results: Vec<Option<NodeResult>>,
    /// Selected nodes of each job not finished yet.
    pub(super) unfinished: Vec<usize>,
    pub(super) released: Vec<bool>,
    pub(super) running_per_job: Vec<usize>,
    pub(super) running: usize,
    /// The `concurrency` groups a running node holds, and each node's group once known.
    pub(super) running_groups: std::collections::HashSet<String>,
    pub(super) node_groups: HashMap<usize, Option<String>>,
    pub(super) ready: VecDeque<usize>,
    /// A node failed and `--keep-going` is off: start nothing new but `always()`-like nodes.
    pub(super) halted: bool,
    /// Jobs whose `fail-fast` tripped.
    pub(super) failed_fast: Vec<bool>,
    /// Some node of the job, or of a job it needs transitively, failed.
    pub(super) failure_upstream: Vec<bool>,
    pub(super) cancel_level: u8,
    pub(super) run_failed: bool,
    /// Set when a job has ended (all its selected nodes, or at once for a job with none).
    pub(super) job_outcomes: Vec<Option<JobOutcome>>,
    /// Jobs that ended since their dependents were last looked at.
    pub(super) newly_finished: Vec<usize>,
    pub(super) env_cache: Vec<(String, String)>,
    pub(super) base_scope: NodeScope,
    /// `base_scope` with the root playbook's env: what every root node starts from.
    pub(super) root_scope: NodeScope,
    pub(super) secrets: Secrets,
    /// The key queries (salsa): file digests and input sets, memoized across nodes.
    pub(super) db: Database,
    /// The value of `changes` when known files were last stat-ed again, when each folder
    /// input patterns are rooted in was last listed, and the default inputs' listing.
    pub(super) refreshed_at: Option<u64>,
    pub(super) listed_at: HashMap<String, u64>,
    pub(super) default_listed_at: Option<u64>,
    /// How many times nodes may have changed the workspace (a node ran, or a restore
    /// wrote files).
    pub(super) changes: u64,
    /// Above every stat stamp the database holds from earlier runs (`State::stat_epoch`).
    pub(super) epoch_base: u64,
    /// `changes` when each job was released: its keys need a listing at least that new.
    pub(super) job_epoch: Vec<u64>,
    /// Never inputs by default: every declared output and every playbook file.
    pub(super) not_inputs: Vec<String>,
    pub(super) fresh_keys: Vec<FreshKey>,
    /// `Graph::transitive_needs`: the jobs whose artifacts a job's nodes may fetch;
    /// computed when a node first runs.
    pub(super) all_needs: std::cell::OnceCell<Vec<Vec<usize>>>,
    /// The ids of `all_needs`, per job, when a node first asks (`download-artifact`).
    pub(super) all_need_ids: std::cell::RefCell<Vec<Option<Arc<[String]>>>>,
    /// Per job, what its nodes' keys hold of their needs, once all of them ended
    /// (`State::job_needs`), and the digest of that: what a job needing it holds.
    pub(super) job_needs: std::cell::RefCell<Vec<Option<Arc<crate::cache::key::Needs>>>>,
    pub(super) job_upstream: Vec<Option<Digest>>,
    /// Node index by id, built when a miss first explains itself through its needs.
    pub(super) node_index: std::cell::OnceCell<HashMap<String, usize>>,
    /// Interpreter and tool digests by (program, the node's PATH), found once per run.
    pub(super) tool_memo: std::cell::RefCell<Vec<FoundTool>>,
    /// `key::platform()`, once.
    pub(super) platform: String,
    /// orch's own PATH, what a node without one of its own searches.
    pub(super) host_path: String,
    /// Problems that belong to no node (a reusable playbook's `outputs`), shown at the end.
    pub(super) warnings: Vec<String>,
    /// Folders of rendered paths already checked to stay inside the workspace.
    pub(super) path_checks: std::cell::RefCell<crate::files::paths::CheckedFolders>,
    /// Each job's view of the other jobs' declared outputs (`claimed_by_others`).
    pub(super) others_outputs:
        std::cell::RefCell<HashMap<usize, Arc<crate::files::glob::Patterns>>>,
    /// Input globs compiled to tell whether each matched a file.
    pub(super) pattern_memo: std::cell::RefCell<HashMap<String, crate::files::glob::Patterns>>,
}

pub async fn execute(
    graph: Arc<Graph>,
    options: RunOptions,
    observer: Arc<dyn Observer>,
    mut interrupts: watch::Receiver<u8>,
) -> RunOutcome {
    let mut options = options;
    observer.event(&Event::RunStarted {
        run_id: options.run_id.clone(),
        selected: (0..graph.nodes.len())
            .filter(|&n| options.selected[n])
            .collect(),
    });
    let mut changes = options.changes.take();
    let mut db = match options.db.take() {
        Some(db) => {
            db.start_round();
            db
        }
        None => Database::for_workspace(&options.workspace, &options.cache.stat_cache),
    };
    db.skip_dirs = options.cache.skip_dirs.clone();
    let epoch_base = db.stat_epoch + 1;
    // What the first keys' listings are stamped with (`State::sync_files` sets it so).
    db.stat_epoch = epoch_base;
    db.prefetch_listings(glob_roots(&graph, &options.selected));
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
        running_groups: Default::default(),
        node_groups: HashMap::new(),
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
        listed_at: HashMap::new(),
        default_listed_at: None,
        changes: 0,
        epoch_base,
        job_epoch: vec![0; jobs],
        not_inputs: not_inputs(&graph)
            .into_iter()
            .chain(options.cache.not_inputs.iter().cloned())
            .collect(),
        fresh_keys: Vec::new(),
        env_cache: Vec::new(),
        all_needs: std::cell::OnceCell::new(),
        all_need_ids: std::cell::RefCell::new(vec![None; jobs]),
        job_needs: std::cell::RefCell::new(vec![None; jobs]),
        job_upstream: vec![None; jobs],
        node_index: std::cell::OnceCell::new(),
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
    let mut running = Running {
        observer: &observer,
        node_cancels: HashMap::new(),
        cleanups: std::collections::HashSet::new(),
        tasks: NodeTasks::new(),
    };
    // Questions to a cache that did not answer at once (a remote one): awaited beside the
    // running nodes, so scheduling never waits for the network.
    let mut lookups: NodeTasks<(NodeWork, Pending, Answer)> = NodeTasks::new();
    // Answers that came back when they could not be used (files changed meanwhile, or a
    // miss with no room to run): the node is keyed again, and a key that comes out the
    // same takes its answer instead of asking again.
    let mut kept: HashMap<usize, (Digest, Answer)> = HashMap::new();
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
                if state.running >= options.jobs.max(1) || lookups.len() >= MAX_LOOKUPS {
                    state.ready.push_front(node);
                    break;
                }
                let job = graph.nodes[node].job;
                if state.running_per_job[job] >= graph.jobs[job].max_parallel.unwrap_or(usize::MAX)
                    || state.group_is_busy(node)
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
                        let decided = match state.start_consult(node, &mut work) {
                            Consult::Decided(result) => result,
                            Consult::Ask(pending, mut ask) => {
                                let known = kept
                                    .remove(&node)
                                    .filter(|(key, _)| *key == pending.key)
                                    .map(|(_, answer)| answer);
                                match known.or_else(|| answer_now(&mut ask)) {
                                    Some(answer) => {
                                        state.finish_consult(node, &mut work, pending, answer).await
                                    }
                                    None => {
                                        lookups.spawn(node, async move {
                                            let answer = ask.await;
                                            (work, pending, answer)
                                        });
                                        continue;
                                    }
                                }
                            }
                        };
                        match decided {
                            Some(result) => {
                                observer.event(&Event::NodeFinished {
                                    node,
                                    result: result.clone(),
                                });
                                state.finish(node, result);
                                progressed = true;
                            }
                            None => {
                                running.start(&mut state, node, work);
                            }
                        }
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
        if running.tasks.is_empty() && lookups.is_empty() {
            break;
        }
        tokio::select! {
            Some((node, joined)) = lookups.join_next(), if !lookups.is_empty() => {
                let (mut work, pending, answer) = match joined {
                    Ok(answered) => answered,
                    Err(e) => {
                        state.finish_lost(node, &e, &observer);
                        continue;
                    }
                };
                let job = graph.nodes[node].job;
                let room = state.running < options.jobs.max(1)
                    && state.running_per_job[job] < graph.jobs[job].max_parallel.unwrap_or(usize::MAX)
                    && !state.group_is_busy(node);
                // Files may have changed while it waited (its key is computed again), or it
                // must wait its turn to run.
                if pending.changes != state.changes || (answer.is_miss() && !room) {
                    kept.insert(node, (pending.key, answer));
                    state.ready.push_front(node);
                    continue;
                }
                // So may the run (a failure, a cancellation).
                if let Decision::Finish(result) = state.decide(node) {
                    observer.event(&Event::NodeFinished { node, result: result.clone() });
                    state.finish(node, result);
                    continue;
                }
                match state.finish_consult(node, &mut work, pending, answer).await {
                    Some(result) => {
                        observer.event(&Event::NodeFinished { node, result: result.clone() });
                        state.finish(node, result);
                    }
                    None => {
                        running.start(&mut state, node, work);
                    }
                }
            }
            Some((node, joined)) = running.tasks.join_next(), if !running.tasks.is_empty() => {
                running.node_cancels.remove(&node);
                let job = graph.nodes[node].job;
                state.running -= 1;
                state.running_per_job[job] -= 1;
                if let Some(Some(group)) = state.node_groups.get(&node) {
                    state.running_groups.remove(group);
                }
                let mut result = match joined {
                    Ok(result) => result,
                    Err(e) => {
                        state.finish_lost(node, &e, &observer);
                        continue;
                    }
                };
                if result.status == NodeStatus::Cancelled && state.cancel_level == 0 {
                    result.reason = Some("cancelled: a file it reads changed while it ran".into());
                }
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
                    // A second Ctrl-C does not wait for the cache either.
                    if level >= 2 {
                        lookups.abort_all();
                    }
                    for (node, cancel) in &running.node_cancels {
                        if level >= 2 || !running.cleanups.contains(node) {
                            let _ = cancel.send(level);
                        }
                    }
                }
            }
            paths = next_change(&mut changes), if changes.is_some() => {
                match paths {
                    None => changes = None,
                    Some(paths) => {
                        for (node, cancel) in &running.node_cancels {
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
    } else if let Some(criteria) = &graph.playbook.success {
        // The playbook's own rules decide, on the nodes' real outcomes.
        let broken = crate::report::gate::broken_rules(criteria, &graph, &state.results);
        for rule in &broken {
            state.warnings.push(format!("success: {rule}"));
        }
        if broken.is_empty() {
            RunStatus::Success
        } else {
            RunStatus::Failure
        }
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
    observer.event(&Event::RunFinished { status });
    let (results, fresh_keys, db) = (state.results, state.fresh_keys, state.db);
    RunOutcome {
        status,
        results,
        fresh_keys,
        last_keys: std::mem::take(&mut options.cache.last_keys),
        db,
    }
}

/// The nodes whose processes run: their tasks, where their results come back, and how
/// each is cancelled.
struct Running<'a> {
    observer: &'a Arc<dyn Observer>,
    /// Each running node's cancel channel: a run-wide cancel reaches them all, a changed
    /// input only the nodes that read it.
    node_cancels: HashMap<usize, watch::Sender<u8>>,
    /// Nodes started after the first interrupt (their `if` asked to): only a second one
    /// stops them.
    cleanups: std::collections::HashSet<usize>,
    tasks: NodeTasks<NodeResult>,
}

impl Running<'_> {
    fn start(&mut self, state: &mut State<'_>, node: usize, mut work: NodeWork) {
        let job = state.graph.nodes[node].job;
        state.for_running(node, &mut work);
        state.running += 1;
        state.running_per_job[job] += 1;
        if let Some(group) = state.group_of(node) {
            state.running_groups.insert(group);
        }
        let observer = self.observer.clone();
        // A node that starts after a first Ctrl-C because its `if` says so (`always()`,
        // `cancelled()`: cleanup, a report) runs to its end, as on GitHub; a second Ctrl-C
        // still kills it.
        let cleanup = state.cancel_level == 1;
        let level = if cleanup { 0 } else { state.cancel_level };
        let (cancel_tx, cancel) = watch::channel(level);
        if cleanup {
            self.cleanups.insert(node);
        }
        self.node_cancels.insert(node, cancel_tx);
        self.tasks
            .spawn(node, async move { work.run(node, observer, cancel).await });
    }
}

/// Cache lookups in flight at once: enough to hide a remote's latency, few enough that
/// a slow one is not flooded (nodes wait in the ready queue meanwhile).
const MAX_LOOKUPS: usize = 64;

impl State<'_> {
    /// A node whose task ended without a result: cancelled when aborted, else failed.
    fn finish_lost(&mut self, node: usize, error: &JoinError, observer: &Arc<dyn Observer>) {
        let status = if error.is_cancelled() {
            NodeStatus::Cancelled
        } else {
            NodeStatus::Failure
        };
        if status == NodeStatus::Failure {
            // orch's own fault, never an allowed failure; and what it wrote is unknown.
            self.run_failed = true;
            self.changes += 1;
        }
        let result = NodeResult::not_run(status, node_tasks::lost(error));
        observer.event(&Event::NodeFinished {
            node,
            result: result.clone(),
        });
        self.finish(node, result);
    }
}

pub(super) async fn next_change(
    changes: &mut Option<tokio::sync::mpsc::UnboundedReceiver<Vec<String>>>,
) -> Option<Vec<String>> {
    match changes {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// What the default-inputs rule leaves out: every job's declared outputs and the
/// playbook files themselves (their relevant text is in each key already).
pub(super) fn not_inputs(graph: &Graph) -> Vec<String> {
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
        .filter(|p| !crate::files::glob::is_literal(p))
        .map(|p| format!("{p}/**"))
        .collect();
    patterns.extend(folders);
    patterns.extend(graph.origins.iter().map(|o| o.path.display().to_string()));
    patterns
}

/// The folders the input globs of the selected jobs are rooted in, where those globs
/// are literal (rendered ones are known only when their node starts).
fn glob_roots(graph: &Graph, selected: &[bool]) -> Vec<String> {
    let mut roots: Vec<String> = graph
        .jobs
        .iter()
        .filter(|job| job.cache && job.nodes.clone().any(|n| selected.get(n) == Some(&true)))
        .filter_map(|job| job.inputs.as_ref())
        .filter(|list| list.iter().all(crate::compile::expr::Template::is_literal))
        .map(|list| {
            list.iter()
                .map(crate::compile::expr::Template::as_glob)
                .collect::<Vec<_>>()
        })
        .filter(|patterns| !patterns.iter().all(|p| crate::files::glob::is_literal(p)))
        .flat_map(|patterns| crate::files::glob::listing_roots(&patterns))
        .collect();
    roots.sort_unstable();
    roots.dedup();
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Session;
    use crate::load::diag::SourceFile;
    use orch_store::{ActionResult, BlobDigest, Digest, LocalStore, StoreFuture};
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A store that, like a remote one, does not answer lookups at once; the keys in
    /// `slower` take longer, so answers come back in another order than asked.
    struct Slow {
        store: LocalStore,
        asked: AtomicUsize,
        slower: std::sync::Mutex<Vec<Digest>>,
        /// Lookups panic (a broken backend): their nodes must still finish.
        panics: bool,
        /// Files sent in upload batches.
        uploaded: AtomicUsize,
    }

    impl Slow {
        async fn wait(&self, key: &Digest) {
            tokio::task::yield_now().await;
            assert!(!self.panics, "the backend broke");
            let slower = self.slower.lock().is_ok_and(|s| s.contains(key));
            for _ in 0..if slower { 8 } else { 1 } {
                tokio::task::yield_now().await;
            }
        }
    }

    impl Backend for Slow {
        fn has_actions<'a>(&'a self, keys: &'a [Digest]) -> StoreFuture<'a, Vec<bool>> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                self.wait(&keys[0]).await;
                self.store.has_actions(keys).await
            })
        }
        fn get_action<'a>(&'a self, key: &'a Digest) -> StoreFuture<'a, Option<ActionResult>> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                self.wait(key).await;
                Backend::get_action(&self.store, key).await
            })
        }
        fn put_action<'a>(
            &'a self,
            key: &'a Digest,
            result: &'a ActionResult,
        ) -> StoreFuture<'a, ()> {
            Backend::put_action(&self.store, key, result)
        }
        fn find_missing_blobs<'a>(
            &'a self,
            blobs: &'a [BlobDigest],
        ) -> StoreFuture<'a, Vec<BlobDigest>> {
            self.store.find_missing_blobs(blobs)
        }
        fn upload_files<'a>(&'a self, files: &'a [(BlobDigest, PathBuf)]) -> StoreFuture<'a, ()> {
            self.uploaded.fetch_add(files.len(), Ordering::Relaxed);
            self.store.upload_files(files)
        }
        fn read_blob<'a>(&'a self, blob: &'a BlobDigest) -> StoreFuture<'a, Option<Vec<u8>>> {
            Backend::read_blob(&self.store, blob)
        }
        fn restore_blob<'a>(
            &'a self,
            blob: &'a BlobDigest,
            dest: &'a Path,
            mode: u32,
        ) -> StoreFuture<'a, bool> {
            Backend::restore_blob(&self.store, blob, dest, mode)
        }
    }

    struct Quiet;
    impl Observer for Quiet {
        fn event(&self, _: &Event) {}
    }

    fn slow(ws: &Path) -> Arc<Slow> {
        Arc::new(Slow {
            store: LocalStore::open(&ws.join(".orch/cache")).unwrap(),
            asked: AtomicUsize::new(0),
            slower: Default::default(),
            panics: false,
            uploaded: AtomicUsize::new(0),
        })
    }

    fn graph_of(ws: &Path, text: &str) -> Arc<Graph> {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: text.into(),
        };
        Session::new(source, ws, std::path::Path::new("orch.yml"))
            .graph(crate::compile::graph::Overrides::default())
            .unwrap()
    }

    fn run(ws: &Path, backend: Arc<Slow>, graph: &Arc<Graph>, last_keys: LastKeys) -> RunOutcome {
        run_with(ws, backend, graph, last_keys, 2)
    }

    fn run_with(
        ws: &Path,
        backend: Arc<Slow>,
        graph: &Arc<Graph>,
        last_keys: LastKeys,
        jobs: usize,
    ) -> RunOutcome {
        let options = RunOptions {
            workspace: ws.to_path_buf(),
            run_id: "test".into(),
            artifacts_dir: ws.join(".orch/artifacts"),
            log_dir: ws.join(".orch/logs"),
            scratch_dir: ws.join(".orch/tmp"),
            jobs,
            keep_going: false,
            selected: vec![true; graph.nodes.len()],
            secrets: BTreeMap::new(),
            cache: CacheOptions {
                backend,
                force: false,
                last_keys,
                skip_dirs: vec![PathBuf::from(".orch")],
                not_inputs: Vec::new(),
                stat_cache: ws.join(".orch/stat-cache"),
            },
            plan: false,
            db: None,
            refresh_known_files: true,
            changes: None,
            workflow: None,
            offload: None,
            offload_only_marked: false,
        };
        std::fs::create_dir_all(ws.join(".orch/logs")).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_tx, interrupts) = watch::channel(0u8);
        runtime.block_on(execute(graph.clone(), options, Arc::new(Quiet), interrupts))
    }

    #[test]
    fn a_cache_that_answers_late_gives_the_same_run() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::write(ws.join("in.txt"), "input").unwrap();
        let text = "jobs:
  a:
    inputs: [in.txt]
    outputs: [a.txt]
    run: cat in.txt > a.txt; echo n=1 >> \"$ORCH_OUTPUT\"
  b:
    needs: a
    inputs: [a.txt]
    outputs: [b.txt]
    run: cat a.txt a.txt > b.txt
  c:
    inputs: [in.txt]
    outputs: [c.txt]
    run: cp in.txt c.txt
";
        let graph = graph_of(ws, text);
        let backend = slow(ws);
        let first = run(ws, backend.clone(), &graph, LastKeys::default());
        assert_eq!(first.status, RunStatus::Success);
        assert!(
            backend.asked.load(Ordering::Relaxed) >= 3,
            "every node asked the cache"
        );
        assert!(first.results.iter().flatten().all(|r| !r.cached));
        // Outputs gone but c's, the same run again: every node comes from the slow cache
        // (c's answer, found in place, changes no file, so a's later answer stands).
        for file in ["a.txt", "b.txt"] {
            std::fs::remove_file(ws.join(file)).unwrap();
        }
        // The first node asked answers last.
        let first_key = first.results[0].as_ref().and_then(|r| r.key).unwrap();
        backend.slower.lock().unwrap().push(first_key);
        let backend_again = backend.clone();
        let second = run(ws, backend, &graph, LastKeys::default());
        assert_eq!(second.status, RunStatus::Success);
        for (node, result) in second.results.iter().enumerate() {
            let result = result.as_ref().unwrap();
            assert!(result.cached, "{} was not restored", graph.nodes[node].id);
        }
        assert_eq!(
            std::fs::read_to_string(ws.join("b.txt")).unwrap(),
            "inputinput"
        );
        assert_eq!(second.results[0].as_ref().unwrap().outputs["n"], "1");
        // What the second run remembered of each record is that node's own: a third run
        // from it restores each node's own files (answers came back in another order
        // than the questions went out).
        let orch_dir = ws.join(".orch");
        crate::cache::state::save_keys(&orch_dir, &second.last_keys, &second.fresh_keys).unwrap();
        for file in ["a.txt", "b.txt", "c.txt"] {
            std::fs::remove_file(ws.join(file)).unwrap();
        }
        let third = run(ws, backend_again, &graph, LastKeys::load(&orch_dir));
        assert_eq!(third.status, RunStatus::Success);
        assert!(third.results.iter().flatten().all(|r| r.cached));
        assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "input");
        assert_eq!(std::fs::read_to_string(ws.join("c.txt")).unwrap(), "input");
        assert_eq!(
            std::fs::read_to_string(ws.join("b.txt")).unwrap(),
            "inputinput"
        );
        assert!(!third.results[2].as_ref().unwrap().outputs.contains_key("n"));
    }

    /// Many independent jobs, one at a time: each node asks once (its key, and where it
    /// never ran, the other-host note), however long it waits for its turn to run.
    #[test]
    fn a_late_miss_is_asked_once_while_it_waits_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let mut text = String::from("jobs:\n");
        for n in 0..12 {
            text.push_str(&format!(
                "  j{n}: {{ inputs: [], outputs: [o{n}.txt], run: 'echo {n} > o{n}.txt' }}\n"
            ));
        }
        let graph = graph_of(ws, &text);
        let backend = slow(ws);
        let outcome = run_with(ws, backend.clone(), &graph, LastKeys::default(), 1);
        assert_eq!(outcome.status, RunStatus::Success);
        assert!(outcome.results.iter().flatten().all(|r| r.attempts == 1));
        assert_eq!(backend.asked.load(Ordering::Relaxed), 2 * 12);
    }

    #[test]
    fn a_lookup_that_breaks_fails_its_node_and_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let graph = graph_of(ws, "jobs:\n  a: { inputs: [], run: 'true' }\n");
        let backend = Arc::new(Slow {
            panics: true,
            ..Arc::into_inner(slow(ws)).unwrap()
        });
        let outcome = run(ws, backend, &graph, LastKeys::default());
        assert_eq!(outcome.status, RunStatus::Failure);
        let result = outcome.results[0].as_ref().unwrap();
        assert_eq!(result.status, NodeStatus::Failure);
        let reason = result.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("task for this node failed"), "{reason}");
    }

    #[test]
    fn a_blob_several_outputs_hold_is_uploaded_once() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let graph = graph_of(
            ws,
            "jobs:\n  a: { inputs: [], outputs: [a.txt, b.txt], run: 'echo same > a.txt; cp a.txt b.txt; echo log' }\n",
        );
        let backend = slow(ws);
        let outcome = run(ws, backend.clone(), &graph, LastKeys::default());
        assert_eq!(outcome.status, RunStatus::Success);
        // The outputs' one content and the log.
        assert_eq!(backend.uploaded.load(Ordering::Relaxed), 2);
    }
}
