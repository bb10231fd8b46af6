//! A node made ready to key and run: its expressions rendered and its rendered paths
//! checked (`prepare`), then what only running needs (`for_running`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::scheduler::State;
use super::scope::NodeScope;
use crate::cache::key::HostNote;
use crate::compile::expr::{self, Expr, Scope, Template};
use crate::compile::graph::Body;
use crate::exec::mask::Secrets;
use crate::files::paths::inside_workspace;
use crate::load::model::Shell;
use orch_store::{Backend, Digest};

pub(super) enum StepCommand {
    Inline(String),
    Script {
        path: String,
        args: Vec<String>,
    },
    /// A GitHub action's built-in equivalent, with its `with` rendered.
    Action {
        reference: String,
        builtin: crate::compile::actions::Builtin,
        with: Vec<(String, String)>,
    },
}

pub(super) fn command(body: &Body, render: &mut impl FnMut(&Template) -> String) -> StepCommand {
    match body {
        Body::Run(t) => StepCommand::Inline(render(t)),
        Body::Script { path, args } => StepCommand::Script {
            path: path.clone(),
            args: args
                .iter()
                .flat_map(|arg| {
                    let value = render(&arg.value);
                    match &arg.option {
                        None => vec![value],
                        // `{ option, value }`: both words, or neither for an empty value.
                        Some(_) if value.is_empty() => Vec::new(),
                        Some(option) => vec![option.clone(), value],
                    }
                })
                .collect(),
        },
        Body::Action(action) => StepCommand::Action {
            reference: action.reference.clone(),
            builtin: action.builtin.clone(),
            with: action
                .with
                .iter()
                .map(|(k, t)| (k.clone(), render(t)))
                .collect(),
        },
        // Neither has a command of its own: steps are listed separately, and a `uses` job
        // has no nodes.
        Body::Steps(_) | Body::Uses(_) => StepCommand::Inline(String::new()),
    }
}

pub(super) struct StepWork {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) command: StepCommand,
    pub(super) env: Vec<(String, String)>,
    pub(super) condition: Option<Expr>,
    pub(super) continue_on_error: bool,
    /// The step's own, where it says (else the job's): interpreter, folder, time limit.
    pub(super) shell: Option<Shell>,
    pub(super) cwd: Option<PathBuf>,
    pub(super) timeout: Option<std::time::Duration>,
    /// `continue-on-error` and `timeout-minutes` as expressions, rendered when the step
    /// is reached (in place of the two above).
    pub(super) continue_on_error_expr: Option<Template>,
    pub(super) timeout_minutes: Option<Template>,
    /// A step whose text reads `steps`: rendered again when it runs, after the steps
    /// before it (its key has the templates and what else they read).
    pub(super) late: Option<crate::compile::graph::CompiledStep>,
}

impl StepWork {
    /// What a step adds to its text in the key: only what it sets, so the keys of steps
    /// that set none stay what they were.
    pub(super) fn key_settings(&self, workspace: &std::path::Path) -> String {
        let mut text = String::new();
        if let Some(shell) = &self.shell {
            text.push_str(&format!(" shell {}", shell.name()));
        }
        if let Some(cwd) = &self.cwd {
            let relative = cwd.strip_prefix(workspace).unwrap_or(cwd);
            text.push_str(&format!(" in {}", relative.display()));
        }
        if let Some(timeout) = self.timeout {
            text.push_str(&format!(" timeout {}ms", timeout.as_millis()));
        }
        if let Some(flag) = &self.continue_on_error_expr {
            text.push_str(&format!(" continue-on-error {}", flag.source()));
        }
        if let Some(minutes) = &self.timeout_minutes {
            text.push_str(&format!(" timeout-minutes {}", minutes.source()));
        }
        text
    }
}

/// The stat cache and the input digests a key was made of.
pub(super) type KeyInputs = (
    Arc<std::sync::Mutex<crate::cache::stat_cache::StatCache>>,
    Arc<BTreeMap<String, Digest>>,
);

pub(super) struct NodeWork {
    pub(super) steps: Vec<StepWork>,
    pub(super) env: Vec<(String, String)>,
    pub(super) cwd: PathBuf,
    pub(super) shell: Shell,
    pub(super) workspace: PathBuf,
    pub(super) timeout: Option<Duration>,
    pub(super) retries: u32,
    pub(super) log_path: PathBuf,
    pub(super) scratch: PathBuf,
    pub(super) render_problems: Vec<String>,
    pub(super) scope: NodeScope,
    pub(super) secrets: Secrets,
    pub(super) key: Option<Digest>,
    pub(super) why: Option<String>,
    /// Declared outputs, relative to the workspace.
    pub(super) outputs: Vec<String>,
    pub(super) inputs: Option<Vec<String>>,
    pub(super) backend: Option<Arc<dyn Backend>>,
    /// Record the result under the key after a success.
    pub(super) store: bool,
    /// The input digests the key was made of, checked again before the result is stored.
    pub(super) key_inputs: Option<KeyInputs>,
    /// Stored beside the result: which host produced it.
    pub(super) host_note: Option<HostNote>,
    /// A workflow job's `outputs:` map, rendered over `steps` after they ran.
    pub(super) output_map: Vec<(String, Template)>,
    /// The run's artifacts folder, and the artifacts (name, patterns) `artifacts:` keeps
    /// after a success.
    pub(super) artifacts_dir: PathBuf,
    pub(super) artifacts: Vec<(String, Vec<String>)>,
    /// The jobs it needs, directly or not: whose artifacts it may fetch.
    pub(super) needed_jobs: Arc<[String]>,
    /// Where its steps run when not here (`--remote-exec`), and why it runs here when
    /// remote execution is on but the node cannot go.
    pub(super) elsewhere: Option<super::elsewhere::Elsewhere>,
    pub(super) runs_here_because: Option<String>,
    /// A step that was to run elsewhere ran here: its key says elsewhere, so the result
    /// is not recorded.
    pub(super) fell_back: std::sync::atomic::AtomicBool,
}

impl State<'_> {
    /// Everything a node's key needs, resolved now (expressions see the needs' results);
    /// what only running needs is added by [`State::for_running`].
    pub(super) fn prepare(&self, node: usize) -> NodeWork {
        let spec = &self.graph.nodes[node];
        let job = &self.graph.jobs[spec.job];
        let mut scope = self.scope(node, Some(true));
        // The env of the node's own playbook (a used playbook does not inherit its caller's).
        let mut base_env: Vec<(String, String)> = scope
            .env
            .iter()
            .map(|(k, v)| (k.clone(), expr::json_text(v)))
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
        let artifacts = job
            .artifacts
            .iter()
            .map(|(name, patterns)| {
                let name = name
                    .as_ref()
                    .map_or_else(|| spec.id.replace('/', "-"), &mut render);
                (name, patterns.iter().map(&mut render).collect())
            })
            .collect();
        let rendered_cwd = job.working_directory.as_ref().map(|t| {
            let rendered = inside_workspace(&self.options.workspace, render(t));
            let relative = self.graph.origins[job.origin].base_dir.join(rendered);
            (t.is_literal(), relative.to_string_lossy().into_owned())
        });
        let cwd = match &rendered_cwd {
            Some((_, relative)) => self.options.workspace.join(relative),
            None => self.options.workspace.clone(),
        };
        let base_dir = &self.graph.origins[job.origin].base_dir;
        let mut step_dirs: Vec<(bool, String)> = Vec::new();
        let steps = match &job.body {
            Body::Steps(steps) => steps
                .iter()
                .map(|s| {
                    // A step that reads `steps` is rendered only when it runs: rendered now,
                    // without them, an expression like `fromJSON(steps.a.outputs.j)` fails.
                    let late = s.renders_late();
                    let mut now = |t: &Template| if late { String::new() } else { render(t) };
                    let command = command(&s.body, &mut now);
                    let env = s.env.iter().map(|(k, t)| (k.clone(), now(t))).collect();
                    StepWork {
                        id: s.id.clone(),
                        name: s.name.as_ref().map(&mut render),
                        command,
                        env,
                        condition: s.condition.clone(),
                        continue_on_error: s.continue_on_error,
                        shell: s.shell.clone(),
                        cwd: s.working_directory.as_ref().map(|t| {
                            let rendered = inside_workspace(&self.options.workspace, render(t));
                            let relative = base_dir.join(rendered).to_string_lossy().into_owned();
                            let cwd = self.options.workspace.join(&relative);
                            step_dirs.push((t.is_literal(), relative));
                            cwd
                        }),
                        timeout: s.timeout,
                        continue_on_error_expr: s.continue_on_error_expr.clone(),
                        timeout_minutes: s.timeout_minutes.clone(),
                        late: late.then(|| s.clone()),
                    }
                })
                .collect(),
            body => vec![StepWork {
                id: None,
                name: None,
                command: command(body, &mut render),
                env: Vec::new(),
                condition: None,
                continue_on_error: false,
                shell: None,
                cwd: None,
                timeout: None,
                continue_on_error_expr: None,
                timeout_minutes: None,
                late: None,
            }],
        };
        // Rendered paths pass the checks literal ones passed at load time, now.
        {
            let workspace = &self.options.workspace;
            let mut checked = self.path_checks.borrow_mut();
            // Folders found real are trusted again only while no node runs or ran since.
            checked.at_epoch((self.running == 0).then(|| self.stat_epoch()));
            let mut check = |what: &str, literal: bool, path: &str, folder: bool| {
                if !literal
                    && let Some(why) =
                        crate::files::paths::path_refusal(workspace, path, folder, &mut checked)
                {
                    problems.push(format!("{what} {why}"));
                }
            };
            for (literal, relative) in rendered_cwd.iter().chain(&step_dirs) {
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
        // A rendered value may make a glob that does not compile (`out/[`): the node
        // fails rather than keying on fewer files.
        let rendered = job
            .outputs
            .iter()
            .zip(&outputs)
            .chain(job.inputs.iter().flatten().zip(inputs.iter().flatten()));
        for (template, pattern) in rendered {
            if !template.is_literal()
                && let Err(e) = crate::files::glob::check(pattern)
            {
                problems.push(e.to_string());
            }
        }
        let timeout = match &job.timeout_minutes {
            None => job.timeout,
            Some(template) => render_minutes(template, &scope)
                .map_err(|why| problems.push(why))
                .ok(),
        };
        NodeWork {
            steps,
            env: base_env,
            cwd,
            shell: job.shell.clone(),
            workspace: self.options.workspace.clone(),
            timeout,
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
            output_map: job.output_map.clone(),
            artifacts_dir: self.options.artifacts_dir.clone(),
            artifacts,
            needed_jobs: Arc::from([]),
            elsewhere: None,
            runs_here_because: None,
            fell_back: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The ids of every job a job needs, directly or through other needs: built once a
    /// job, shared by its nodes.
    fn all_need_ids(&self, job: usize) -> Arc<[String]> {
        self.all_need_ids.borrow_mut()[job]
            .get_or_insert_with(|| {
                self.all_needs.get_or_init(|| self.graph.transitive_needs())[job]
                    .iter()
                    .map(|&n| self.graph.jobs[n].id.clone())
                    .collect()
            })
            .clone()
    }

    /// What only a node that runs needs: `ORCH_*` (first, as the spec lists them), its
    /// log and scratch paths, the secrets to mask. A cached node never pays for these.
    pub(super) fn for_running(&self, node: usize, work: &mut NodeWork) {
        let spec = &self.graph.nodes[node];
        work.needed_jobs = self.all_need_ids(spec.job);
        let job = &self.graph.jobs[spec.job];
        let mut env: Vec<(String, String)> = vec![
            (
                "ORCH_WORKSPACE".into(),
                self.options.workspace.display().to_string(),
            ),
            ("ORCH_RUN_ID".into(), self.options.run_id.clone()),
            (
                "ORCH_ARTIFACTS".into(),
                self.options.artifacts_dir.display().to_string(),
            ),
            ("ORCH_JOB".into(), job.id.clone()),
            ("ORCH_NODE".into(), spec.id.clone()),
        ];
        for (axis, value) in &spec.matrix {
            env.push((
                format!("ORCH_MATRIX_{}", axis.to_uppercase().replace('-', "_")),
                value.to_string(),
            ));
        }
        let safe = crate::report::runs::node_file_name(self.graph, node);
        work.scratch = self.options.scratch_dir.join(&safe);
        if let Some(Value::Object(github)) = work.scope.context("github") {
            // RUNNER_TEMP is the node's scratch folder, removed when the node ends.
            let _ = std::fs::create_dir_all(&work.scratch);
            env.extend(crate::exec::github::WorkflowRun::env(
                &github,
                &work.scratch,
            ));
        }
        env.append(&mut work.env);
        work.env = env;
        work.log_path = self.options.log_dir.join(format!("{safe}.log"));
        work.secrets = self.secrets.clone();
        if let Some(offload) = &self.options.offload {
            match self.placement(node, work) {
                super::elsewhere::Placement::Here(why) => work.runs_here_because = why,
                super::elsewhere::Placement::There(platform) => {
                    let pinned = matches!(
                        &job.remote,
                        crate::load::model::RemotePolicy::Wanted(p) if !p.is_empty()
                    );
                    work.elsewhere = Some(super::elsewhere::Elsewhere {
                        offload: offload.clone(),
                        need_outputs: self.need_outputs(spec.job),
                        others: self.others_outputs(spec.job),
                        platform,
                        pinned,
                    })
                }
            }
        }
    }

    /// The rendered output patterns of every node of the jobs `job` needs, directly or
    /// not: what a node run elsewhere finds of them in its input root.
    fn need_outputs(&self, job: usize) -> Vec<String> {
        let needs = self.all_needs.get_or_init(|| self.graph.transitive_needs());
        let mut patterns = Vec::new();
        for (node, spec) in self.graph.nodes.iter().enumerate() {
            if needs[job].contains(&spec.job) {
                patterns.extend(
                    self.prepare(node)
                        .outputs
                        .into_iter()
                        .filter(|p| !p.starts_with('!')),
                );
            }
        }
        patterns.sort();
        patterns.dedup();
        patterns
    }
}

/// `timeout-minutes` written as an expression, rendered: a positive number of minutes.
pub(super) fn render_minutes(template: &Template, scope: &impl Scope) -> Result<Duration, String> {
    match template.render(scope).map(|t| t.trim().parse::<f64>()) {
        Ok(Ok(minutes)) if minutes.is_finite() && minutes > 0.0 => {
            Ok(Duration::from_secs_f64(minutes * 60.0))
        }
        Ok(_) => Err("timeout-minutes is not a number of minutes".to_owned()),
        Err(e) => Err(format!(
            "an expression failed: timeout-minutes: {}",
            e.message
        )),
    }
}

/// `continue-on-error` written as an expression, rendered: `true` or `false` (empty,
/// as an unset matrix key reads, is `false`).
pub(super) fn render_flag(template: &Template, scope: &impl Scope) -> Result<bool, String> {
    let text = template
        .render(scope)
        .map_err(|e| format!("an expression failed: {}", e.message))?;
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") => Ok(true),
        t if t.is_empty() || t.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(format!("`{other}` is neither true nor false")),
    }
}
