//! A step run elsewhere (`--remote-exec`): the process a step would start here becomes
//! an [`OffloadRequest`] whose input root holds what the node may read (its key's input
//! files, the outputs of the jobs it needs, its script), and whose outputs are its
//! declared outputs and its step files. What comes back is restored as a cache hit is:
//! only declared outputs, every path checked, every blob verified.
//!
//! Paths: the input root stands for the workspace. A command line word or an
//! environment value that is a path here (the workspace, a script, `$ORCH_OUTPUT`) is
//! given as a path under the root: words relative to the working directory, values
//! made absolute at the start by a small `sh` wrapper (`$PWD` there is the root).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orch_store::{InputFile, Offload, OffloadEnd, OffloadError, OffloadRequest};

use super::prepare::{NodeWork, StepCommand};
use super::process::{Outcome, Spawn};
use super::steps::RunOf;
use crate::cache::outputs;
use crate::files::glob::{GLOB_CHARS, Patterns};
use crate::report::event::Event;

/// The remote names of the step files, and of the node's scratch folder.
const STEP_FILES: [&str; 4] = [
    ".orch-step/output",
    ".orch-step/summary",
    ".orch-step/env",
    ".orch-step/path",
];
const SCRATCH: &str = ".orch-scratch";
/// The wrapper's own variable: the input root's absolute path.
const ROOT_VARIABLE: &str = "ORCH_REMOTE_ROOT";
/// The environment's PATH when the node sets none: what REAPI workers commonly have.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a node that runs elsewhere needs beyond its own work: the executor, the
/// outputs of the jobs it needs (their rendered patterns), and what other jobs claim.
#[derive(Clone)]
pub(super) struct Elsewhere {
    pub(super) offload: Arc<dyn Offload>,
    pub(super) need_outputs: Vec<String>,
    pub(super) others: Arc<Patterns>,
    /// The platform properties the farm's machine must offer (`Placement::There`).
    pub(super) platform: Vec<(String, String)>,
    /// The job named properties of its own: such a node never runs here instead.
    pub(super) pinned: bool,
}

/// Local paths and their names under the input root, the longest first.
struct Places(Vec<(PathBuf, String)>);

impl Places {
    fn remote(&self, local: &Path) -> Option<String> {
        self.0.iter().find_map(|(base, name)| {
            let rest = local.strip_prefix(base).ok()?;
            let rest = rest.to_str()?;
            Some(match (name.is_empty(), rest.is_empty()) {
                (_, true) => name.clone(),
                (true, false) => rest.to_owned(),
                (false, false) => format!("{name}/{rest}"),
            })
        })
    }
}

/// `target` (under the root) as seen from `from` (a folder under the root).
fn relative_from(from: &str, target: &str) -> String {
    let ups = from.split('/').filter(|p| !p.is_empty()).count();
    let mut path = "../".repeat(ups);
    path.push_str(if target.is_empty() { "." } else { target });
    if !path.contains('/') {
        path.insert_str(0, "./");
    }
    path
}

fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The folder (or file) under which an output pattern's files lie: the pattern up to
/// its first component with a glob character; `None` when that is the workspace itself.
fn output_root(pattern: &str) -> Option<String> {
    let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
    let literal: Vec<&str> = pattern
        .split('/')
        .take_while(|part| !part.contains(GLOB_CHARS))
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    (!literal.is_empty()).then(|| literal.join("/"))
}

/// Where a node's steps run when remote execution is on.
pub(super) enum Placement {
    /// Here: not asked to go (`None`), or why it cannot.
    Here(Option<String>),
    /// On the farm, asking for these platform properties (sorted).
    There(Vec<(String, String)>),
}

impl crate::exec::scheduler::State<'_> {
    /// Where `work`'s steps run: decided the same way for its key and for its run, from
    /// what both know (its job, its rendered steps, the run's secrets).
    pub(super) fn placement(&self, node: usize, work: &NodeWork) -> Placement {
        use crate::load::model::RemotePolicy;
        if self.options.offload.is_none() {
            return Placement::Here(None);
        }
        let job = &self.graph.jobs[self.graph.nodes[node].job];
        let mut platform = match &job.remote {
            RemotePolicy::Never => {
                return Placement::Here(Some("the job says `remote: false`".into()));
            }
            RemotePolicy::Unsaid if self.options.offload_only_marked => {
                return Placement::Here(None);
            }
            RemotePolicy::Unsaid => Vec::new(),
            RemotePolicy::Wanted(properties) => properties.clone(),
        };
        let why = if work.backend.is_none() {
            Some("its results have no store to come back through".to_owned())
        } else if !job.cache {
            Some("`cache: false` jobs run here (their inputs are not listed)".to_owned())
        } else if !job.env_inputs.is_empty() {
            Some("its key reads this machine's variables (`env-inputs`)".to_owned())
        } else if !job.tools.is_empty() {
            Some("its key holds this machine's tools (`tools`)".to_owned())
        } else if work.steps.len() > 1 {
            Some("it has several steps (each would see only the node's inputs, not what the steps before it made)".to_owned())
        } else if !work.artifacts.is_empty() {
            Some("it keeps artifacts".to_owned())
        } else if let Some(pattern) = work
            .outputs
            .iter()
            .find(|p| !p.starts_with('!') && output_root(p).is_none())
        {
            Some(format!(
                "output `{pattern}` has no folder of its own to bring back"
            ))
        } else {
            work.steps.iter().find_map(|step| {
                if let StepCommand::Action { reference, .. } = &step.command {
                    return Some(format!("a step uses {reference}"));
                }
                let text = match &step.command {
                    StepCommand::Inline(text) => text.as_str(),
                    StepCommand::Script { path, .. } => path.as_str(),
                    StepCommand::Action { .. } => "",
                };
                let env_secret = step
                    .env
                    .iter()
                    .chain(&work.env)
                    .any(|(_, v)| self.secrets.appears_in(v));
                (step.late.is_some() || self.secrets.appears_in(text) || env_secret).then(|| {
                    "a step uses a secret, or reads `steps` (secrets never leave this machine)"
                        .to_owned()
                })
            })
        };
        if let Some(why) = why {
            return Placement::Here(Some(why));
        }
        // The machine it runs on: this one's OS and architecture (what the key's platform
        // says), unless the job names others.
        for (name, value) in [
            ("OSFamily", std::env::consts::OS),
            ("ISA", std::env::consts::ARCH),
        ] {
            if !platform.iter().any(|(n, _)| n == name) {
                platform.push((name.to_owned(), value.to_owned()));
            }
        }
        platform.sort();
        Placement::There(platform)
    }
}

impl NodeWork {
    /// Runs `spawn` elsewhere: its outcome, as [`super::process::run`] gives it here.
    /// `Err` when it could not go (the caller runs it here instead).
    pub(super) async fn run_elsewhere(
        &self,
        elsewhere: &Elsewhere,
        spawn: &Spawn,
        log: &mut std::fs::File,
        run: &RunOf<'_>,
    ) -> Result<Outcome, String> {
        // Rendered late (after the steps before it), a step may hold a secret only now.
        let words = spawn.args.iter().chain(spawn.env.iter().map(|(_, v)| v));
        if words
            .chain([&spawn.program])
            .any(|w| self.secrets.appears_in(w))
        {
            return Err("the step uses a secret (secrets never leave this machine)".into());
        }
        let mut request = self.request_of(elsewhere, spawn)?;
        let live_masker = Arc::new(std::sync::Mutex::new((self.secrets.stream(), 0usize)));
        request.live_output = self.live_output(log, run, live_masker.clone());
        let mut cancel = run.cancel.clone();
        let limit = spawn
            .timeout
            .map(|t| t + std::time::Duration::from_secs(60));
        let guard = async {
            match limit {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let executed = tokio::select! {
            executed = elsewhere.offload.execute(request) => executed,
            _ = cancel.wait_for(|level| *level > 0) => return Ok(Outcome::Cancelled),
            () = guard => return Ok(Outcome::TimedOut),
        };
        let outcome = match executed {
            Ok(outcome) => outcome,
            Err(OffloadError::Remote(why)) => return Err(why),
            Err(OffloadError::Local(e)) => return Ok(Outcome::NotStarted(e.to_string())),
        };
        // Its output, as if it had printed here (masked, though no secret went); what
        // went to the log live already is not written again.
        let rest = outcome.stdout.get(outcome.streamed..).unwrap_or_default();
        if let Ok(mut held) = live_masker.lock() {
            let (masker, live_bytes) = &mut *held;
            let _ = log.write_all(&masker.finish());
            if *live_bytes > 0 && outcome.streamed == 0 {
                let _ = writeln!(
                    log,
                    "\norch: what was streamed above is not how its final output begins; the final output follows"
                );
            }
        }
        let mut masker = self.secrets.stream();
        for bytes in [rest, &outcome.stderr] {
            let chunk = masker.feed(bytes);
            let _ = log.write_all(&chunk);
        }
        let _ = log.write_all(&masker.finish());
        // Each line told as a process's would be.
        for text in [rest, &outcome.stderr[..]] {
            for line in String::from_utf8_lossy(text).lines() {
                if !line.trim().is_empty() {
                    run.observer.event(&Event::NodeOutput {
                        node: run.node,
                        line: self.secrets.mask(line),
                    });
                }
            }
        }
        let executor = elsewhere.offload.describe();
        if outcome.cached {
            let _ = writeln!(log, "orch: {executor} answered from its cache");
        } else if outcome.ran_on.is_empty() {
            let _ = writeln!(log, "orch: ran on {executor}");
        } else {
            let _ = writeln!(log, "orch: ran on {executor}, worker {}", outcome.ran_on);
        }
        // What a failed step left is not brought into the workspace (a local failure
        // leaves its folders as they were, not swept): only its step files.
        let succeeded = matches!(outcome.end, OffloadEnd::Exited(0));
        let files: Vec<orch_store::OutputFile> = outcome
            .files
            .iter()
            .filter(|f| succeeded || STEP_FILES.contains(&f.path.as_str()))
            .cloned()
            .collect();
        if let Err(why) = self.bring_back(elsewhere, &files, run).await {
            let why = format!("its outputs could not be brought back: {why}");
            let _ = writeln!(log, "orch: {why}");
            return Ok(Outcome::NotStarted(why));
        }
        Ok(match outcome.end {
            OffloadEnd::Exited(code) => {
                use std::os::unix::process::ExitStatusExt;
                let code = if (0..=255).contains(&code) { code } else { 1 };
                Outcome::Exited(std::process::ExitStatus::from_raw(code << 8))
            }
            OffloadEnd::TimedOut => Outcome::TimedOut,
        })
    }

    /// The log and the observer, fed as a streamed stdout arrives.
    fn live_output(
        &self,
        log: &std::fs::File,
        run: &RunOf<'_>,
        masker: Arc<std::sync::Mutex<(crate::exec::mask::MaskStream, usize)>>,
    ) -> Option<orch_store::LiveOutput> {
        let log = std::sync::Mutex::new(log.try_clone().ok()?);
        let observer = run.observer.clone();
        let node = run.node;
        Some(Arc::new(move |chunk: &[u8]| {
            let Ok(mut held) = masker.lock() else {
                return;
            };
            held.1 += chunk.len();
            let masked = held.0.feed(chunk);
            if let Ok(mut log) = log.lock() {
                let _ = log.write_all(&masked);
            }
            for line in String::from_utf8_lossy(&masked).lines() {
                if !line.trim().is_empty() {
                    observer.event(&Event::NodeOutput {
                        node,
                        line: line.to_owned(),
                    });
                }
            }
        }))
    }

    fn request_of(&self, elsewhere: &Elsewhere, spawn: &Spawn) -> Result<OffloadRequest, String> {
        let workspace = &self.workspace;
        let mut places: Vec<(PathBuf, String)> = vec![
            (self.workspace.clone(), String::new()),
            (self.scratch.clone(), SCRATCH.to_owned()),
        ];
        for (local, remote) in self.step_files().into_iter().zip(STEP_FILES) {
            places.push((local, remote.to_owned()));
        }
        places.sort_by_key(|(p, _)| std::cmp::Reverse(p.as_os_str().len()));
        let places = Places(places);
        let cwd = places
            .remote(&spawn.cwd)
            .ok_or("its working directory is outside the workspace")?;
        let mut inputs: Vec<InputFile> = Vec::new();
        // Only files that really lie in the workspace or the node's scratch folder go (a
        // path through a linked folder may lead anywhere).
        let roots: Vec<PathBuf> = [&self.workspace, &self.scratch]
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        let mut add = |relative: &str, local: PathBuf| {
            use std::os::unix::fs::PermissionsExt;
            let inside = std::fs::canonicalize(&local)
                .is_ok_and(|real| roots.iter().any(|root| real.starts_with(root)));
            if inside
                && let Ok(meta) = std::fs::metadata(&local)
                && meta.is_file()
            {
                inputs.push(InputFile {
                    path: relative.to_owned(),
                    executable: meta.permissions().mode() & 0o111 != 0,
                    local,
                });
            }
        };
        let word = |text: &str, add: &mut dyn FnMut(&str, PathBuf)| -> String {
            let path = Path::new(text);
            match places.remote(path).filter(|_| path.is_absolute()) {
                Some(remote) => {
                    add(&remote, path.to_path_buf());
                    relative_from(&cwd, &remote)
                }
                None => text.to_owned(),
            }
        };
        let program = word(&spawn.program, &mut add);
        let args: Vec<String> = spawn.args.iter().map(|a| word(a, &mut add)).collect();
        // The environment: paths here become paths under the root, made absolute by the
        // wrapper; the rest is given as it is.
        // The last value of a name wins, as it does here.
        let mut last: Vec<(&String, &String)> = Vec::new();
        for (name, value) in &spawn.env {
            last.retain(|(n, _)| *n != name);
            last.push((name, value));
        }
        let mut environment: Vec<(String, String)> = Vec::new();
        let mut exports = String::new();
        for (name, value) in last {
            let path = Path::new(value);
            match places.remote(path).filter(|_| path.is_absolute()) {
                Some(remote) => {
                    if !is_name(name) || name == ROOT_VARIABLE {
                        return Err(format!("environment variable `{name}` cannot be set there"));
                    }
                    let value = if remote.is_empty() {
                        format!("\"${ROOT_VARIABLE}\"")
                    } else {
                        format!("\"${ROOT_VARIABLE}\"/{}", single_quoted(&remote))
                    };
                    exports.push_str(&format!("{name}={value}; export {name}; "));
                }
                None => environment.push((name.clone(), value.clone())),
            }
        }
        if !environment.iter().any(|(n, _)| n == "PATH") {
            environment.push(("PATH".into(), DEFAULT_PATH.into()));
        }
        environment.retain(|(n, _)| n != "PWD" && n != ROOT_VARIABLE && n != "CDPATH");
        let wrapper =
            format!("{ROOT_VARIABLE}=$PWD; {exports}cd -- \"$1\" || exit 127; shift; exec \"$@\"");
        let mut arguments = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            wrapper,
            "orch-step".to_owned(),
            if cwd.is_empty() {
                ".".to_owned()
            } else {
                cwd.clone()
            },
            program,
        ];
        arguments.extend(args);
        // What the node may read: its key's input files and the outputs of its needs.
        if let Some((_, digests)) = &self.key_inputs {
            for path in digests.keys() {
                add(path, workspace.join(path));
            }
        }
        if !elsewhere.need_outputs.is_empty() {
            let files = outputs::collect(workspace, &elsewhere.need_outputs)
                .map_err(|e| format!("the outputs of its needs: {e}"))?;
            for file in files.iter().filter(|f| f.symlink.is_none()) {
                add(&file.path, workspace.join(&file.path));
            }
        }
        inputs.sort_by(|a, b| a.path.cmp(&b.path));
        inputs.dedup_by(|a, b| a.path == b.path);
        let mut output_paths: Vec<String> = self
            .outputs
            .iter()
            .filter(|p| !p.starts_with('!'))
            .filter_map(|p| output_root(p))
            .collect();
        output_paths.extend(STEP_FILES.iter().map(|s| (*s).to_owned()));
        let mut salt = format!("orch step v{}\0", crate::cache::key::KEY_VERSION).into_bytes();
        if let Some(key) = &self.key {
            salt.extend_from_slice(key.to_hex().as_bytes());
        }
        Ok(OffloadRequest {
            arguments,
            environment,
            inputs,
            output_paths,
            timeout: spawn.timeout,
            platform: elsewhere.platform.clone(),
            cacheable: self.store,
            salt,
            live_output: None,
        })
    }

    /// The step files here, in the order of [`STEP_FILES`].
    fn step_files(&self) -> [PathBuf; 4] {
        let beside = |suffix: &str| {
            let mut name = self.scratch.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        [
            beside(".output"),
            beside(".summary.md"),
            beside(".env"),
            beside(".path"),
        ]
    }

    /// The files that came back: step files to their places here (the summary
    /// appended), declared outputs restored as from the cache; anything else is left.
    async fn bring_back(
        &self,
        elsewhere: &Elsewhere,
        files: &[orch_store::OutputFile],
        run: &RunOf<'_>,
    ) -> Result<(), String> {
        let Some(backend) = &self.backend else {
            return Err("no store".into());
        };
        let here = [
            run.files.output.clone(),
            run.files.summary.clone(),
            run.files.env.clone(),
            run.files.path.clone(),
        ];
        let mut declared = Vec::new();
        let owned = Patterns::each_valid(&self.outputs);
        for file in files {
            if let Some(index) = STEP_FILES.iter().position(|s| *s == file.path) {
                let bytes = backend
                    .read_blob(&file.blob())
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("a step file's blob is missing")?;
                let dest = &here[index];
                let mut out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dest)
                    .map_err(|e| format!("{}: {e}", dest.display()))?;
                out.write_all(&bytes)
                    .map_err(|e| format!("{}: {e}", dest.display()))?;
            } else if owned.matches(Path::new(&file.path)) {
                declared.push(file.clone());
            }
        }
        // On the blocking pool, as storing a result is: the restore's checks and copies
        // are file work, and its callbacks stay on that thread.
        let workspace = self.workspace.clone();
        let patterns = self.outputs.clone();
        let others = elsewhere.others.clone();
        let backend = backend.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            runtime.block_on(outputs::restore(
                &workspace,
                &declared,
                &patterns,
                true,
                &|path| others.matches(Path::new(path)),
                backend.as_ref(),
                &|_| None,
            ))
        })
        .await
        .map_err(|e| e.to_string())?
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_root_are_seen_from_the_working_directory() {
        assert_eq!(
            relative_from("", ".orch-scratch/step0.sh"),
            ".orch-scratch/step0.sh"
        );
        assert_eq!(relative_from("", "run.sh"), "./run.sh");
        assert_eq!(relative_from("a/b", "x/y"), "../../x/y");
        assert_eq!(relative_from("a", ""), "../.");
        let places = Places(vec![
            (PathBuf::from("/w/.orch/tmp/n"), SCRATCH.into()),
            (PathBuf::from("/w"), String::new()),
        ]);
        assert_eq!(places.remote(Path::new("/w")), Some(String::new()));
        assert_eq!(places.remote(Path::new("/w/src/a")), Some("src/a".into()));
        assert_eq!(
            places.remote(Path::new("/w/.orch/tmp/n/step0.sh")),
            Some(".orch-scratch/step0.sh".into())
        );
        assert_eq!(places.remote(Path::new("/elsewhere")), None);
    }

    #[test]
    fn an_output_comes_back_from_the_folder_its_pattern_names() {
        assert_eq!(output_root("dist/**"), Some("dist".into()));
        assert_eq!(output_root("./out/a.txt"), Some("out/a.txt".into()));
        assert_eq!(output_root("pkg/*/dist/*.js"), Some("pkg".into()));
        assert_eq!(output_root("**/*.o"), None);
        assert_eq!(output_root("*.txt"), None);
    }

    #[test]
    fn quoting_survives_every_character() {
        assert_eq!(single_quoted("a'b"), "'a'\\''b'");
        assert!(is_name("ORCH_OUTPUT") && !is_name("1X") && !is_name("A-B"));
    }
}
