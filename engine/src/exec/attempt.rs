//! Running a node: its attempts (retries), each its steps in order, each step a process.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::command::{plain_command, script_extension, split_command, write_private};
use super::output_file::read_values;
use super::prepare::{NodeWork, StepCommand};
use crate::compile::actions::Builtin;
use crate::compile::expr;
use crate::exec::process::{self, Cancel, Outcome, Spawn};
use crate::load::model::Shell;
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
            super::artifacts::discard(&self.artifacts_dir, &result.artifacts);
            result.artifacts.clear();
            let (mut status, exit_code, mut reason) = self
                .attempt(
                    node,
                    &observer,
                    &cancel,
                    &mut log,
                    &files,
                    (&mut result.outputs, &mut result.artifacts),
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
        (outputs, artifacts): (&mut BTreeMap<String, String>, &mut Vec<StoredArtifact>),
    ) -> (NodeStatus, Option<i32>, Option<String>) {
        // What `steps.<id>` reads in later steps' `if`.
        let mut steps = serde_json::Map::new();
        let mut failed = false;
        let mut last_code = None;
        // What the steps so far wrote to `$ORCH_ENV` and `$ORCH_PATH`.
        let mut carried_env: Vec<(String, String)> = Vec::new();
        let mut path_front: Vec<String> = Vec::new();
        let many = self.steps.len() > 1;
        let deadline = self.timeout.map(|t| Instant::now() + t);
        for (index, step) in self.steps.iter().enumerate() {
            if let Some(condition) = &step.condition {
                let mut scope = self.scope.clone();
                scope.success = !failed;
                scope.failure = failed;
                scope.steps = steps.clone();
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
                    record_step(&mut steps, &step.id, "skipped", "skipped", &BTreeMap::new());
                    continue;
                }
            } else if failed {
                record_step(&mut steps, &step.id, "skipped", "skipped", &BTreeMap::new());
                continue;
            }
            if many {
                let name = step
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("step {}", index + 1));
                let _ = writeln!(log, "orch: ── {name}");
            }
            // A step whose text reads `steps` is rendered now, after the steps before it.
            let rendered;
            let (step_command, step_env) = match &step.late {
                Some(late) => {
                    let mut scope = self.scope.clone();
                    scope.steps = steps.clone();
                    let mut problem = None;
                    let mut render = |t: &crate::compile::expr::Template| {
                        t.render(&scope).unwrap_or_else(|e| {
                            problem.get_or_insert(e.message);
                            String::new()
                        })
                    };
                    let command = super::prepare::command(&late.body, &mut render);
                    let env: Vec<(String, String)> = late
                        .env
                        .iter()
                        .map(|(k, t)| (k.clone(), render(t)))
                        .collect();
                    if let Some(problem) = problem {
                        let why = format!("an expression failed: {problem}");
                        let _ = writeln!(log, "orch: step {}: {why}", index + 1);
                        return (NodeStatus::Failure, None, Some(why));
                    }
                    rendered = (command, env);
                    (&rendered.0, &rendered.1)
                }
                None => (&step.command, &step.env),
            };
            if let StepCommand::Action {
                reference,
                builtin,
                with,
            } = step_command
            {
                let action = Action {
                    reference,
                    builtin,
                    with,
                };
                match self.builtin_action(&action, log, observer, artifacts) {
                    Ok(outcome) => {
                        record_step(&mut steps, &step.id, outcome, outcome, &BTreeMap::new())
                    }
                    Err(why) => {
                        let _ = writeln!(log, "orch: failed: {why}");
                        let allowed = if step.continue_on_error {
                            "success"
                        } else {
                            "failure"
                        };
                        record_step(&mut steps, &step.id, "failure", allowed, &BTreeMap::new());
                        if !step.continue_on_error {
                            return (NodeStatus::Failure, None, Some(why));
                        }
                    }
                }
                continue;
            }
            let shell = step.shell.as_ref().unwrap_or(&self.shell);
            let (program, args) = match step_command {
                // Passed as an argument when that is safe (no secret in it, not huge): no
                // file to write. Otherwise a private file, as a runner does.
                // A plain command (words only, no shell syntax) under bash or sh runs
                // without the shell: the same result, one process less.
                StepCommand::Inline(text)
                    if matches!(shell, Shell::Bash | Shell::Sh)
                        && !self.secrets.appears_in(text)
                        && plain_command(text).is_some() =>
                {
                    split_command(plain_command(text).unwrap_or_default())
                }
                StepCommand::Inline(text)
                    if text.len() < 64 * 1024
                        && !self.secrets.appears_in(text)
                        && shell.inline(text).is_some() =>
                {
                    split_command(shell.inline(text).unwrap_or_default())
                }
                StepCommand::Inline(text) => {
                    let script = self
                        .scratch
                        .join(format!("step{index}.{}", script_extension(shell)));
                    if let Err(e) = std::fs::create_dir_all(&self.scratch)
                        .and_then(|()| write_private(&script, text))
                    {
                        return (
                            NodeStatus::Failure,
                            None,
                            Some(format!("cannot write its script: {e}")),
                        );
                    }
                    split_command(shell.command_line(&script.display().to_string()))
                }
                StepCommand::Script { path, args } => {
                    let script = self.workspace.join(path);
                    let mut line = shell.command_line(&script.display().to_string());
                    line.extend(args.iter().cloned());
                    split_command(line)
                }
                StepCommand::Action { .. } => unreachable!("actions were handled above"),
            };
            let mut env = self.env.clone();
            env.push(("ORCH_OUTPUT".into(), files.output.display().to_string()));
            env.push(("ORCH_SUMMARY".into(), files.summary.display().to_string()));
            env.push(("ORCH_ENV".into(), files.env.display().to_string()));
            env.push(("ORCH_PATH".into(), files.path.display().to_string()));
            if !self.scope.workflow.is_empty() {
                // A workflow's steps write the same files under the runner's names.
                for (name, file) in [
                    ("GITHUB_OUTPUT", &files.output),
                    ("GITHUB_STEP_SUMMARY", &files.summary),
                    ("GITHUB_ENV", &files.env),
                    ("GITHUB_PATH", &files.path),
                ] {
                    env.push((name.into(), file.display().to_string()));
                }
            }
            env.extend(carried_env.iter().cloned());
            if !path_front.is_empty() {
                let path = env
                    .iter()
                    .rev()
                    .find(|(k, _)| k == "PATH")
                    .map(|(_, v)| v.clone())
                    .or_else(|| std::env::var("PATH").ok())
                    .unwrap_or_default();
                env.push(("PATH".into(), format!("{}:{path}", path_front.join(":"))));
            }
            env.extend(step_env.iter().cloned());
            // The step's own limit, within what is left of the job's.
            let step_deadline = step.timeout.map(|t| Instant::now() + t);
            let step_limit_first = match (step_deadline, deadline) {
                (Some(step), Some(job)) => step <= job,
                (step, _) => step.is_some(),
            };
            let timeout = step_deadline
                .into_iter()
                .chain(deadline)
                .min()
                .map(|d| d.saturating_duration_since(Instant::now()));
            let spawn = Spawn {
                program,
                args,
                cwd: step.cwd.clone().unwrap_or_else(|| self.cwd.clone()),
                env,
                timeout,
                secrets: self.secrets.clone(),
            };
            files.remove_step_files();
            let outcome = process::run(spawn, log, node, observer, cancel.clone()).await;
            let written = read_values(&files.output)
                .map_err(|why| ("ORCH_OUTPUT", why))
                .and_then(|o| Ok((o, read_values(&files.env).map_err(|why| ("ORCH_ENV", why))?)));
            let (step_outputs, step_env) = match written {
                Ok(values) => values,
                // A step that failed anyway keeps its own reason; the file is only noted.
                Err((file, why)) if matches!(&outcome, Outcome::Exited(s) if !s.success()) => {
                    let _ = writeln!(log, "orch: ${file}: {why} (ignored: the step failed)");
                    Default::default()
                }
                Err((file, why)) => {
                    let _ = writeln!(log, "orch: ${file}: {why}");
                    return (
                        NodeStatus::Failure,
                        None,
                        Some(format!("bad ${file}: {why}")),
                    );
                }
            };
            carried_env.extend(step_env);
            if let Ok(text) = std::fs::read_to_string(&files.path) {
                for folder in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    path_front.insert(0, folder.to_owned());
                }
            }
            outputs.extend(step_outputs.iter().map(|(k, v)| (k.clone(), v.clone())));
            let allowed = if step.continue_on_error {
                "success"
            } else {
                "failure"
            };
            match outcome {
                Outcome::Exited(status) if status.success() => {
                    last_code = Some(0);
                    record_step(&mut steps, &step.id, "success", "success", &step_outputs);
                }
                Outcome::Exited(status) => {
                    record_step(&mut steps, &step.id, "failure", allowed, &step_outputs);
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
                    let human = crate::report::summary::human_duration;
                    match step.timeout {
                        Some(limit) if step_limit_first => {
                            let why =
                                format!("step {} timed out after {}", index + 1, human(limit));
                            let _ = writeln!(log, "orch: {why}; its process tree was killed");
                            // Its own limit, as any failure of the step: continue-on-error
                            // goes on (the job's limit ends the job whatever a step says).
                            if step.continue_on_error {
                                record_step(
                                    &mut steps,
                                    &step.id,
                                    "failure",
                                    allowed,
                                    &step_outputs,
                                );
                                continue;
                            }
                            return (NodeStatus::Failure, None, Some(why));
                        }
                        _ => {
                            let limit = self.timeout.unwrap_or_default();
                            let why = format!("timed out after {}", human(limit));
                            let _ = writeln!(log, "orch: {why}; its process tree was killed");
                            return (NodeStatus::Failure, None, Some(why));
                        }
                    }
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
                    record_step(&mut steps, &step.id, "failure", allowed, &step_outputs);
                    if !step.continue_on_error {
                        return (NodeStatus::Failure, None, Some(why));
                    }
                }
            }
        }
        if !self.output_map.is_empty() {
            // The job's outputs are what its `outputs:` map says over its steps.
            let mut scope = self.scope.clone();
            scope.steps = steps;
            let mut mapped = BTreeMap::new();
            for (name, template) in &self.output_map {
                match template.render(&scope) {
                    Ok(value) => {
                        mapped.insert(name.clone(), value);
                    }
                    Err(e) => {
                        let why = format!("an expression failed: outputs.{name}: {}", e.message);
                        let _ = writeln!(log, "orch: {why}");
                        return (NodeStatus::Failure, last_code, Some(why));
                    }
                }
            }
            *outputs = mapped;
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

impl NodeWork {
    /// A GitHub action's built-in equivalent: nothing to do, the tools a setup action
    /// would install (which must be on PATH), or a skip said in the log and as a warning.
    /// The step's outcome, or why it failed.
    fn builtin_action(
        &self,
        action: &Action,
        log: &mut File,
        observer: &Arc<dyn Observer>,
        artifacts: &mut Vec<StoredArtifact>,
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
                Ok("success")
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

/// A step's `uses:` of an action, rendered.
struct Action<'a> {
    reference: &'a str,
    builtin: &'a Builtin,
    with: &'a [(String, String)],
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
fn record_step(
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

/// The files a step's process writes for orch, beside the node's scratch folder.
pub(super) struct StepFiles {
    output: PathBuf,
    summary: PathBuf,
    env: PathBuf,
    path: PathBuf,
}

impl StepFiles {
    /// Those each step starts without (the summary is the node's, shared by its steps).
    fn remove_step_files(&self) {
        for file in [&self.output, &self.env, &self.path] {
            let _ = std::fs::remove_file(file);
        }
    }

    fn remove(&self) {
        self.remove_step_files();
        let _ = std::fs::remove_file(&self.summary);
    }
}
