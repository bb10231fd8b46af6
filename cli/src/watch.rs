//! `orch watch`: run, then re-run what an edit affects, as files change.
//!
//! One key database lives across runs: on each change only the changed files' inputs are
//! updated, and salsa re-executes only the queries that read them. The playbook is loaded
//! again when a playbook file changed (an edit that does not load prints its error and
//! orch keeps watching).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use orch_engine::db::Database;
use orch_engine::exec::scheduler::EVERYTHING;
use orch_engine::load::diag::Problem;
use orch_engine::report::event::{NodeStatus, RunStatus};
use orch_engine::report::runs;
use orch_engine::report::summary::human_duration;
use tokio::sync::watch;

use crate::prepare::{Selection, default_jobs, prepare};
use crate::ui::Ui;
use crate::{Cli, Failure, report};

#[derive(Debug, clap::Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    selection: Selection,
    /// How many nodes run at once (default: the number of CPUs)
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// A change during a run waits for the run to end instead of restarting it
    #[arg(long)]
    no_restart: bool,
}

/// Files that change in bursts (an editor's save, a formatter) arrive together.
const DEBOUNCE: Duration = Duration::from_millis(50);

pub(crate) fn watch(cli: &Cli, args: &WatchArgs) -> Result<u8, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Problem::general(format!("cannot read the current directory: {e}")))?;
    let located = crate::locate(cli, &cwd)?;
    let workspace = std::fs::canonicalize(&located.workspace).unwrap_or(located.workspace.clone());
    let (sender, events) = std::sync::mpsc::channel();
    // Shared by the waiting loop and the listener that runs beside a run.
    let events = Mutex::new(events);
    let mut watcher = notify::recommended_watcher(sender)
        .map_err(|e| Problem::general(format!("cannot watch files: {e}")))?;
    watcher
        .watch(&workspace, RecursiveMode::Recursive)
        .map_err(|e| Problem::general(format!("cannot watch {}: {e}", workspace.display())))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Problem::general(format!("cannot start the runtime: {e}")))?;

    // Ctrl-C ends watching; the current run is cancelled like any run.
    let stopped = Arc::new(AtomicBool::new(false));
    let current_run: Arc<Mutex<Option<watch::Sender<u8>>>> = Arc::default();
    {
        let (stopped, current_run) = (stopped.clone(), current_run.clone());
        runtime.spawn(crate::run::on_signals(move || {
            let level = if stopped.swap(true, Ordering::SeqCst) {
                2
            } else {
                1
            };
            if let Ok(run) = current_run.lock()
                && let Some(sender) = run.as_ref()
            {
                let _ = sender.send(level);
            }
        }));
    }

    let mut db: Option<Database> = None;
    let mut changed: Vec<String> = Vec::new();
    let mut round = 0u32;
    let mut ignore = Ignored::new(&workspace, &[]);
    let mut loaded: Option<Arc<crate::prepare::Prepared>> = None;
    // An AitherZero playbook's scripts folder (workspace-relative): its scripts' `param()`
    // blocks and headers are part of what the import writes, so an edit there reloads.
    let mut imported_scripts: Option<String> = None;
    loop {
        round += 1;
        // The playbook is loaded again only when a playbook file changed.
        let rescan = changed.iter().any(|c| c == EVERYTHING);
        let playbook_changed = rescan
            || loaded.as_ref().is_none_or(|p| {
                p.graph
                    .origins
                    .iter()
                    .any(|o| changed.iter().any(|c| Path::new(c) == o.path))
            })
            || imported_scripts.as_ref().is_some_and(|folder| {
                changed.iter().any(|c| {
                    c.strip_prefix(folder.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                })
            });
        let prepared = match loaded
            .clone()
            .filter(|_| !playbook_changed)
            .map(Ok)
            .unwrap_or_else(|| prepare(cli, &args.selection, false).map(Arc::new))
        {
            Ok(prepared) => prepared,
            Err(Failure::Load(error)) => {
                loaded = None;
                report::load_error(&error, cli.color);
                tell!("watching for a fix…");
                changed = wait_for_changes(&events, &ignore, &stopped, None);
                if stopped.load(Ordering::SeqCst) {
                    return Ok(130);
                }
                continue;
            }
        };
        loaded = Some(prepared.clone());
        imported_scripts = crate::import::scripts_of_import(cli, &prepared.located);
        let outputs: Vec<String> = prepared
            .graph
            .jobs
            .iter()
            .flat_map(|j| j.outputs.iter().map(|t| t.as_glob()))
            .filter(|glob| !glob.starts_with('*'))
            .collect();
        ignore = Ignored::new(&workspace, &outputs);
        let first = db.is_none();
        let mut database = db.take().unwrap_or_else(|| {
            Database::for_workspace(
                &prepared.located.workspace,
                &orch_engine::cache::state::stat_cache_path(&prepared.orch_dir),
            )
        });
        if rescan {
            tell!("watch: file events were lost; looking at every file again");
            database.refresh_files();
        } else {
            database.update_paths(&changed);
        }
        let queries_before = database.executed_queries();

        let run_dir = runs::create(&prepared.orch_dir)
            .map_err(|e| Problem::general(format!("cannot create a run directory: {e}")))?;
        let total = prepared.selected.iter().filter(|s| **s).count();
        let ui = Arc::new(Ui::new(
            prepared.graph.clone(),
            run_dir.path.join("logs"),
            prepared.store.clone(),
            total,
            true,
            false,
        ));
        let jobs = args.jobs.map_or_else(default_jobs, |j| j as usize);
        let mut options =
            prepared.options(run_dir.id.clone(), &run_dir.path, jobs, true, false, false);
        options.db = Some(database);
        options.refresh_known_files = first;
        let (changes, changes_rx) = tokio::sync::mpsc::unbounded_channel();
        options.changes = Some(changes_rx);
        let playbooks: Vec<String> = prepared
            .graph
            .origins
            .iter()
            .map(|o| o.path.display().to_string())
            .collect();
        let (cancel, interrupts) = watch::channel(0u8);
        if let Ok(mut run) = current_run.lock() {
            *run = Some(cancel.clone());
        }
        // A change during the run cancels the running nodes that read the changed files
        // (a playbook edit cancels the round); the next round runs them on the new
        // content, and whatever else the change affects. --no-restart lets them finish.
        let restart = !args.no_restart;
        let pending: Arc<Mutex<Vec<String>>> = Arc::default();
        let started = Instant::now();
        let graph = prepared.graph.clone();
        let outcome = std::thread::scope(|scope| {
            let done = Arc::new(AtomicBool::new(false));
            let listener = {
                let (done, pending, cancel, changes) = (
                    done.clone(),
                    pending.clone(),
                    cancel.clone(),
                    changes.clone(),
                );
                let playbooks = &playbooks;
                let (events, ignore) = (&events, &ignore);
                scope.spawn(move || {
                    while !done.load(Ordering::SeqCst) {
                        let event = events
                            .lock()
                            .map(|e| e.recv_timeout(Duration::from_millis(20)));
                        let seen = event.map(|e| relevant(e, ignore)).unwrap_or_default();
                        if let Ok(mut p) = pending.lock() {
                            p.extend(seen.iter().map(|(path, _)| path.clone()));
                        }
                        // Any change updates the cancel check; none of a round's own ignored
                        // writes restarts anything.
                        let paths: Vec<String> = seen.into_iter().map(|(path, _)| path).collect();
                        if !paths.is_empty() && paths.iter().any(|p| ignore.triggers(p)) {
                            if restart && paths.iter().any(|p| playbooks.contains(p)) {
                                let _ = cancel.send(1);
                            } else if restart {
                                let _ = changes.send(paths);
                            }
                        }
                    }
                })
            };
            let outcome = runtime.block_on(async {
                let outcome =
                    orch_engine::exec::scheduler::execute(graph, options, ui.clone(), interrupts)
                        .await;
                if let Some(remote) = &prepared.remote {
                    remote.finish_uploads().await;
                }
                outcome
            });
            done.store(true, Ordering::SeqCst);
            let _ = listener.join();
            outcome
        });
        if let Ok(mut run) = current_run.lock() {
            *run = None;
        }
        let duration = started.elapsed();
        ui.finish();
        let queries = outcome.db.executed_queries() - queries_before;
        prepared.keep(&run_dir, &outcome, duration);
        let count = |f: &dyn Fn(&orch_engine::report::event::NodeResult) -> bool| {
            outcome.results.iter().flatten().filter(|r| f(r)).count()
        };
        let ran = count(&|r| r.attempts > 0 && !r.cached);
        let cached = count(&|r| r.cached);
        let failed = count(&|r| r.status == NodeStatus::Failure);
        let what = if round == 1 {
            "first run".to_owned()
        } else if changed.is_empty() {
            "playbook reloaded".to_owned()
        } else {
            let triggering: Vec<&String> = changed.iter().filter(|p| ignore.triggers(p)).collect();
            let mut shown: Vec<&str> = triggering.iter().take(3).map(|p| p.as_str()).collect();
            if triggering.len() > 3 {
                shown.push("…");
            }
            format!("changed {}", shown.join(", "))
        };
        let status = match outcome.status {
            RunStatus::Success => "ok",
            RunStatus::Failure => "FAILED",
            RunStatus::Cancelled => "restarted",
        };
        // How much of the key database a round recomputed is for those who look inside
        // (`-v`): the round's line says what a user asked about.
        let work = if cli.verbose > 0 {
            format!(" · {queries} queries re-executed")
        } else {
            String::new()
        };
        say!(
            "[{round}] {what} · ran {ran}, cached {cached}, failed {failed} · {} · {status}{work}",
            human_duration(duration)
        );
        db = Some(outcome.db);
        if stopped.load(Ordering::SeqCst) {
            return Ok(130);
        }
        let mut next: Vec<String> = pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        // Changes seen during the run start the next round at once only if one of them
        // would start a round by itself; the rest (a job's ignored writes) only update
        // the database when a round comes.
        if next.iter().any(|p| ignore.triggers(p)) {
            next.extend(wait_for_changes(&events, &ignore, &stopped, Some(DEBOUNCE)));
        } else {
            next.extend(wait_for_changes(&events, &ignore, &stopped, None));
        }
        if stopped.load(Ordering::SeqCst) {
            return Ok(130);
        }
        next.sort();
        next.dedup();
        changed = next;
    }
}

/// Paths under the workspace that a watcher ignores: `.orch/`, `.git/`, declared outputs,
/// and what `.gitignore`/`.orchignore` ignore (the default-inputs rules).
struct Ignored {
    root: PathBuf,
    outputs: orch_engine::files::glob::Patterns,
    gitignore: ignore::gitignore::Gitignore,
}

impl Ignored {
    fn new(root: &Path, outputs: &[String]) -> Self {
        let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
        for name in [".gitignore", ".orchignore"] {
            let _ = builder.add(root.join(name));
        }
        Self {
            root: root.to_path_buf(),
            outputs: orch_engine::files::glob::Patterns::new(outputs)
                .unwrap_or_else(|_| orch_engine::files::glob::Patterns::none()),
            gitignore: builder
                .build()
                .unwrap_or_else(|_| ignore::gitignore::Gitignore::empty()),
        }
    }

    /// A change under the workspace as (relative path, whether it starts a round).
    /// Every change outside `.orch/` and `.git/` updates the database (an ignored file can
    /// still be an explicit input; a folder can be swapped whole); only a file that the
    /// default-inputs rules see, and that no job declares as output, starts a round.
    fn classify(&self, path: &Path) -> Option<(String, bool)> {
        let relative = path.strip_prefix(&self.root).ok()?;
        let first = relative.components().next()?.as_os_str();
        if first == ".orch" || first == ".git" {
            return None;
        }
        let is_dir = path.is_dir();
        let triggers = !is_dir
            && !is_editor_temporary(relative)
            && !self.outputs.matches(relative)
            && !self
                .gitignore
                .matched_path_or_any_parents(relative, is_dir)
                .is_ignore();
        Some((relative.to_str()?.to_owned(), triggers))
    }

    fn triggers(&self, relative: &str) -> bool {
        relative == EVERYTHING
            || self
                .classify(&self.root.join(relative))
                .is_some_and(|(_, t)| t)
    }
}

/// Files editors and tools write beside the one being saved, and remove at once (vim's
/// `.swp` and `4913`, `~` backups, emacs' `#x#` and `.#x`, `sed -i`'s `sedXXXXXX`): they
/// start no round. Were they inputs, the database still learns of them.
fn is_editor_temporary(relative: &Path) -> bool {
    let Some(name) = relative.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let sed_temporary = name.len() == 9
        && name.starts_with("sed")
        && name[3..].chars().all(|c| c.is_ascii_alphanumeric());
    name.ends_with('~')
        || name == "4913"
        || [".swp", ".swx", ".swo"].iter().any(|s| name.ends_with(s))
        || (name.starts_with('#') && name.ends_with('#'))
        || name.starts_with(".#")
        || sed_temporary
}

fn relevant(
    event: Result<notify::Result<notify::Event>, RecvTimeoutError>,
    ignore: &Ignored,
) -> Vec<(String, bool)> {
    match event {
        // Lost events (an overflowed queue, a notifier error): any file may have changed.
        Ok(Ok(event)) if event.need_rescan() => vec![(EVERYTHING.to_owned(), true)],
        Ok(Err(_)) => vec![(EVERYTHING.to_owned(), true)],
        Ok(Ok(event)) if !matches!(event.kind, notify::EventKind::Access(_)) => event
            .paths
            .iter()
            .filter_map(|p| ignore.classify(p))
            .collect(),
        Ok(Ok(_)) | Err(_) => Vec::new(),
    }
}

fn next(
    events: &Mutex<Receiver<notify::Result<notify::Event>>>,
    wait: Duration,
    ignore: &Ignored,
) -> Vec<(String, bool)> {
    match events.lock() {
        Ok(events) => relevant(events.recv_timeout(wait), ignore),
        Err(_) => Vec::new(),
    }
}

/// Blocks until a relevant change (or Ctrl-C), then gathers what follows within the
/// debounce window. With `first_wait`, waits only that long for the first change.
fn wait_for_changes(
    events: &Mutex<Receiver<notify::Result<notify::Event>>>,
    ignore: &Ignored,
    stopped: &AtomicBool,
    first_wait: Option<Duration>,
) -> Vec<String> {
    let started = Instant::now();
    let mut seen: Vec<(String, bool)> = Vec::new();
    while !seen.iter().any(|(_, triggers)| *triggers) {
        if stopped.load(Ordering::SeqCst) || first_wait.is_some_and(|w| started.elapsed() > w) {
            break;
        }
        seen.extend(next(events, Duration::from_millis(50), ignore));
    }
    let quiet_until = Instant::now() + DEBOUNCE;
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        seen.extend(next(events, left, ignore));
    }
    let mut paths: Vec<String> = seen.into_iter().map(|(path, _)| path).collect();
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_temporaries_start_no_round() {
        for name in [
            "src/sedRnbV1D",
            "src/.main.c.swp",
            "src/main.c~",
            "4913",
            "#a.c#",
            ".#a.c",
        ] {
            assert!(is_editor_temporary(Path::new(name)), "{name}");
        }
        for name in ["src/main.c", "sed.txt", "src/sedimentary", "README.md"] {
            assert!(!is_editor_temporary(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn lost_events_ask_for_everything() {
        let dir = tempfile::tempdir().unwrap();
        let ignore = Ignored::new(dir.path(), &[]);
        let overflow =
            notify::Event::new(notify::EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert_eq!(
            relevant(Ok(Ok(overflow)), &ignore),
            [(EVERYTHING.to_owned(), true)]
        );
        let error = notify::Error::generic("inotify queue overflow");
        assert_eq!(
            relevant(Ok(Err(error)), &ignore),
            [(EVERYTHING.to_owned(), true)]
        );
        assert!(ignore.triggers(EVERYTHING));
        let timeout = relevant(Err(RecvTimeoutError::Timeout), &ignore);
        assert!(timeout.is_empty());
    }
}
