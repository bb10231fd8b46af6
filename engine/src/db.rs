//! The salsa database every stage's queries run in (the playbook queries of
//! `compile::queries`, the key queries of `cache::queries`), and the state behind its
//! inputs: the playbooks `uses` reached, the workspace files' digest inputs through the
//! stat cache, and each node's key input kept by id across runs (watch).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::cache::key::KeyComponents;
use crate::cache::queries::{FileList, FolderListing, NodeKeyInput, WorkspaceFile};
use crate::cache::stat_cache::{FileStat, StatCache};
use crate::compile::graph::{Graph, Overrides};
use crate::compile::queries::{PlaybookSource, Settings, compile_graph, parse_playbook};
use crate::compile::remembered::GraphMemo;
use crate::load::diag::{LoadError, SourceFile};
use crate::load::model::Playbook;
use orch_store::Digest;
use salsa::Setter;

/// The database as queries see it: salsa's, plus the files that `uses` reaches.
#[salsa::db]
pub trait Db: salsa::Database {
    /// The input of a playbook named by `uses` (relative to the workspace), read on first
    /// use and kept, so a watcher can later update it like any input.
    fn used_source(&self, path: &Path) -> Result<PlaybookSource, LoadError>;
    /// The digest input of a workspace file, created (through the stat cache) on first use.
    fn file(&self, path: &str) -> WorkspaceFile;
    /// The listing input of a workspace folder (`""`: all of it), walked on first use.
    fn listing(&self, folder: &str) -> FolderListing;
}

#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
    /// The workspace that `uses` paths are relative to.
    workspace: PathBuf,
    used: Arc<Mutex<HashMap<PathBuf, PlaybookSource>>>,
    /// Files compiling looked for and could not read: a remembered graph holds only while
    /// they stay so.
    absent: Arc<Mutex<std::collections::BTreeSet<PathBuf>>>,
    /// Each file's digest input, and the run's `changes` count when it was last stat-ed.
    files: Arc<Mutex<rustc_hash::FxHashMap<String, (WorkspaceFile, u64)>>>,
    /// The scheduler's count of changes to the workspace (nodes that ran or restored):
    /// what each stat is stamped with.
    pub stat_epoch: u64,
    listings: Arc<Mutex<rustc_hash::FxHashMap<String, FolderListing>>>,
    /// The stat of each listed file the listing took, with the `stat_epoch` then: the
    /// first digest of such a file starts from it while nothing has changed since,
    /// instead of walking its whole path again.
    listed_stats: Arc<Mutex<rustc_hash::FxHashMap<String, (FileStat, u64)>>>,
    /// The `stat_epoch` each folder was last listed at: a listing of this epoch is current.
    listed_epochs: Arc<Mutex<rustc_hash::FxHashMap<String, u64>>>,
    /// Folders no listing enters (the cache's, inside the workspace).
    pub skip_dirs: Vec<PathBuf>,
    stat_cache: Arc<Mutex<StatCache>>,
    executed: Arc<AtomicUsize>,
    /// Kept across runs (watch), so memoized queries stay valid.
    pub file_list: Option<FileList>,
    node_inputs: HashMap<String, NodeKeyInput>,
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {
    fn used_source(&self, path: &Path) -> Result<PlaybookSource, LoadError> {
        if let Some(source) = self.used.lock().ok().and_then(|m| m.get(path).copied()) {
            return Ok(source);
        }
        let full = self.workspace.join(path);
        let read = crate::files::paths::check_inside(&self.workspace, &full, path)
            .and_then(|()| crate::load::workspace::read_source(&full, path));
        let file = match read {
            Ok(file) => file,
            Err(e) => {
                if let Ok(mut absent) = self.absent.lock() {
                    absent.insert(path.to_path_buf());
                }
                return Err(e.into());
            }
        };
        let source = PlaybookSource::new(self, file, path.to_path_buf());
        if let Ok(mut used) = self.used.lock() {
            used.insert(path.to_path_buf(), source);
        }
        Ok(source)
    }

    fn file(&self, path: &str) -> WorkspaceFile {
        if let Some((file, _)) = self.files.lock().ok().and_then(|m| m.get(path).copied()) {
            return file;
        }
        let listed = self
            .listed_stats
            .lock()
            .ok()
            .and_then(|mut m| m.remove(path))
            .filter(|(_, epoch)| *epoch == self.stat_epoch);
        let digest = self.stat_cache.lock().ok().and_then(|mut c| {
            match &listed {
                Some((stat, _)) => c.digest_from(&self.workspace, path, stat),
                None => c.digest(&self.workspace, path),
            }
            .ok()
        });
        let file = WorkspaceFile::new(self, digest);
        if let Ok(mut files) = self.files.lock() {
            files.insert(path.to_owned(), (file, self.stat_epoch));
        }
        file
    }

    fn listing(&self, folder: &str) -> FolderListing {
        if let Some(listing) = self
            .listings
            .lock()
            .ok()
            .and_then(|m| m.get(folder).copied())
        {
            return listing;
        }
        let files = self.list_folder(folder);
        let listing = FolderListing::new(self, Arc::new(files));
        if let Ok(mut listings) = self.listings.lock() {
            listings.insert(folder.to_owned(), listing);
        }
        listing
    }
}

impl Database {
    /// The files compiling looked for so far: the place and text of each playbook or
    /// action read, and `None` for one that could not be read (a local action not there
    /// yet). `None` as a whole when that cannot be known: then no graph may be remembered.
    fn used_files(&self) -> Option<Vec<(PathBuf, Option<SourceFile>)>> {
        let used = self.used.lock().ok()?;
        let mut files: Vec<(PathBuf, Option<SourceFile>)> = used
            .iter()
            .map(|(path, source)| (path.clone(), Some(source.file(self).clone())))
            .collect();
        files.extend(self.absent.lock().ok()?.iter().map(|p| (p.clone(), None)));
        Some(files)
    }

    /// A database for keys in `workspace`, with the stat cache loaded from `stat_cache`.
    /// It counts the queries it executes (`executed_queries`).
    pub fn for_workspace(workspace: &Path, stat_cache: &Path) -> Self {
        let executed = Arc::new(AtomicUsize::new(0));
        let counter = executed.clone();
        Self {
            storage: salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
                if let salsa::EventKind::WillExecute { .. } = event.kind {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }))),
            workspace: workspace.to_path_buf(),
            stat_cache: Arc::new(Mutex::new(StatCache::load(stat_cache))),
            executed,
            ..Self::default()
        }
    }

    /// The key input of a node, kept by node id and updated only when its text changed, so
    /// an unchanged node's key is answered from memo on the next run.
    pub fn node_input(
        &mut self,
        node: &str,
        partial: Arc<KeyComponents>,
        patterns: Option<Vec<String>>,
    ) -> NodeKeyInput {
        match self.node_inputs.get(node).copied() {
            Some(input) => {
                if **input.partial(self) != *partial {
                    input.set_partial(self).to(partial);
                }
                if *input.patterns(self) != patterns {
                    input.set_patterns(self).to(patterns);
                }
                input
            }
            None => {
                let input = NodeKeyInput::new(self, partial, patterns);
                self.node_inputs.insert(node.to_owned(), input);
                input
            }
        }
    }

    /// Lists a folder again (its input set, if it has one, changes only when files were
    /// added or removed).
    pub fn relist(&mut self, folder: &str) {
        let known = self
            .listings
            .lock()
            .ok()
            .and_then(|m| m.get(folder).copied());
        let Some(listing) = known else {
            self.listing(folder);
            return;
        };
        // Listed at this epoch already (by `prefetch_listings`): nothing ran since.
        let listed_at = self
            .listed_epochs
            .lock()
            .ok()
            .and_then(|m| m.get(folder).copied());
        if listed_at == Some(self.stat_epoch) {
            return;
        }
        let files = self.list_folder(folder);
        // A setter starts a new revision: only for a real change.
        if **listing.files(self) != files {
            listing.set_files(self).to(Arc::new(files));
        }
    }

    /// A folder's files (`files::walk::list_folder`), their stats kept for their first
    /// digests.
    fn list_folder(&self, folder: &str) -> Vec<String> {
        let listed = crate::files::walk::list_folder(&self.workspace, folder, &self.skip_dirs);
        self.keep_stats(folder, listed)
    }

    /// The names of a folder's listing; their stats kept for their first digests.
    fn keep_stats(
        &self,
        folder: &str,
        listed: Vec<(String, Option<std::fs::Metadata>)>,
    ) -> Vec<String> {
        if let Ok(mut epochs) = self.listed_epochs.lock() {
            epochs.insert(folder.to_owned(), self.stat_epoch);
        }
        let mut stats = self.listed_stats.lock().ok();
        listed
            .into_iter()
            .map(|(name, stat)| {
                if let (Some(stats), Some(stat)) = (stats.as_mut(), stat) {
                    stats.insert(name.clone(), (FileStat::of(&stat), self.stat_epoch));
                }
                name
            })
            .collect()
    }

    /// Lists the folders not listed yet among `folders` (the roots of the selected nodes'
    /// input globs) half on another thread, before the first key asks for them: a full
    /// hit of many packages is mostly one `stat` per input file, and the two cores make
    /// those side by side.
    pub fn prefetch_listings(&mut self, mut folders: Vec<String>) {
        /// Below this, a thread costs about what it saves.
        const WORTH_A_THREAD: usize = 8;
        if let Ok(known) = self.listings.lock() {
            folders.retain(|f| !known.contains_key(f));
        }
        if folders.len() < WORTH_A_THREAD {
            return;
        }
        let (workspace, skip) = (&self.workspace, &self.skip_dirs);
        let list = |folders: Vec<String>| -> Vec<_> {
            folders
                .into_iter()
                .map(|f| {
                    let listed = crate::files::walk::list_folder(workspace, &f, skip);
                    (f, listed)
                })
                .collect()
        };
        let theirs = folders.split_off(folders.len() / 2);
        let listed = std::thread::scope(|scope| {
            let other = scope.spawn(|| list(theirs));
            let mut listed = list(folders);
            // A thread that failed leaves its folders to be listed when a key needs them.
            listed.extend(other.join().unwrap_or_default());
            listed
        });
        for (folder, files) in listed {
            let names = self.keep_stats(&folder, files);
            let listing = FolderListing::new(self, Arc::new(names));
            if let Ok(mut listings) = self.listings.lock() {
                listings.insert(folder, listing);
            }
        }
    }

    /// How many tracked queries have executed (not answered from memo) so far.
    pub fn executed_queries(&self) -> usize {
        self.executed.load(Ordering::Relaxed)
    }

    /// Updates the inputs of the given files only (those the database knows): what a
    /// watcher calls with the paths that changed. Returns how many digests changed.
    pub fn update_paths(&mut self, paths: &[String]) -> usize {
        // A folder's path stands for every known file under it (a folder swapped whole).
        let known: Vec<(String, WorkspaceFile)> = self
            .files
            .lock()
            .map(|m| {
                let mut known: Vec<(String, WorkspaceFile)> = paths
                    .iter()
                    .filter_map(|p| Some((p.clone(), m.get(p)?.0)))
                    .collect();
                // Only paths that are not known files may be folders: scan for those.
                let folders: Vec<String> = paths
                    .iter()
                    .filter(|p| !m.contains_key(*p))
                    .map(|p| format!("{p}/"))
                    .collect();
                if !folders.is_empty() {
                    known.extend(
                        m.iter()
                            .filter(|(k, _)| folders.iter().any(|f| k.starts_with(f.as_str())))
                            .map(|(k, v)| (k.clone(), v.0)),
                    );
                }
                // A link's digest holds what it points to: any change may be its target's.
                if let Ok(cache) = self.stat_cache.lock() {
                    known.extend(
                        cache
                            .links
                            .iter()
                            .filter_map(|link| Some((link.clone(), m.get(link)?.0))),
                    );
                }
                known
            })
            .unwrap_or_default();
        self.restat(known)
    }

    /// Looks at every file the database knows again (a `stat` each, through the stat
    /// cache) and updates the inputs of those whose content changed. Returns how many.
    pub fn refresh_files(&mut self) -> usize {
        let known: Vec<(String, WorkspaceFile)> = self
            .files
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.0)).collect())
            .unwrap_or_default();
        self.restat(known)
    }

    /// Stats the given files again (through the stat cache) and sets the digests that
    /// changed. Returns how many.
    fn restat(&mut self, known: Vec<(String, WorkspaceFile)>) -> usize {
        let mut changed = 0;
        for (path, file) in known {
            let digest = self
                .stat_cache
                .lock()
                .ok()
                .and_then(|mut c| c.digest(&self.workspace, &path).ok());
            if let Ok(mut files) = self.files.lock()
                && let Some(entry) = files.get_mut(&path)
            {
                entry.1 = self.stat_epoch;
            }
            // A setter starts a new revision: only call it for a real change.
            if file.digest(self) != digest {
                file.set_digest(self).to(digest);
                changed += 1;
            }
        }
        changed
    }

    /// Whether a known file's digest was taken before the workspace reached `epoch`
    /// changes (or the file is not known): only then can it be older than the file.
    pub fn stated_before(&self, path: &str, epoch: u64) -> bool {
        self.files
            .lock()
            .ok()
            .and_then(|m| m.get(path).map(|(_, at)| *at < epoch))
            .unwrap_or(true)
    }

    /// A file's digest as it is now (a fresh `stat`, a read only if it changed), without
    /// touching any salsa input.
    pub fn current_digest(&self, path: &str) -> Option<Digest> {
        self.stat_cache
            .lock()
            .ok()?
            .digest(&self.workspace, path)
            .ok()
    }

    /// A regular file's digest and permission bits as they are now (one `stat`), without
    /// touching any salsa input; `None` for anything but a regular file.
    pub fn current_file(&self, path: &str) -> Option<(Digest, u32)> {
        self.stat_cache
            .lock()
            .ok()?
            .regular_file(&self.workspace, path)
    }

    /// The first of `paths` that a declared input must not be (a link out of the
    /// workspace, a link to a folder), with why.
    pub fn first_refused_link<'p>(
        &self,
        mut paths: impl Iterator<Item = &'p String>,
    ) -> Option<(&'p String, &'static str)> {
        let cache = self.stat_cache.lock().ok()?;
        if cache.refused_links.is_empty() {
            return None;
        }
        paths.find_map(|p| Some((p, *cache.refused_links.get(p.as_str())?)))
    }

    /// Before another run with this database (a watch round): see
    /// [`StatCache::forget_root`].
    pub fn start_round(&self) {
        if let Ok(mut cache) = self.stat_cache.lock() {
            cache.forget_root();
        }
        // Stats of an earlier round no longer match an epoch; they only take room.
        if let Ok(mut stats) = self.listed_stats.lock() {
            stats.clear();
        }
    }

    /// The stat cache, for checks outside the database (inputs before storing a result).
    pub fn stat_cache_handle(&self) -> Arc<Mutex<StatCache>> {
        self.stat_cache.clone()
    }

    pub fn save_stat_cache(&self, path: &Path) -> std::io::Result<()> {
        match self.stat_cache.lock() {
            Ok(cache) => cache.save(path),
            Err(_) => Ok(()),
        }
    }
}

impl Database {
    /// A database that reports each query it executes (tests prove incrementality with it).
    pub fn with_execution_log(log: Arc<std::sync::Mutex<Vec<String>>>, workspace: &Path) -> Self {
        Self {
            workspace: workspace.to_path_buf(),
            used: Arc::default(),
            absent: Arc::default(),
            files: Arc::default(),
            listings: Arc::default(),
            listed_stats: Arc::default(),
            listed_epochs: Arc::default(),
            skip_dirs: Vec::new(),
            stat_epoch: 0,
            stat_cache: Arc::default(),
            executed: Arc::default(),
            file_list: None,
            node_inputs: HashMap::new(),
            storage: salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
                if let salsa::EventKind::WillExecute { database_key } = event.kind
                    && let Ok(mut log) = log.lock()
                {
                    log.push(format!("{database_key:?}"));
                }
            }))),
        }
    }
}

/// One playbook in a database: its model and its graphs share the memoized parse.
pub struct Session {
    db: Database,
    source: PlaybookSource,
    /// Where compiled graphs are remembered (`.orch/state/`), when they are.
    memo_dir: Option<PathBuf>,
}

impl Session {
    /// `workspace` is the folder that `uses` paths are relative to; `path` is the
    /// playbook's place in it.
    pub fn new(file: SourceFile, workspace: &Path, path: &Path) -> Self {
        let db = Database {
            workspace: workspace.to_path_buf(),
            ..Database::default()
        };
        let source = PlaybookSource::new(&db, file, path.to_path_buf());
        Self {
            db,
            source,
            memo_dir: None,
        }
    }

    /// Remembers compiled graphs in `state_dir` and uses them again (see
    /// [`crate::compile::remembered`]).
    pub fn remember_graphs_in(mut self, state_dir: PathBuf) -> Self {
        self.memo_dir = Some(state_dir);
        self
    }

    /// The playbook's model; when it has problems, every problem that can be found, those
    /// of the checks after decoding included (see [`Session::all_problems`]).
    pub fn playbook(&self) -> Result<Arc<Playbook>, LoadError> {
        parse_playbook(&self.db, self.source)
            .clone()
            .map_err(|e| self.all_problems(e, &Overrides::default()))
    }

    pub fn graph(&self, overrides: Overrides) -> Result<Arc<Graph>, LoadError> {
        let memo = self.memo_dir.as_ref().map(|dir| {
            GraphMemo::new(
                dir,
                &self.db.workspace,
                self.source.file(&self.db),
                self.source.path(&self.db),
                &overrides,
            )
        });
        if let Some(graph) = memo.as_ref().and_then(GraphMemo::recall) {
            return Ok(Arc::new(graph));
        }
        let settings = Settings::new(&self.db, overrides);
        let graph = compile_graph(&self.db, self.source, settings)
            .clone()
            .map_err(|e| match parse_playbook(&self.db, self.source) {
                Err(_) => self.all_problems(e, settings.overrides(&self.db)),
                Ok(_) => e,
            })?;
        if let (Some(memo), Some(used)) = (memo, self.db.used_files()) {
            memo.keep(&graph, used);
        }
        Ok(graph)
    }

    /// A playbook that does not decode still gets the checks that follow decoding (needs,
    /// expressions, cycles, reusable playbooks) on what did decode, so that a user fixes
    /// everything in one round. Their problems join the decoder's, in file order; a need
    /// of a job that could not be decoded at all is not reported again.
    fn all_problems(&self, decoding: LoadError, overrides: &Overrides) -> LoadError {
        let file = self.source.file(&self.db);
        let Ok(root) = crate::load::tree::parse(file) else {
            return decoding;
        };
        let partial = crate::load::decode::decode_partial(file, &root);
        let Some(playbook) = partial.playbook else {
            return decoding;
        };
        // Where each job's text begins, in file order: a later problem's job is the last
        // one that begins before it.
        let mut job_starts: Vec<(usize, String)> = playbook
            .jobs
            .values()
            .map(|j| (j.id.span.offset, j.id.value.clone()))
            .collect();
        job_starts.sort();
        let job_at = |problem: &crate::load::diag::Problem| -> Option<&str> {
            let offset = problem.span?.offset;
            if problem.source.as_ref().map(|s| &s.path) != Some(&file.path) {
                return None;
            }
            let before = job_starts.partition_point(|(start, _)| *start <= offset);
            before.checked_sub(1).map(|i| job_starts[i].1.as_str())
        };
        let undecoded = |field: &str| partial.undecoded.iter().any(|u| u == field);
        // What a later check says only because decoding left something out.
        let a_cascade = |problem: &crate::load::diag::Problem| -> bool {
            let message = problem.message.as_str();
            let of_job = |field: &str| {
                job_at(problem).is_some_and(|job| undecoded(&format!("{job}.{field}")))
            };
            partial
                .dropped
                .iter()
                .any(|id| message.contains(&format!("`{id}`")))
                || (message.starts_with("unknown var ") && undecoded("vars"))
                || (message.starts_with("unknown secret ") && undecoded("secrets"))
                || (message.starts_with("unknown input ") && undecoded("inputs"))
                || ((message.starts_with("unknown matrix axis ")
                    || message.ends_with("has no matrix"))
                    && of_job("matrix"))
                || (message.contains("does not need") && of_job("needs"))
        };
        let mut resolve = |path: &Path| -> Result<Arc<Playbook>, LoadError> {
            let used = self.db.used_source(path)?;
            parse_playbook(&self.db, used).clone()
        };
        let later = match crate::compile::build::compile(
            Arc::new(playbook),
            self.source.path(&self.db),
            overrides,
            &mut resolve,
        ) {
            Ok(_) => return decoding,
            Err(later) => later,
        };
        let mut problems = decoding.problems;
        for problem in later.problems {
            if !a_cascade(&problem) && !problems.contains(&problem) {
                problems.push(problem);
            }
        }
        // In file order, each file's apart; problems without a place last.
        problems.sort_by_key(|p| {
            (
                p.source.is_none(),
                p.source.as_ref().map(|s| s.path.clone()),
                p.span.map_or(usize::MAX, |s| s.offset),
            )
        });
        LoadError { problems }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::queries::node_key;
    use salsa::Setter;

    #[test]
    fn an_edit_that_changes_nothing_does_not_recompile() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut db = Database::with_execution_log(log.clone(), Path::new(""));
        let file = |text: &str| SourceFile {
            path: "orch.yml".into(),
            text: text.into(),
        };
        let source = PlaybookSource::new(&db, file("jobs:\n  a: { run: x }\n"), "orch.yml".into());
        let settings = Settings::new(&db, Overrides::default());
        assert!(compile_graph(&db, source, settings).is_ok());
        let executed = std::mem::take(&mut *log.lock().unwrap());
        assert!(
            executed.iter().any(|q| q.contains("compile_graph")),
            "{executed:?}"
        );

        // The same text again: a new revision, but the parse result is equal, so
        // compile_graph is backdated and does not run.
        source
            .set_file(&mut db)
            .to(file("jobs:\n  a: { run: x }\n"));
        assert!(compile_graph(&db, source, settings).is_ok());
        let executed = std::mem::take(&mut *log.lock().unwrap());
        assert!(
            executed.iter().any(|q| q.contains("parse_playbook")),
            "{executed:?}"
        );
        assert!(
            !executed.iter().any(|q| q.contains("compile_graph")),
            "{executed:?}"
        );

        source
            .set_file(&mut db)
            .to(file("jobs:\n  a: { run: y }\n"));
        assert!(compile_graph(&db, source, settings).is_ok());
        let executed = std::mem::take(&mut *log.lock().unwrap());
        assert!(
            executed.iter().any(|q| q.contains("compile_graph")),
            "{executed:?}"
        );
    }

    /// A listing's stat of a file answers its first digest only while nothing ran since:
    /// a file a node rewrote after the listing is read again, not taken on the old stat
    /// (which the stat cache would still match).
    #[test]
    fn a_listed_stat_is_not_used_after_the_workspace_changed() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::create_dir(ws.join("src")).unwrap();
        let set_old = |name: &str| {
            let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
            std::fs::File::options()
                .append(true)
                .open(ws.join(name))
                .unwrap()
                .set_modified(old)
                .unwrap();
        };
        std::fs::write(ws.join("src/f.txt"), "a").unwrap();
        set_old("src/f.txt");
        let mut db = Database::with_execution_log(Arc::default(), ws);
        assert_eq!(db.current_digest("src/f.txt"), Some(Digest::of(b"a")));
        assert_eq!(**db.listing("src").files(&db), ["src/f.txt"]);
        // A node rewrites it (another inode, size and mtime), then the epoch moves on.
        std::fs::remove_file(ws.join("src/f.txt")).unwrap();
        std::fs::write(ws.join("src/f.txt"), "bb").unwrap();
        db.stat_epoch += 1;
        assert_eq!(db.file("src/f.txt").digest(&db), Some(Digest::of(b"bb")));
    }

    /// Folders listed ahead on two threads answer as listing them when asked would, and
    /// a relist after something ran still sees what it changed.
    #[test]
    fn prefetched_listings_are_the_listings_and_go_stale_with_the_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let folders: Vec<String> = (0..10).map(|p| format!("p{p}/src")).collect();
        for folder in &folders {
            std::fs::create_dir_all(ws.join(folder)).unwrap();
            std::fs::write(ws.join(folder).join("f.txt"), folder).unwrap();
        }
        let mut db = Database::with_execution_log(Arc::default(), ws);
        db.prefetch_listings(folders.clone());
        for folder in &folders {
            let file = format!("{folder}/f.txt");
            assert_eq!(**db.listing(folder).files(&db), std::slice::from_ref(&file));
            assert_eq!(
                db.file(&file).digest(&db),
                Some(Digest::of(folder.as_bytes()))
            );
        }
        std::fs::write(ws.join("p3/src/g.txt"), "new").unwrap();
        db.relist("p3/src");
        assert_eq!(
            db.listing("p3/src").files(&db).len(),
            1,
            "same epoch: as listed"
        );
        db.stat_epoch += 1;
        db.relist("p3/src");
        assert_eq!(
            **db.listing("p3/src").files(&db),
            ["p3/src/f.txt", "p3/src/g.txt"]
        );
    }

    /// Editing one file re-executes only the queries of the nodes that read it.
    #[test]
    fn a_file_edit_recomputes_only_the_keys_that_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for (name, text) in [("a.txt", "a"), ("b.txt", "b")] {
            std::fs::write(ws.join(name), text).unwrap();
            std::fs::File::options()
                .append(true)
                .open(ws.join(name))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut db = Database::with_execution_log(log.clone(), ws);
        let names = Arc::new(vec!["a.txt".to_owned(), "b.txt".to_owned()]);
        let files = FileList::new(&db, names, Vec::new());
        let node = |db: &Database, id: &str, pattern: &str| {
            let partial = KeyComponents {
                node: id.into(),
                ..KeyComponents::default()
            };
            NodeKeyInput::new(db, Arc::new(partial), Some(vec![pattern.to_owned()]))
        };
        let (a, b) = (node(&db, "A", "a.txt"), node(&db, "B", "b.txt"));
        let key_a = node_key(&db, a, files).key;
        let key_b = node_key(&db, b, files).key;
        assert_eq!(node_key(&db, a, files).inputs["a.txt"], Digest::of(b"a"));
        assert_eq!(db.refresh_files(), 0, "nothing changed");
        log.lock().unwrap().clear();

        std::fs::write(ws.join("b.txt"), "B").unwrap();
        assert_eq!(db.refresh_files(), 1);
        assert_eq!(node_key(&db, a, files).key, key_a);
        assert_ne!(node_key(&db, b, files).key, key_b);
        let executed = std::mem::take(&mut *log.lock().unwrap());
        let count = |name: &str| executed.iter().filter(|q| q.contains(name)).count();
        assert_eq!(count("input_digests"), 1, "{executed:?}");
        assert_eq!(count("node_key"), 1, "{executed:?}");

        // Nodes with the same patterns (a matrix over one glob, or the default-inputs
        // rule) share one selection of the workspace's files.
        let (c, d) = (node(&db, "C", "*.txt"), node(&db, "D", "*.txt"));
        assert_eq!(node_key(&db, c, files).inputs.len(), 2);
        assert_eq!(node_key(&db, d, files).inputs.len(), 2);
        let executed = std::mem::take(&mut *log.lock().unwrap());
        let count = |name: &str| executed.iter().filter(|q| q.contains(name)).count();
        assert_eq!(count("input_digests"), 1, "{executed:?}");
        assert_eq!(count("node_key"), 2, "{executed:?}");
    }
}
