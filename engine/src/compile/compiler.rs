//! One playbook's jobs compiled: matrices expanded into nodes, bodies, paths checked
//! against the workspace, a `uses` job's file and `with` checked against its inputs.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compile::expr::{self, Template};
use crate::compile::matrix;
use crate::files::paths::normalize;
use crate::load::diag::{Problem, SourceFile, Sp, did_you_mean};
use indexmap::IndexMap;

use super::build::{Resolve, UsesTarget};
use super::graph::*;
use super::references::Allowed;
use crate::load::model::{Combination, Command, InputDecl, Job, Playbook, Scalar, Shell};

pub(super) struct Compiler<'p> {
    pub(super) source: &'p SourceFile,
    pub(super) playbook: &'p Playbook,
    pub(super) problems: &'p mut Vec<Problem>,
    /// The playbook's folder, relative to the workspace.
    pub(super) base_dir: PathBuf,
    /// A used playbook's declared inputs (None for the root playbook).
    pub(super) inputs: Option<&'p IndexMap<String, InputDecl>>,
}

impl<'p> Compiler<'p> {
    pub(super) fn new(
        playbook: &'p Playbook,
        base_dir: PathBuf,
        problems: &'p mut Vec<Problem>,
        inputs: Option<&'p IndexMap<String, InputDecl>>,
    ) -> Self {
        Self {
            source: &playbook.source,
            playbook,
            problems,
            base_dir,
            inputs,
        }
    }

    /// Checks and loads what a `uses` job names: the file (inside the workspace, not on the
    /// chain of files that led here) and `with` against the used playbook's inputs.
    pub(super) fn uses(
        &mut self,
        job: &Job,
        path: &Sp<String>,
        with: &[(String, Sp<String>)],
        compiled: &CompiledJob,
        chain: &[PathBuf],
        resolve: &mut Resolve,
    ) -> Option<(UsesTarget, Arc<Playbook>)> {
        let Some(resolved) = normalize(&self.base_dir.join(&path.value)) else {
            self.check_relative_path(path, "uses");
            return None;
        };
        if let Some(start) = chain.iter().position(|p| *p == resolved) {
            let mut names: Vec<String> = chain[start..]
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            names.push(resolved.display().to_string());
            let problem = Problem::at(
                self.source,
                path.span,
                format!("playbooks use each other in a cycle: {}", names.join(" → ")),
            )
            .with_label("uses")
            .with_help("a playbook cannot use itself, directly or through others");
            self.problems.push(problem);
            return None;
        }
        let inner = match resolve(&resolved) {
            Ok(inner) => inner,
            Err(e) => {
                // A file that cannot be read is this `uses`'s problem; a bad file reports itself.
                if e.problems.iter().all(|p| p.source.is_none()) {
                    for p in e.problems {
                        self.problems.push(
                            Problem::at(self.source, path.span, p.message).with_label("uses"),
                        );
                    }
                } else {
                    self.problems.extend(e.problems);
                }
                return None;
            }
        };
        let allowed = Allowed {
            jobs: None,
            matrix: Some(&compiled.axes),
            needs: Some(&job.needs),
            job: Some(&job.id.value),
            steps: None,
        };
        let mut rendered = Vec::new();
        for (name, value) in with {
            if !inner.inputs.contains_key(name) {
                let span = value.span;
                let mut problem = Problem::at(
                    self.source,
                    span,
                    format!("`{}` has no input `{name}`", resolved.display()),
                )
                .with_label("unknown input");
                problem.help = did_you_mean(name, inner.inputs.keys().map(String::as_str));
                self.problems.push(problem);
                continue;
            }
            if let Some(t) = self.template(value, &allowed) {
                rendered.push((name.clone(), t));
            }
        }
        for (name, input) in &inner.inputs {
            if input.required && input.default.is_none() && !with.iter().any(|(k, _)| k == name) {
                let problem = Problem::at(
                    self.source,
                    path.span,
                    format!("`{}` requires input `{name}`", resolved.display()),
                )
                .with_label("missing input")
                .with_help(format!(
                    "add `with: {{ {name}: ... }}` to job `{}`",
                    compiled.local_id
                ));
                self.problems.push(problem);
            }
        }
        Some((
            UsesTarget {
                path: resolved,
                with: rendered,
            },
            inner,
        ))
    }

    /// A reusable playbook's `outputs`: expressions over its jobs' outputs.
    pub(super) fn outputs(
        &mut self,
        outputs: &[(String, Sp<String>)],
        job_ids: &[String],
    ) -> Vec<(String, Template)> {
        let allowed = Allowed {
            jobs: Some(job_ids),
            matrix: None,
            needs: None,
            job: None,
            steps: None,
        };
        outputs
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), self.template(v, &allowed)?)))
            .collect()
    }

    pub(super) fn vars(&mut self, overrides: &Overrides) -> Vec<(String, Scalar)> {
        let mut vars: Vec<(String, Scalar)> = self
            .playbook
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        for (name, value) in &overrides.vars {
            match vars.iter_mut().find(|(k, _)| k == name) {
                Some((_, v)) => *v = Scalar::Str(value.clone()),
                // A workflow's `vars` are the repository's, never declared in the file.
                None if self.playbook.workflow.is_some() => {
                    vars.push((name.clone(), Scalar::Str(value.clone())));
                }
                None => {
                    let mut problem = Problem::general(format!(
                        "--var {name}: the playbook declares no var `{name}`"
                    ));
                    problem.help =
                        did_you_mean(name, self.playbook.vars.keys().map(String::as_str)).or_else(
                            || {
                                Some(format!(
                                    "declare it under `vars:` in {}",
                                    self.source.path.display()
                                ))
                            },
                        );
                    self.problems.push(problem);
                }
            }
        }
        vars
    }

    /// A job's matrix combinations; `--matrix AXIS=…` replaces the values of an axis the
    /// job has (only the targeted jobs', when targets are named).
    pub(super) fn combinations(
        &mut self,
        job: &Job,
        overrides: &Overrides,
        prefix: &str,
    ) -> Vec<Combination> {
        let id = format!("{prefix}{}", job.id.value);
        let mut matrix = job.matrix.clone();
        if overrides.applies_to(&id)
            && let Some(m) = matrix.as_mut()
        {
            for (axis, values) in &overrides.matrix {
                if let Some((_, existing)) = m.axes.iter_mut().find(|(a, _)| &a.value == axis) {
                    *existing = values.iter().map(|v| Scalar::Str(v.clone())).collect();
                }
            }
        }
        let Some(matrix) = matrix else {
            return vec![Vec::new()];
        };
        match matrix::expand(&matrix) {
            Ok(combinations) => combinations,
            Err(too_large) => {
                let problem = Problem::at(
                    self.source,
                    matrix.span,
                    format!("job `{}`: {too_large}", job.id.value),
                )
                .with_label("this matrix")
                .with_help(
                    "split the job, or narrow its axes with `exclude` or `--matrix AXIS=V1,V2`",
                );
                self.problems.push(problem);
                Vec::new()
            }
        }
    }

    pub(super) fn job(
        &mut self,
        job: &Job,
        needs: Vec<usize>,
        nodes: Range<usize>,
        axes: Vec<String>,
    ) -> CompiledJob {
        let allowed = Allowed {
            jobs: None,
            matrix: Some(&axes),
            needs: Some(&job.needs),
            job: Some(&job.id.value),
            steps: None,
        };
        let defaults = &self.playbook.defaults;
        let condition = job
            .condition
            .as_ref()
            .and_then(|c| self.condition(c, &allowed));
        let condition_decides = condition.as_ref().is_some_and(expr::calls_status_function);
        let body = self.body(&job.command, &allowed);
        let env = self.env_templates(&job.env, Some(&allowed));
        let working_directory = job
            .working_directory
            .as_ref()
            .or(defaults.working_directory.as_ref());
        let mut paths: Vec<(&Sp<String>, &str)> = working_directory
            .map(|w| (w, "working-directory"))
            .into_iter()
            .collect();
        for pattern in job
            .inputs
            .iter()
            .flatten()
            .chain(defaults.inputs.iter().flatten())
        {
            paths.push((pattern, "input"));
        }
        paths.extend(job.outputs.iter().map(|o| (o, "output")));
        for (path, what) in paths {
            // A path computed by an expression is checked when it is known, at run time.
            if !path.value.contains("${{") {
                let literal = Sp::new(path.value.trim_start_matches('!').to_owned(), path.span);
                self.check_relative_path(&literal, what);
            }
        }
        let working_directory = working_directory.and_then(|w| self.template(w, &allowed));
        let name = job.name.as_ref().and_then(|n| self.template(n, &allowed));
        // Patterns may use expressions (`out/${{ matrix.os }}/`): rendered per node.
        let mut patterns = |list: &[Sp<String>]| -> Vec<Template> {
            list.iter()
                .filter_map(|p| {
                    let template =
                        self.template(&Sp::new(self.in_workspace(&p.value), p.span), &allowed)?;
                    // Expressions as `*`: what they render to is checked again at run time.
                    if let Err(e) = crate::files::glob::check(&template.as_glob()) {
                        self.problems.push(
                            Problem::at(self.source, p.span, format!("bad pattern `{}`", p.value))
                                .with_label(e.message)
                                .with_help("glob syntax: `*`, `**`, `?`, `[abc]`, `{a,b}`; `[` and `{` must close"),
                        );
                    }
                    Some(template)
                })
                .collect()
        };
        let inputs = job
            .inputs
            .as_ref()
            .or(defaults.inputs.as_ref())
            .map(|list| patterns(list));
        let outputs = patterns(&job.outputs);
        let runs_on = job
            .runs_on
            .iter()
            .filter_map(|label| self.template(label, &allowed))
            .collect();
        let artifacts = job
            .artifacts
            .iter()
            .map(|(name, patterns)| {
                let name = name.as_ref().and_then(|n| self.template(n, &allowed));
                let patterns = patterns
                    .iter()
                    .filter_map(|p| {
                        if !p.value.contains("${{") {
                            let literal =
                                Sp::new(p.value.trim_start_matches('!').to_owned(), p.span);
                            self.check_relative_path(&literal, "artifact");
                        }
                        self.template(&Sp::new(self.in_workspace(&p.value), p.span), &allowed)
                    })
                    .collect();
                (name, patterns)
            })
            .collect();
        let timeout_minutes = job
            .timeout_minutes
            .as_ref()
            .and_then(|t| self.template(t, &allowed));
        let output_map = {
            let step_ids: Vec<String> = match &job.command {
                Command::Steps(steps) => steps
                    .iter()
                    .filter_map(|s| s.id.as_ref().map(|id| id.value.clone()))
                    .collect(),
                _ => Vec::new(),
            };
            let allowed = Allowed {
                steps: Some(&step_ids),
                ..allowed
            };
            self.env_templates(&job.output_map, Some(&allowed))
        };
        // The playbook's default tools, then the job's own (each once).
        let tools = {
            let mut tools: Vec<String> = Vec::new();
            for tool in defaults.tools.iter().chain(&job.tools) {
                if !tools.contains(&tool.value) {
                    tools.push(tool.value.clone());
                }
            }
            // What a setup action stands for is keyed as a tool of the job.
            if let Body::Steps(steps) = &body {
                for step in steps {
                    if let Body::Action(ActionStep {
                        builtin: crate::compile::actions::Builtin::Tools(names),
                        ..
                    }) = &step.body
                    {
                        for name in names {
                            if !tools.contains(name) {
                                tools.push(name.clone());
                            }
                        }
                    }
                }
            }
            tools
        };
        CompiledJob {
            id: job.id.value.clone(),
            local_id: job.id.value.clone(),
            origin: 0,
            description: job.description.clone(),
            needs,
            dependents: Vec::new(),
            nodes,
            condition,
            condition_decides,
            body,
            shell: job
                .shell
                .clone()
                .or_else(|| defaults.shell.clone())
                .unwrap_or(Shell::Bash),
            env,
            working_directory,
            name,
            timeout: job.timeout.or(defaults.timeout),
            retries: job.retries.or(defaults.retries).unwrap_or(0),
            continue_on_error: job.continue_on_error,
            after: Vec::new(),
            continue_on_error_expr: job
                .continue_on_error_expr
                .as_ref()
                .and_then(|t| self.template(t, &allowed)),
            concurrency: job
                .concurrency
                .as_ref()
                .and_then(|t| self.template(t, &allowed)),
            fail_fast: job.strategy.fail_fast,
            max_parallel: job.strategy.max_parallel,
            cache: job.cache,
            remote: job.remote.clone(),
            inputs,
            outputs,
            env_inputs: job.env_inputs.iter().map(|e| e.value.clone()).collect(),
            tools,
            axes,
            runs_on,
            output_map,
            timeout_minutes,
            artifacts,
        }
    }

    pub(super) fn body(&mut self, command: &Command, allowed: &Allowed) -> Body {
        match command {
            Command::Run(text) => Body::Run(
                self.template(text, allowed)
                    .unwrap_or(Template { parts: Vec::new() }),
            ),
            Command::Script { path, args } => {
                self.check_relative_path(path, "script");
                let in_workspace = normalize(&self.base_dir.join(&path.value)).unwrap_or_default();
                Body::Script {
                    path: in_workspace.display().to_string(),
                    args: args
                        .iter()
                        .filter_map(|a| {
                            let value = self.template(&a.value, allowed)?;
                            Some(a.map(|_| value))
                        })
                        .collect(),
                }
            }
            Command::Steps(steps) => Body::Steps(
                steps
                    .iter()
                    .enumerate()
                    .map(|(index, step)| {
                        // A step runs when the steps before it have: its `if` and its text
                        // may read them.
                        let before: Vec<String> = steps[..index]
                            .iter()
                            .filter_map(|s| s.id.as_ref().map(|id| id.value.clone()))
                            .collect();
                        let allowed = &Allowed {
                            steps: Some(&before),
                            ..*allowed
                        };
                        CompiledStep {
                            id: step.id.as_ref().map(|id| id.value.clone()),
                            name: step.name.as_ref().and_then(|n| self.template(n, allowed)),
                            body: self.step_body(&step.command, allowed),
                            env: self.env_templates(&step.env, Some(allowed)),
                            condition: step
                                .condition
                                .as_ref()
                                .and_then(|c| self.condition(c, allowed)),
                            continue_on_error: step.continue_on_error,
                            shell: step.shell.clone(),
                            working_directory: step.working_directory.as_ref().and_then(|w| {
                                if !w.value.contains("${{") {
                                    self.check_relative_path(w, "working-directory");
                                }
                                self.template(w, allowed)
                            }),
                            timeout: step.timeout,
                            continue_on_error_expr: step
                                .continue_on_error_expr
                                .as_ref()
                                .and_then(|t| self.template(t, allowed)),
                            timeout_minutes: step
                                .timeout_minutes
                                .as_ref()
                                .and_then(|t| self.template(t, allowed)),
                        }
                    })
                    .collect(),
            ),
            // Filled in by `compile` once the used playbook is loaded.
            Command::Uses { .. } => Body::Run(Template { parts: Vec::new() }),
        }
    }

    /// A step's command: a `uses:` in a step names a GitHub action.
    fn step_body(&mut self, command: &Command, allowed: &Allowed) -> Body {
        let Command::Uses { path, with } = command else {
            return self.body(command, allowed);
        };
        let with_tool = with
            .iter()
            .find(|(k, _)| k == "tool")
            .map(|(_, v)| v.value.as_str());
        Body::Action(ActionStep {
            reference: path.value.clone(),
            builtin: crate::compile::actions::builtin(&path.value, with_tool),
            with: self.env_templates(with, Some(allowed)),
        })
    }

    /// A path or glob of this playbook as the workspace sees it (`!` kept in front).
    pub(super) fn in_workspace(&self, pattern: &str) -> String {
        let (bang, rest) = pattern
            .strip_prefix('!')
            .map_or(("", pattern), |r| ("!", r));
        let rest = rest.strip_prefix("./").unwrap_or(rest);
        if self.base_dir.as_os_str().is_empty() {
            return format!("{bang}{rest}");
        }
        format!("{bang}{}/{rest}", self.base_dir.display())
    }

    /// Relative paths must stay inside the workspace.
    pub(super) fn check_relative_path(&mut self, path: &Sp<String>, what: &str) {
        let p = Path::new(&path.value);
        let escapes = p.is_absolute() || normalize(&self.base_dir.join(p)).is_none();
        if escapes {
            let problem = Problem::at(
                self.source,
                path.span,
                format!("{what} `{}` is outside the workspace", path.value),
            )
            .with_label("outside the workspace")
            .with_help(
                "paths are relative to the folder that holds the playbook and must stay inside it",
            );
            self.problems.push(problem);
        }
    }
}
