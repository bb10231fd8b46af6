//! One frame of steps run in order: a job's, or a composite action's in place of the
//! step that uses it. Frames share what steps pass on (`$ORCH_ENV`, `$ORCH_PATH`, the
//! node's outputs and artifacts, the job's deadline); each has its own `steps` context
//! and its own failure, as GitHub keeps a composite action's.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::attempt::{Action, record_step};
use super::command::{plain_command, script_extension, split_command, write_private};
use super::output_file::read_values;
use super::prepare::{NodeWork, StepCommand, StepWork};
use super::scope::NodeScope;
use crate::compile::actions::Builtin;
use crate::compile::expr;
use crate::exec::process::{self, Cancel, Outcome, Spawn};
use crate::load::model::Shell;
use crate::report::event::{Event, NodeStatus, Observer};
use orch_store::StoredArtifact;

/// What every frame of one attempt shares.
pub(super) struct Shared<'a> {
    /// What the steps so far wrote to `$ORCH_ENV` and `$ORCH_PATH`.
    pub(super) carried_env: Vec<(String, String)>,
    pub(super) path_front: Vec<String>,
    pub(super) last_code: Option<i32>,
    pub(super) outputs: &'a mut BTreeMap<String, String>,
    pub(super) artifacts: &'a mut Vec<StoredArtifact>,
    /// The job's time limit, for every step in every frame.
    pub(super) deadline: Option<Instant>,
    /// A time limit ran out (a step's or the job's).
    pub(super) timed_out: &'a mut bool,
}

/// The node being run, for the processes of its steps.
pub(super) struct RunOf<'a> {
    pub(super) node: usize,
    pub(super) observer: &'a Arc<dyn Observer>,
    pub(super) cancel: &'a Cancel,
    pub(super) files: &'a StepFiles,
}

/// One sequence of steps and what their expressions see.
pub(super) struct Frame<'f> {
    pub(super) steps: &'f [StepWork],
    pub(super) scope: &'f NodeScope,
    /// More than one step: each is named in the log, and a failure lets the rest decide.
    pub(super) many: bool,
    /// Set for every process of the frame (`GITHUB_ACTION_PATH`).
    pub(super) action_env: Vec<(String, String)>,
    /// In front of each step's name in the log: the action whose steps these are.
    pub(super) label: String,
}

pub(super) enum FrameEnd {
    /// Every step had its turn; `failure` (the first failing step's exit code and why) if
    /// one failed without `continue-on-error`.
    Done {
        failure: Option<(Option<i32>, String)>,
        steps: serde_json::Map<String, serde_json::Value>,
    },
    /// The node ends here, whatever frame it is in (cancelled, timed out, a bad expression).
    Node(NodeStatus, Option<i32>, Option<String>),
}

impl NodeWork {
    pub(super) async fn run_frame(
        &self,
        frame: Frame<'_>,
        shared: &mut Shared<'_>,
        run: &RunOf<'_>,
        log: &mut File,
    ) -> FrameEnd {
        // What `steps.<id>` reads in later steps' `if`.
        let mut steps = serde_json::Map::new();
        let mut failed = false;
        // The first step that failed: its exit code and the node's reason.
        let mut first_failure: Option<(Option<i32>, String)> = None;
        for (index, step) in frame.steps.iter().enumerate() {
            if let Some(condition) = &step.condition {
                let mut scope = frame.scope.clone();
                scope.success = !failed;
                scope.failure = failed;
                scope.steps = steps.clone();
                let runs = match expr::eval(condition, &scope) {
                    Ok(v) => {
                        if expr::calls_status_function(condition) {
                            expr::truthy(&v)
                        } else {
                            !failed && expr::truthy(&v)
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(log, "orch: step {}: its `if` failed: {e}", index + 1);
                        return FrameEnd::Node(NodeStatus::Failure, None, Some(e.message));
                    }
                };
                if !runs {
                    record_step(&mut steps, &step.id, "skipped", "skipped", &BTreeMap::new());
                    continue;
                }
            } else if failed {
                record_step(&mut steps, &step.id, "skipped", "skipped", &BTreeMap::new());
                continue;
            }
            // A composite action's steps are rendered only here, in its scope.
            let mut late_scope = frame.scope.clone();
            late_scope.steps = steps.clone();
            if frame.many {
                let name = step
                    .name
                    .clone()
                    .or_else(|| {
                        let template = step.late.as_ref()?.name.as_ref()?;
                        template.render(&late_scope).ok()
                    })
                    .unwrap_or_else(|| format!("step {}", index + 1));
                let _ = writeln!(log, "orch: ── {}{name}", frame.label);
            }
            // `continue-on-error` and `timeout-minutes` written as expressions read the
            // steps before, as GitHub's do.
            let settings = (
                step.continue_on_error_expr
                    .as_ref()
                    .map(|t| super::prepare::render_flag(t, &late_scope))
                    .transpose(),
                step.timeout_minutes
                    .as_ref()
                    .map(|t| super::prepare::render_minutes(t, &late_scope))
                    .transpose(),
            );
            let (continue_on_error, step_timeout) = match settings {
                (Ok(flag), Ok(minutes)) => (
                    flag.unwrap_or(step.continue_on_error),
                    minutes.or(step.timeout),
                ),
                (Err(why), _) | (_, Err(why)) => {
                    let why = format!("step {}: {why}", index + 1);
                    let _ = writeln!(log, "orch: {why}");
                    return FrameEnd::Node(NodeStatus::Failure, None, Some(why));
                }
            };
            let cwd = match self.late_cwd(step, &late_scope) {
                Ok(cwd) => cwd,
                Err(why) => {
                    let _ = writeln!(log, "orch: step {}: {why}", index + 1);
                    return FrameEnd::Node(NodeStatus::Failure, None, Some(why));
                }
            };
            // A step whose text reads `steps` is rendered now, after the steps before it.
            let rendered;
            let (step_command, step_env) = match &step.late {
                Some(late) => {
                    let mut problem = None;
                    let mut render = |t: &crate::compile::expr::Template| {
                        t.render(&late_scope).unwrap_or_else(|e| {
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
                        return FrameEnd::Node(NodeStatus::Failure, None, Some(why));
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
                && !matches!(builtin, Builtin::Node(_))
            {
                let action = Action {
                    reference,
                    builtin,
                    with,
                };
                let done = match builtin {
                    Builtin::Composite(composite) => {
                        match self
                            .composite(
                                composite,
                                (with, step_env),
                                (&late_scope, &frame.label),
                                shared,
                                run,
                                log,
                            )
                            .await
                        {
                            Ok(done) => done,
                            Err(end) => return end,
                        }
                    }
                    _ => (
                        self.builtin_action(
                            &action,
                            log,
                            run.observer,
                            (shared.artifacts, &mut shared.carried_env),
                        ),
                        BTreeMap::new(),
                    ),
                };
                let (done, outputs) = done;
                match done {
                    Ok(outcome) => record_step(&mut steps, &step.id, outcome, outcome, &outputs),
                    Err(why) => {
                        let _ = writeln!(log, "orch: failed: {why}");
                        let allowed = if continue_on_error {
                            "success"
                        } else {
                            "failure"
                        };
                        record_step(&mut steps, &step.id, "failure", allowed, &outputs);
                        if !continue_on_error {
                            if !frame.many {
                                return FrameEnd::Node(NodeStatus::Failure, None, Some(why));
                            }
                            failed = true;
                            first_failure.get_or_insert((None, why));
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
                        return FrameEnd::Node(
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
                StepCommand::Action {
                    builtin: Builtin::Node(action),
                    ..
                } => self.node_action(action, log, run.observer),
                StepCommand::Action { .. } => unreachable!("actions were handled above"),
            };
            let mut env = self.env.clone();
            env.extend(frame.action_env.iter().cloned());
            env.push(("ORCH_OUTPUT".into(), run.files.output.display().to_string()));
            env.push((
                "ORCH_SUMMARY".into(),
                run.files.summary.display().to_string(),
            ));
            env.push(("ORCH_ENV".into(), run.files.env.display().to_string()));
            env.push(("ORCH_PATH".into(), run.files.path.display().to_string()));
            if !self.scope.workflow.is_empty() {
                // A workflow's steps write the same files under the runner's names.
                for (name, file) in [
                    ("GITHUB_OUTPUT", &run.files.output),
                    ("GITHUB_STEP_SUMMARY", &run.files.summary),
                    ("GITHUB_ENV", &run.files.env),
                    ("GITHUB_PATH", &run.files.path),
                ] {
                    env.push((name.into(), file.display().to_string()));
                }
            }
            env.extend(shared.carried_env.iter().cloned());
            if !shared.path_front.is_empty() {
                let path = env
                    .iter()
                    .rev()
                    .find(|(k, _)| k == "PATH")
                    .map(|(_, v)| v.clone())
                    .or_else(|| std::env::var("PATH").ok())
                    .unwrap_or_default();
                env.push((
                    "PATH".into(),
                    format!("{}:{path}", shared.path_front.join(":")),
                ));
            }
            env.extend(step_env.iter().cloned());
            if let StepCommand::Action {
                builtin: Builtin::Node(action),
                with,
                ..
            } = step_command
            {
                match self.node_action_env(action, with, &late_scope) {
                    Ok(inputs) => env.extend(inputs),
                    Err(why) => {
                        let _ = writeln!(log, "orch: {why}");
                        return FrameEnd::Node(NodeStatus::Failure, None, Some(why));
                    }
                }
            }
            // The step's own limit, within what is left of the job's.
            let step_deadline = step_timeout.map(|t| Instant::now() + t);
            let step_limit_first = match (step_deadline, shared.deadline) {
                (Some(step), Some(job)) => step <= job,
                (step, _) => step.is_some(),
            };
            let timeout = step_deadline
                .into_iter()
                .chain(shared.deadline)
                .min()
                .map(|d| d.saturating_duration_since(Instant::now()));
            let spawn = Spawn {
                program,
                args,
                cwd: cwd.unwrap_or_else(|| self.cwd.clone()),
                env,
                timeout,
                secrets: self.secrets.clone(),
            };
            run.files.remove_step_files();
            let elsewhere = match &self.elsewhere {
                Some(elsewhere) => match self.run_elsewhere(elsewhere, &spawn, log, run).await {
                    Ok(outcome) => Some(outcome),
                    // A job that names the machine's properties is not run on this one.
                    Err(why) if elsewhere.pinned => {
                        let why = format!("could not run where its job's `remote:` asks: {why}");
                        let _ = writeln!(log, "orch: {why}");
                        Some(Outcome::NotStarted(why))
                    }
                    Err(why) => {
                        // Keyed as the farm's work, a result made here is not kept.
                        self.fell_back
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                        let _ = writeln!(
                            log,
                            "orch: runs here instead (its result is not cached): {why}"
                        );
                        run.observer.event(&Event::Warning(format!(
                            "{}: runs here instead: {why}",
                            self.scope.node
                        )));
                        None
                    }
                },
                None => None,
            };
            let outcome = match elsewhere {
                Some(outcome) => outcome,
                None => process::run(spawn, log, run.node, run.observer, run.cancel.clone()).await,
            };
            let written = read_values(&run.files.output)
                .map_err(|why| ("ORCH_OUTPUT", why))
                .and_then(|o| {
                    Ok((
                        o,
                        read_values(&run.files.env).map_err(|why| ("ORCH_ENV", why))?,
                    ))
                });
            let (step_outputs, step_env) = match written {
                Ok(values) => values,
                // A step that failed anyway keeps its own reason; the file is only noted.
                Err((file, why)) if matches!(&outcome, Outcome::Exited(s) if !s.success()) => {
                    let _ = writeln!(log, "orch: ${file}: {why} (ignored: the step failed)");
                    Default::default()
                }
                Err((file, why)) => {
                    let _ = writeln!(log, "orch: ${file}: {why}");
                    return FrameEnd::Node(
                        NodeStatus::Failure,
                        None,
                        Some(format!("bad ${file}: {why}")),
                    );
                }
            };
            shared.carried_env.extend(step_env);
            if let Ok(text) = std::fs::read_to_string(&run.files.path) {
                for folder in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    shared.path_front.insert(0, folder.to_owned());
                }
            }
            shared
                .outputs
                .extend(step_outputs.iter().map(|(k, v)| (k.clone(), v.clone())));
            let allowed = if continue_on_error {
                "success"
            } else {
                "failure"
            };
            match outcome {
                Outcome::Exited(status) if status.success() => {
                    shared.last_code = Some(0);
                    record_step(&mut steps, &step.id, "success", "success", &step_outputs);
                }
                Outcome::Exited(status) => {
                    record_step(&mut steps, &step.id, "failure", allowed, &step_outputs);
                    shared.last_code = status.code();
                    let why = match status.code() {
                        Some(code) => format!("exit code {code}"),
                        None => "killed by a signal".to_owned(),
                    };
                    if !continue_on_error {
                        let _ = writeln!(log, "orch: failed: {why}");
                        failed = true;
                        if !frame.many {
                            return FrameEnd::Node(
                                NodeStatus::Failure,
                                shared.last_code,
                                Some(why),
                            );
                        }
                        first_failure
                            .get_or_insert((shared.last_code, format!("a step failed ({why})")));
                    }
                }
                Outcome::TimedOut => {
                    *shared.timed_out = true;
                    let human = crate::report::summary::human_duration;
                    match step_timeout {
                        Some(limit) if step_limit_first => {
                            let why =
                                format!("step {} timed out after {}", index + 1, human(limit));
                            let _ = writeln!(log, "orch: {why}; its process tree was killed");
                            // Its own limit, as any failure of the step: continue-on-error
                            // goes on (the job's limit ends the job whatever a step says).
                            if continue_on_error {
                                record_step(
                                    &mut steps,
                                    &step.id,
                                    "failure",
                                    allowed,
                                    &step_outputs,
                                );
                                continue;
                            }
                            if !frame.many {
                                return FrameEnd::Node(NodeStatus::Failure, None, Some(why));
                            }
                            record_step(&mut steps, &step.id, "failure", "failure", &step_outputs);
                            failed = true;
                            first_failure.get_or_insert((None, why));
                        }
                        _ => {
                            let limit = self.timeout.unwrap_or_default();
                            let why = format!("timed out after {}", human(limit));
                            let _ = writeln!(log, "orch: {why}; its process tree was killed");
                            return FrameEnd::Node(NodeStatus::Failure, None, Some(why));
                        }
                    }
                }
                Outcome::Cancelled => {
                    let _ = writeln!(log, "orch: cancelled");
                    return FrameEnd::Node(
                        NodeStatus::Cancelled,
                        None,
                        Some("the run was cancelled".into()),
                    );
                }
                Outcome::NotStarted(why) => {
                    let _ = writeln!(log, "orch: {why}");
                    record_step(&mut steps, &step.id, "failure", allowed, &step_outputs);
                    if !continue_on_error {
                        if !frame.many {
                            return FrameEnd::Node(NodeStatus::Failure, None, Some(why));
                        }
                        failed = true;
                        first_failure.get_or_insert((None, why));
                    }
                }
            }
        }
        FrameEnd::Done {
            failure: first_failure.filter(|_| failed),
            steps,
        }
    }
}

/// The files a step's process writes for orch, beside the node's scratch folder.
pub(super) struct StepFiles {
    pub(super) output: PathBuf,
    pub(super) summary: PathBuf,
    pub(super) env: PathBuf,
    pub(super) path: PathBuf,
}

impl StepFiles {
    /// Those each step starts without (the summary is the node's, shared by its steps).
    fn remove_step_files(&self) {
        for file in [&self.output, &self.env, &self.path] {
            let _ = std::fs::remove_file(file);
        }
    }

    pub(super) fn remove(&self) {
        self.remove_step_files();
        let _ = std::fs::remove_file(&self.summary);
    }
}
