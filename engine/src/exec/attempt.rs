//! Running a node: its attempts (retries), each its steps in order, each step a process.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::prepare::NodeWork;
use super::setup_versions;
use super::steps::{Frame, FrameEnd, RunOf, Shared, StepFiles};
use crate::compile::actions::Builtin;
use crate::exec::process::{self, Cancel};
use crate::report::event::{Event, NodeResult, NodeStatus, Observer};
use orch_store::StoredArtifact;

impl NodeWork {
    pub(super) async fn run(
        self,
        node: usize,
        observer: Arc<dyn Observer>,
        cancel: Cancel,
    ) -> NodeResult {
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
            artifacts: Vec::new(),
            allowed_failure: false,
            remote_hit: false,
            timed_out: false,
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
        if let Some(why) = &self.runs_here_because {
            let _ = writeln!(log, "orch: runs on this machine: {why}");
        }
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
        let files = StepFiles {
            output: beside(".output"),
            summary: beside(".summary.md"),
            env: beside(".env"),
            path: beside(".path"),
        };
        for attempt in 1..=self.retries.saturating_add(1) {
            result.attempts = attempt;
            observer.event(&Event::NodeStarted { node, attempt });
            if attempt > 1 {
                let _ = writeln!(log, "orch: attempt {attempt} of {}", self.retries + 1);
            }
            // Each attempt starts with empty files; a job's `>>` creates them (the first
            // attempt finds none: nothing to remove).
            if attempt > 1 {
                files.remove();
            }
            // Each attempt's outputs and artifacts are its own.
            result.outputs.clear();
            result.timed_out = false;
            super::artifacts::discard(&self.artifacts_dir, &result.artifacts);
            result.artifacts.clear();
            let (mut status, exit_code, mut reason) = self
                .attempt(
                    node,
                    &observer,
                    &cancel,
                    &mut log,
                    &files,
                    (
                        &mut result.outputs,
                        &mut result.artifacts,
                        &mut result.timed_out,
                    ),
                )
                .await;
            if status == NodeStatus::Success
                && let Err(why) = self.keep_artifacts(&mut result.artifacts)
            {
                let _ = writeln!(log, "orch: {why}");
                (status, reason) = (NodeStatus::Failure, Some(why));
            }
            result.status = status;
            result.exit_code = exit_code;
            result.reason = reason;
            if status != NodeStatus::Failure || *cancel.borrow() > 0 {
                break;
            }
        }
        result.summary = self
            .secrets
            .mask(&std::fs::read_to_string(&files.summary).unwrap_or_default());
        for value in result.outputs.values_mut() {
            *value = self.secrets.mask(value);
        }
        result.reason = result.reason.map(|r| self.secrets.mask(&r));
        // Scratch files may hold rendered secrets: gone as soon as the node ends (the
        // folder exists only if a script file was written).
        if self.scratch.exists() {
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
        files.remove();
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

    /// One attempt: every step in order; the first failing step ends it. Each step
    /// writes its own `$ORCH_OUTPUT` (read after it: its `steps.<id>.outputs`, and the
    /// node's outputs, a later step's value winning), `$ORCH_ENV` (`name=value`: env of
    /// the steps after it, under their own `env:`) and `$ORCH_PATH` (a folder a line: put
    /// in front of `PATH` for the steps after it); `$ORCH_SUMMARY` is shared.
    pub(super) async fn attempt(
        &self,
        node: usize,
        observer: &Arc<dyn Observer>,
        cancel: &Cancel,
        log: &mut File,
        files: &StepFiles,
        (outputs, artifacts, timed_out): (
            &mut BTreeMap<String, String>,
            &mut Vec<StoredArtifact>,
            &mut bool,
        ),
    ) -> (NodeStatus, Option<i32>, Option<String>) {
        let mut shared = Shared {
            carried_env: Vec::new(),
            path_front: Vec::new(),
            last_code: None,
            outputs,
            artifacts,
            deadline: self.timeout.map(|t| Instant::now() + t),
            timed_out,
        };
        let run = RunOf {
            node,
            observer,
            cancel,
            files,
        };
        let frame = Frame {
            steps: &self.steps,
            scope: &self.scope,
            many: self.steps.len() > 1,
            action_env: Vec::new(),
            label: String::new(),
        };
        let (failure, steps) = match self.run_frame(frame, &mut shared, &run, log).await {
            FrameEnd::Node(status, code, why) => return (status, code, why),
            FrameEnd::Done { failure, steps } => (failure, steps),
        };
        let last_code = shared.last_code;
        if !self.output_map.is_empty() {
            // The job's outputs are what its `outputs:` map says over its steps.
            let mut scope = self.scope.clone();
            scope.steps = steps;
            match super::local_action::render_outputs(&self.output_map, &scope, log) {
                Ok(mapped) => *shared.outputs = mapped,
                Err(why) => return (NodeStatus::Failure, last_code, Some(why)),
            }
        }
        // The first failing step's code and reason (not the last step's: a cleanup that
        // ran after it succeeded).
        match failure {
            Some((code, why)) => (NodeStatus::Failure, code, Some(why)),
            None => (NodeStatus::Success, last_code.or(Some(0)), None),
        }
    }
}

impl NodeWork {
    /// A GitHub action's built-in equivalent: nothing to do, the tools a setup action
    /// would install (which must be on PATH), or a skip said in the log and as a warning.
    /// The step's outcome, or why it failed.
    pub(super) fn builtin_action(
        &self,
        action: &Action,
        log: &mut File,
        observer: &Arc<dyn Observer>,
        (artifacts, carried_env): (&mut Vec<StoredArtifact>, &mut Vec<(String, String)>),
    ) -> Result<&'static str, String> {
        let reference = action.reference;
        let with = |name: &str| {
            action
                .with
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        match action.builtin {
            Builtin::UploadArtifact => {
                let name = with("name").unwrap_or("artifact");
                let Some(path) = with("path") else {
                    return Err(format!("{reference}: `with.path` is required"));
                };
                let if_none = with("if-no-files-found").unwrap_or("warn");
                let kept = super::artifacts::upload(
                    &self.workspace,
                    &self.artifacts_dir,
                    name,
                    &[path.to_owned()],
                    (&self.scope.job, &self.scope.node),
                    if_none == "error",
                )?;
                match kept {
                    Some(kept) => {
                        let _ = writeln!(
                            log,
                            "orch: {reference}: kept artifact `{name}` ({}, {} bytes)",
                            crate::report::summary::counted(kept.files.len(), "file"),
                            kept.size()
                        );
                        artifacts.push(kept);
                    }
                    None if if_none == "ignore" => {}
                    None => {
                        let _ = writeln!(
                            log,
                            "orch: warning: {reference}: no file matches {path}; no artifact `{name}`"
                        );
                        observer.event(&Event::Warning(format!(
                            "{}: no file matches {path}; no artifact `{name}`",
                            self.scope.node
                        )));
                    }
                }
                Ok("success")
            }
            Builtin::DownloadArtifact => {
                let fetch = super::artifacts::Fetch {
                    name: with("name"),
                    pattern: with("pattern"),
                    path: with("path").unwrap_or("."),
                    merge: with("merge-multiple") == Some("true"),
                };
                let needed: Vec<&str> = self.needed_jobs.iter().map(String::as_str).collect();
                let names = super::artifacts::download(
                    &self.workspace,
                    &self.artifacts_dir,
                    &fetch,
                    &needed,
                )?;
                let _ = writeln!(
                    log,
                    "orch: {reference}: fetched {} into {}",
                    if names.is_empty() {
                        "no artifact".to_owned()
                    } else {
                        names.join(", ")
                    },
                    fetch.path
                );
                Ok("success")
            }
            Builtin::Nothing(why) => {
                let _ = writeln!(log, "orch: {reference}: nothing to do ({why})");
                Ok("success")
            }
            Builtin::Tools(tools) => {
                for tool in tools {
                    match process::locate(tool, &self.env, &self.cwd) {
                        Some(found) => {
                            let _ =
                                writeln!(log, "orch: {reference}: {tool} is {}", found.display());
                        }
                        None => {
                            return Err(format!(
                                "{reference} sets up `{tool}`, which is not on PATH here: install it, or run this job where it is"
                            ));
                        }
                    }
                }
                let with = |k: &str| with(k).map(str::to_owned);
                if let Some(carry) = self.check_version(reference, &with, log, observer)? {
                    carried_env.push(carry);
                }
                Ok("success")
            }
            // Run in their place by the frame (`local_action.rs`); a `./` action that was
            // not read cannot reach here (compiling it failed).
            Builtin::Missing(why) => Err(format!("{reference}: {why}")),
            Builtin::Local | Builtin::Composite(_) | Builtin::Node(_) => {
                Err(format!("{reference}: not an action orch runs here"))
            }
            Builtin::Unsupported(why) => {
                let _ = writeln!(log, "orch: warning: step skipped: {reference}: {why}");
                observer.event(&Event::Warning(format!(
                    "{}: step `{reference}` skipped: {why}",
                    self.scope.node
                )));
                Ok("skipped")
            }
        }
    }
}

impl NodeWork {
    /// The version a setup action asks for, against the program's own `--version`. A
    /// Rust toolchain rustup has installed is chosen for the job's later steps: the
    /// variable to carry to them is returned.
    fn check_version(
        &self,
        reference: &str,
        with: &dyn Fn(&str) -> Option<String>,
        log: &mut File,
        observer: &Arc<dyn Observer>,
    ) -> Result<Option<(String, String)>, String> {
        let Some(wanted) = setup_versions::wanted(reference, with, &self.workspace)? else {
            return Ok(None);
        };
        let program = wanted.program;
        if program == "rustc"
            && with("override").as_deref() != Some("true")
            && let Some(file) = self.toolchain_file()
        {
            // The action makes its toolchain rustup's default; a toolchain file beats a
            // default, so the file decides, as it would on GitHub.
            let _ = writeln!(
                log,
                "orch: {reference}: {} decides the toolchain of the steps after it",
                file.display()
            );
            return Ok(None);
        }
        let rustup = (program == "rustc")
            .then(|| process::locate("rustup", &self.env, &self.cwd))
            .flatten();
        if let Some(rustup) = &rustup {
            for spec in &wanted.specs {
                if let Some((name, said)) = setup_versions::rustup_toolchain(rustup, spec)
                    && setup_versions::satisfies(&said, spec) != Some(false)
                {
                    let _ = writeln!(
                        log,
                        "orch: {reference}: rustup's toolchain {name} (`{said}`) for the steps after it"
                    );
                    return Ok(Some(("RUSTUP_TOOLCHAIN".into(), name)));
                }
            }
        }
        let said = process::locate(program, &self.env, &self.cwd)
            .and_then(|path| setup_versions::version_said(&path, program))
            .ok_or_else(|| {
                format!("{reference}: `{program} --version` says nothing here: cannot check it")
            })?;
        let verdicts: Vec<Option<bool>> = wanted
            .specs
            .iter()
            .map(|spec| setup_versions::satisfies(&said, spec))
            .collect();
        let asked = wanted.specs.join(" or ");
        if let Some(i) = verdicts.iter().position(|v| *v == Some(true)) {
            let spec = &wanted.specs[i];
            let _ = writeln!(log, "orch: {reference}: `{said}` is {program} {spec}");
            return Ok(None);
        }
        if verdicts.contains(&None) {
            let said_here = format!(
                "{reference}: cannot read the version `{asked}` ({}); running with `{said}`",
                wanted.from
            );
            let _ = writeln!(log, "orch: warning: {said_here}");
            observer.event(&Event::Warning(format!("{}: {said_here}", self.scope.node)));
            return Ok(None);
        }
        let install = match rustup {
            Some(_) => format!(
                "rustup has no toolchain {asked} (`rustup toolchain install {}` adds it)",
                wanted.specs[0]
            ),
            None => "install that version".to_owned(),
        };
        Err(format!(
            "{reference} asks for {program} {asked} ({}), and this machine's is `{said}`: {install}, or run this job where it is",
            wanted.from
        ))
    }
}

impl NodeWork {
    /// A `rust-toolchain.toml` (or `rust-toolchain`) in the job's folder or above it,
    /// inside the workspace: what rustup picks over its default.
    fn toolchain_file(&self) -> Option<PathBuf> {
        self.cwd
            .ancestors()
            .take_while(|dir| dir.starts_with(&self.workspace))
            .flat_map(|dir| ["rust-toolchain.toml", "rust-toolchain"].map(|f| dir.join(f)))
            .find(|f| f.is_file())
    }
}

/// A step's `uses:` of an action, rendered.
pub(super) struct Action<'a> {
    pub(super) reference: &'a str,
    pub(super) builtin: &'a Builtin,
    pub(super) with: &'a [(String, String)],
}

impl NodeWork {
    /// `artifacts:` after a success: each must match a file.
    fn keep_artifacts(&self, kept: &mut Vec<StoredArtifact>) -> Result<(), String> {
        for (name, patterns) in &self.artifacts {
            if let Some(artifact) = super::artifacts::upload(
                &self.workspace,
                &self.artifacts_dir,
                name,
                patterns,
                (&self.scope.job, &self.scope.node),
                true,
            )? {
                kept.push(artifact);
            }
        }
        Ok(())
    }
}

/// What `steps.<id>` says of a step, as GitHub has it: `outcome` before
/// `continue-on-error`, `conclusion` after, and the outputs it wrote.
pub(super) fn record_step(
    steps: &mut serde_json::Map<String, serde_json::Value>,
    id: &Option<String>,
    outcome: &str,
    conclusion: &str,
    outputs: &BTreeMap<String, String>,
) {
    if let Some(id) = id {
        steps.insert(
            id.clone(),
            serde_json::json!({ "outcome": outcome, "conclusion": conclusion, "outputs": outputs }),
        );
    }
}
