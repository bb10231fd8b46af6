//! Consulting the cache for a ready node: its key computed on up-to-date files, looked
//! up, and on a hit its outputs restored.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use super::prepare::NodeWork;
use super::scheduler::State;
use crate::cache::key::Needs;
use crate::cache::key::{HostNote, KeyComponents, KeyView};
use crate::cache::outputs;
use crate::cache::queries::{self, FileList};
use crate::cache::state::{FreshKey, RecordUpdate};
use crate::db::Db;
use crate::report::event::{NodeResult, NodeStatus, PlanAction};
use orch_store::{ActionResult, Digest, StoreError};
use salsa::Setter;

/// A node whose key is known, waiting for the cache's answer.
pub(super) struct Pending {
    started: Instant,
    id: String,
    pub(super) key: Digest,
    partial: Arc<KeyComponents>,
    inputs: Arc<BTreeMap<String, Digest>>,
    /// `changes` when the key was computed: an answer that comes back after files may have
    /// changed is for an old key, and the node is keyed again.
    pub(super) changes: u64,
}

/// What the cache said of a key: the record found (and what to remember of it), and on a
/// miss of a node never run here, whether another host holds a result for it.
pub(super) struct Answer {
    found: Result<Option<(ActionResult, RecordUpdate)>, StoreError>,
    elsewhere: Option<String>,
}

impl Answer {
    /// Whether the node must run (nothing found, or the cache could not say).
    pub(super) fn is_miss(&self) -> bool {
        !matches!(self.found, Ok(Some(_)))
    }
}

/// The question to the cache, as a future: a local store's is ready when made.
pub(super) type Ask = Pin<Box<dyn Future<Output = Answer> + Send>>;

pub(super) enum Consult {
    /// Known without asking: `Some` finishes the node, `None` runs it.
    Decided(Option<NodeResult>),
    Ask(Pending, Ask),
}

/// The answer if it is there already (it always is for the local store), so the loop
/// acts on it at once; otherwise the loop awaits it as a task and goes on meanwhile.
pub(super) fn answer_now(ask: &mut Ask) -> Option<Answer> {
    orch_store::answered_now(ask)
}

/// The listings a node's key selects its inputs from.
pub(super) enum Listings {
    /// Literal paths of files known to the database: none.
    None,
    /// The default-inputs rule: every file not ignored.
    Default,
    /// The folders its patterns are rooted in (`files::glob::listing_roots`).
    Folders(Vec<String>),
}

impl State<'_> {
    /// Brings the key database up to date for a job's keys: files it knows are stat-ed
    /// again (changed ones re-hashed) and the listings a node's patterns select from are
    /// walked again. Both only when something ran or was restored since, and only for
    /// jobs released after that: a node's inputs may come from its needs, not from nodes
    /// running beside it.
    pub(super) fn sync_files(&mut self, job: usize, listings: &Listings) -> FileList {
        self.db.stat_epoch = self.stat_epoch();
        let epoch = self.job_epoch[job];
        let first_call = self.refreshed_at.is_none();
        if self.refreshed_at.is_none_or(|at| at < epoch) {
            if self.refreshed_at.is_some() || self.options.refresh_known_files {
                self.db.refresh_files();
            }
            self.refreshed_at = Some(self.changes);
        }
        let files = match self.db.file_list {
            Some(files) => files,
            None => {
                let files = FileList::new(&self.db, Arc::default(), self.not_inputs.clone());
                self.db.file_list = Some(files);
                files
            }
        };
        // `not_inputs` is fixed for the run: compared once (per node it was a thousand
        // string comparisons a node).
        if first_call && *files.not_inputs(&self.db) != self.not_inputs {
            files
                .set_not_inputs(&mut self.db)
                .to(self.not_inputs.clone());
        }
        match listings {
            Listings::None => {}
            Listings::Default => {
                if self.default_listed_at.is_none_or(|at| at < epoch) {
                    let workspace = &self.options.workspace;
                    let skip = &self.options.cache.skip_dirs;
                    let default = Arc::new(crate::files::walk::list_files(workspace, true, skip));
                    // Setters start a new revision: only for a real change.
                    if **files.default(&self.db) != *default {
                        files.set_default(&mut self.db).to(default);
                    }
                    self.default_listed_at = Some(self.changes);
                }
            }
            Listings::Folders(roots) => {
                for root in roots {
                    if self.listed_at.get(root).is_none_or(|at| *at < epoch) {
                        self.db.relist(root);
                        self.listed_at.insert(root.clone(), self.changes);
                    }
                }
            }
        }
        files
    }

    /// What stats are stamped with now: `changes`, above every stamp of earlier runs
    /// with the same database (watch).
    pub(super) fn stat_epoch(&self) -> u64 {
        self.epoch_base + self.changes
    }

    /// Whether another job's declared outputs (expressions counting as `*`) match `path`:
    /// a restore never sweeps it away as a stray. Compiled once per job, when asked.
    pub(super) fn claimed_by_others(&self, job: usize, path: &str) -> bool {
        self.others_outputs(job).matches(Path::new(path))
    }

    /// Every other job's declared outputs as one set of patterns, compiled once a job.
    pub(super) fn others_outputs(
        &self,
        job: usize,
    ) -> std::sync::Arc<crate::files::glob::Patterns> {
        let mut memo = self.others_outputs.borrow_mut();
        memo.entry(job)
            .or_insert_with(|| {
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
                std::sync::Arc::new(crate::files::glob::Patterns::each_valid(&globs))
            })
            .clone()
    }

    /// The first of a node's include patterns that matches none of its input files. A
    /// literal path or `dir/**` is looked up in the sorted inputs; other globs are
    /// compiled once per run.
    pub(super) fn unmatched_pattern<'p>(
        &self,
        patterns: &'p [String],
        inputs: &BTreeMap<String, Digest>,
    ) -> Option<&'p str> {
        let mut compiled = self.pattern_memo.borrow_mut();
        patterns
            .iter()
            .filter(|p| !p.starts_with('!'))
            .find(|pattern| {
                let path = queries::literal_path(pattern);
                let folder = path.strip_suffix("/**").unwrap_or(path);
                if !folder.contains(crate::files::glob::GLOB_CHARS) {
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
                    crate::files::glob::Patterns::new(std::slice::from_ref(pattern))
                        .unwrap_or_else(|_| crate::files::glob::Patterns::none())
                });
                !inputs.keys().any(|k| matcher.matches(Path::new(k)))
            })
            .map(String::as_str)
    }

    /// Computes the node's key and asks the cache for it. What needs no answer (a node
    /// that fails before running, `cache: false`, `--no-cache`) is decided at once; else
    /// the question, to be answered by [`State::finish_consult`].
    pub(super) fn start_consult(&mut self, node: usize, work: &mut NodeWork) -> Consult {
        let started = Instant::now();
        let job = &self.graph.jobs[self.graph.nodes[node].job];
        let id = self.graph.nodes[node].id.clone();
        let backend = self.options.cache.backend.clone();
        work.backend = Some(backend.clone());
        // A node whose paths or values could not be rendered fails when it runs; it is
        // never looked up.
        if let Some(problem) = work.render_problems.first() {
            work.why = Some(problem.clone());
            return Consult::Decided(self.options.plan.then(|| NodeResult {
                plan: Some(PlanAction::Run),
                why: Some(problem.clone()),
                ..NodeResult::not_run(NodeStatus::Success, "")
            }));
        }
        // A node that is never cached needs no key to run (plans still show one).
        if !job.cache && !self.options.plan {
            work.why = Some("cache: false".into());
            return Consult::Decided(None);
        }
        // Known files first (their digests brought up to date), then: literal paths of
        // existing files are read through their own inputs, with no listing.
        self.sync_files(self.graph.nodes[node].job, &Listings::None);
        let listings = match &work.inputs {
            None => Listings::Default,
            // Literal paths: the folders among them (what is not a file), as the key's
            // query reads them; else the roots of every pattern.
            Some(patterns) if patterns.iter().all(|p| crate::files::glob::is_literal(p)) => {
                let folders: Vec<String> = patterns
                    .iter()
                    .map(|p| queries::literal_path(p))
                    .filter(|p| self.db.file(p).digest(&self.db).is_none())
                    .map(str::to_owned)
                    .collect();
                if folders.is_empty() {
                    Listings::None
                } else {
                    Listings::Folders(crate::files::glob::listing_roots(&folders))
                }
            }
            Some(patterns) => Listings::Folders(crate::files::glob::listing_roots(patterns)),
        };
        let files = self.sync_files(self.graph.nodes[node].job, &listings);
        let partial = Arc::new(self.partial_components(node, work));
        let request = self
            .db
            .node_input(&id, partial.clone(), work.inputs.clone());
        let queries::NodeKey {
            mut inputs,
            mut key,
        } = queries::node_key(&self.db, request, files).clone();
        // Something ran since this job was released: its inputs' digests may be old. Look
        // at them again (a stat each) and recompute until the key stands.
        if self.changes > self.job_epoch[self.graph.nodes[node].job] {
            for _ in 0..3 {
                // A file first stat-ed for this very key is as new as a second look.
                let stale: Vec<String> = inputs
                    .iter()
                    .filter(|(path, _)| self.db.stated_before(path, self.stat_epoch()))
                    .filter(|(path, digest)| self.db.current_digest(path) != Some(**digest))
                    .map(|(path, _)| path.clone())
                    .collect();
                if stale.is_empty() {
                    break;
                }
                self.db.update_paths(&stale);
                queries::NodeKey { inputs, key } =
                    queries::node_key(&self.db, request, files).clone();
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
            return Consult::Decided(self.options.plan.then(|| NodeResult {
                plan: Some(PlanAction::Run),
                why: Some(problem),
                ..NodeResult::not_run(NodeStatus::Success, "")
            }));
        }
        work.key_inputs = Some((self.db.stat_cache_handle(), inputs.clone()));
        self.fresh_keys.push(FreshKey {
            node: id.clone(),
            key,
            partial: partial.clone(),
            inputs: inputs.clone(),
            record: RecordUpdate::Clear,
        });
        work.key = Some(key);

        let pending = Pending {
            started,
            id,
            key,
            partial,
            inputs,
            changes: self.changes,
        };
        if !job.cache {
            return Consult::Decided(self.missed(work, &pending, "cache: false".into()));
        }
        work.store = true;
        if self.options.cache.force {
            return Consult::Decided(self.missed(work, &pending, "--no-cache".into()));
        }
        // The record remembered from the node's last run is used when the cache still has
        // the key (a `stat` instead of a read); otherwise the cache's record is read, to be
        // remembered next. A node this workspace never ran may have a result from another
        // host: asked only on a miss, to say so rather than "no previous run".
        let last_keys = &self.options.cache.last_keys;
        let remembered = last_keys.record(&pending.id, &key);
        // A remembered record means the node ran here: no other host to ask about.
        let note = (remembered.is_none() && last_keys.key(&pending.id).is_none())
            .then(|| HostNote::of(&pending.partial, &pending.inputs));
        let ask = Box::pin(async move {
            let found = match remembered {
                Some(record) => backend
                    .has_actions(std::slice::from_ref(&key))
                    .await
                    .map(|held| {
                        held.first()
                            .copied()
                            .unwrap_or(false)
                            .then_some((record, RecordUpdate::Keep))
                    }),
                None => backend.get_action(&key).await.map(|record| {
                    record.map(|record| {
                        let bytes = orch_store::encode_record(&record);
                        (record, RecordUpdate::Set(bytes))
                    })
                }),
            };
            let elsewhere = match (&found, note) {
                (Ok(None), Some(note)) => match backend.get_note(&note.key).await {
                    Ok(Some(other)) => note.differs(&other),
                    _ => None,
                },
                _ => None,
            };
            Answer { found, elsewhere }
        });
        Consult::Ask(pending, ask)
    }

    /// Acts on the cache's answer: a hit is restored (or, in a plan, noted) and returned;
    /// a miss fills in the reason and what to store after the run.
    pub(super) async fn finish_consult(
        &mut self,
        node: usize,
        work: &mut NodeWork,
        pending: Pending,
        answer: Answer,
    ) -> Option<NodeResult> {
        let key = pending.key;
        let backend = self.options.cache.backend.clone();
        let why = match answer.found {
            Ok(Some((record, _))) if self.options.plan => {
                let remote = backend.served_remotely(&key);
                return Some(NodeResult {
                    plan: Some(PlanAction::Cached),
                    why: Some(
                        if remote {
                            "key found in the remote cache"
                        } else {
                            "key found in cache"
                        }
                        .into(),
                    ),
                    remote_hit: remote,
                    timed_out: false,
                    key: Some(key),
                    cached: true,
                    outputs: record.outputs.into_iter().collect(),
                    result_digest: Some(record.result_digest),
                    ..NodeResult::not_run(NodeStatus::Success, "")
                });
            }
            Ok(Some((record, remember))) => {
                // The record remembered under this very key passed every check when it
                // was restored here, and left no strays.
                let first_here = !matches!(remember, RecordUpdate::Keep);
                let workspace = &self.options.workspace;
                let current = |path: &str| self.db.current_file(path);
                let restored =
                    if outputs::already_in_place(workspace, &record.files, first_here, &current) {
                        Ok(false)
                    } else {
                        outputs::restore(
                            workspace,
                            &record.files,
                            &work.outputs,
                            first_here,
                            &|path| self.claimed_by_others(self.graph.nodes[node].job, path),
                            backend.as_ref(),
                            &current,
                        )
                        .await
                    };
                let restored = match restored {
                    Ok(wrote) => {
                        let spec = &self.graph.nodes[node];
                        let job = &self.graph.jobs[spec.job].id;
                        super::artifacts::restore(
                            &self.options.artifacts_dir,
                            &record.artifacts,
                            (job, &spec.id),
                            backend.as_ref(),
                        )
                        .await
                        .map(|()| wrote)
                        .map_err(|why| format!("its artifacts could not be restored: {why}"))
                    }
                    Err(why) => Err(format!("cached outputs could not be restored: {why}")),
                };
                match restored {
                    Ok(wrote) => {
                        if wrote {
                            self.changes += 1;
                        }
                        // Its own entry: other nodes may have been keyed while it waited.
                        if let Some(fresh) = self
                            .fresh_keys
                            .iter_mut()
                            .rev()
                            .find(|f| f.node == pending.id && f.key == key)
                        {
                            fresh.record = remember;
                        }
                        return Some(self.restored(key, record, pending.started));
                    }
                    Err(why) => why,
                }
            }
            Ok(None) => {
                let last_keys = &self.options.cache.last_keys;
                let failed = last_keys
                    .failed(&pending.id, &key)
                    .then(|| "it failed last time (failures are not cached)".to_owned());
                // Why the key is not the last one: only a miss needs the words.
                let since_last = || match last_keys.key(&pending.id) {
                    None => Some("no previous run".to_owned()),
                    Some(old) if old == key => None,
                    Some(_) => Some(last_keys.components(&pending.id).map_or_else(
                        || "key changed".to_owned(),
                        |old| {
                            KeyView::new(&pending.partial, &pending.inputs)
                                .to_components()
                                .why_changed_through(&old, &|need| self.needs_now_and_last(need))
                        },
                    )),
                };
                answer
                    .elsewhere
                    .or(failed)
                    .or_else(since_last)
                    .unwrap_or_else(|| "not in the cache (evicted or cleared)".into())
            }
            Err(e) => format!("the cache could not be read: {e}"),
        };
        self.missed(work, &pending, why)
    }

    /// A need's own needs as its key holds them now and as they were in the last run:
    /// how a miss names the change two levels up that made it.
    fn needs_now_and_last(&self, need: &str) -> Option<(Needs, Needs)> {
        let index = self.node_index.get_or_init(|| {
            let nodes = self.graph.nodes.iter().enumerate();
            nodes.map(|(n, spec)| (spec.id.clone(), n)).collect()
        });
        let job = self.graph.nodes[*index.get(need)?].job;
        let now = (*self.job_needs.borrow()[job].clone()?).clone();
        let last = self.options.cache.last_keys.components(need)?.needs;
        Some((now, last))
    }

    /// A miss: its reason kept for the summary, what to store beside the result, and in a
    /// plan the node's line.
    fn missed(&self, work: &mut NodeWork, pending: &Pending, why: String) -> Option<NodeResult> {
        if work.store && !self.options.plan {
            work.host_note = Some(HostNote::of(&pending.partial, &pending.inputs));
        }
        work.why = Some(why.clone());
        self.options.plan.then(|| NodeResult {
            plan: Some(PlanAction::Run),
            why: Some(why),
            key: Some(pending.key),
            ..NodeResult::not_run(NodeStatus::Success, "")
        })
    }

    /// A cache hit, its outputs already restored. Its log is placed into the run's logs
    /// when the run ends (`runs::place_logs`), all cached logs at once.
    pub(super) fn restored(
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
            artifacts: record.artifacts,
            allowed_failure: false,
            remote_hit: self.options.cache.backend.served_remotely(&key),
            timed_out: false,
        }
    }
}
