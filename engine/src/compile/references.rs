//! Expressions checked where they are written: each context reference against what
//! that place may see (its matrix axes, its needs, vars, secrets, inputs), with
//! suggestions, pointing at the column inside `${{ }}`.

use std::collections::BTreeSet;

use crate::compile::expr::{self, Expr, Template};
use crate::load::diag::{Problem, Sp, Span, did_you_mean};

use super::compiler::Compiler;

pub(super) const CONTEXTS: &[&str] = &[
    "vars", "env", "secrets", "matrix", "inputs", "needs", "orch",
];

pub(super) const ORCH_FIELDS: &[&str] = &["run_id", "workspace", "os", "arch", "job", "node"];

/// The contexts a GitHub Actions workflow sees besides orch's, with their fields (`None`:
/// any field, as `github.event` holds the event's whole payload).
pub(super) const WORKFLOW_CONTEXTS: &[(&str, Option<&[&str]>)] = &[
    ("github", None),
    (
        "runner",
        Some(&[
            "os",
            "arch",
            "name",
            "temp",
            "tool_cache",
            "environment",
            "debug",
        ]),
    ),
    (
        "job",
        Some(&["status", "container", "services", "check_run_id"]),
    ),
    (
        "strategy",
        Some(&["fail-fast", "job-index", "job-total", "max-parallel"]),
    ),
];

/// What expressions in one place may refer to.
pub(super) struct Allowed<'a> {
    /// Job ids for `jobs.<id>` (a reusable playbook's outputs).
    pub(super) jobs: Option<&'a [String]>,
    pub(super) matrix: Option<&'a [String]>,
    pub(super) needs: Option<&'a [Sp<String>]>,
    pub(super) job: Option<&'a str>,
    /// The ids of the steps before, for `steps.<id>` in a step's `if`; `None` elsewhere.
    pub(super) steps: Option<&'a [String]>,
}

impl<'p> Compiler<'p> {
    pub(super) fn env_templates(
        &mut self,
        env: &[(String, Sp<String>)],
        allowed: Option<&Allowed>,
    ) -> Vec<(String, Template)> {
        let top = Allowed {
            jobs: None,
            matrix: None,
            needs: None,
            job: None,
            steps: None,
        };
        let allowed = allowed.unwrap_or(&top);
        env.iter()
            .filter_map(|(k, v)| Some((k.clone(), self.template(v, allowed)?)))
            .collect()
    }

    pub(super) fn template(&mut self, text: &Sp<String>, allowed: &Allowed) -> Option<Template> {
        match Template::parse(&text.value) {
            Ok(template) => {
                for (e, at) in template.exprs() {
                    self.check_refs(e, text, at, allowed);
                }
                Some(template)
            }
            Err(e) => {
                let span = self.locate(text, e.at);
                self.problems.push(
                    Problem::at(self.source, span, format!("bad expression: {}", e.message))
                        .with_label("here"),
                );
                None
            }
        }
    }

    pub(super) fn condition(&mut self, text: &Sp<String>, allowed: &Allowed) -> Option<Expr> {
        match expr::parse_condition(&text.value) {
            Ok(e) => {
                self.check_refs(&e, text, 0, allowed);
                Some(e)
            }
            Err(e) => {
                let span = self.locate(text, e.at);
                self.problems.push(
                    Problem::at(
                        self.source,
                        span,
                        format!("bad expression in `if`: {}", e.message),
                    )
                    .with_label("here"),
                );
                None
            }
        }
    }

    /// Load-time checks of context references: unknown contexts, axes, vars, needs.
    pub(super) fn check_refs(
        &mut self,
        e: &Expr,
        text: &Sp<String>,
        base: usize,
        allowed: &Allowed,
    ) {
        let mut found: Vec<(Vec<String>, usize)> = Vec::new();
        expr::visit(e, &mut |sub| {
            if let Expr::Context { .. } = sub {
                // Only whole paths are interesting; collected from their outermost node below.
            }
            if let Some((path, at)) = expr::path_of(sub) {
                found.push((path.into_iter().map(str::to_owned).collect(), at));
            }
        });
        // Keep the longest path for each start position (visit yields every prefix).
        let mut longest: Vec<(Vec<String>, usize)> = Vec::new();
        for (path, at) in found {
            match longest.iter_mut().find(|(_, a)| *a == at) {
                Some(existing) if existing.0.len() < path.len() => *existing = (path, at),
                Some(_) => {}
                None => longest.push((path, at)),
            }
        }
        let mut seen = BTreeSet::new();
        for (path, at) in longest {
            if !seen.insert((path.clone(), at)) {
                continue;
            }
            let span = self.locate(text, base + at);
            if let Some((message, help)) = self.check_path(&path, allowed) {
                let mut problem = Problem::at(self.source, span, message).with_label("here");
                problem.help = help;
                self.problems.push(problem);
            }
        }
    }

    pub(super) fn check_path(
        &self,
        path: &[String],
        allowed: &Allowed,
    ) -> Option<(String, Option<String>)> {
        let root = path[0].as_str();
        let field = path.get(1).map(String::as_str);
        // An action's `action.yml` is written in the workflow dialect.
        let workflow = self.playbook.workflow.is_some() || self.playbook.action.is_some();
        if workflow && let Some((_, fields)) = WORKFLOW_CONTEXTS.iter().find(|(c, _)| *c == root) {
            let (field, fields) = (field?, (*fields)?);
            return (!fields.contains(&field)).then(|| {
                (
                    format!("unknown field `{root}.{field}`"),
                    did_you_mean(field, fields.iter().copied()),
                )
            });
        }
        match root {
            // A workflow's vars are the repository's: one not given reads as empty.
            "vars" if workflow => None,
            "vars" => {
                let field = field?;
                (!self.playbook.vars.contains_key(field)).then(|| {
                    (
                        format!("unknown var `{field}`"),
                        did_you_mean(field, self.playbook.vars.keys().map(String::as_str)),
                    )
                })
            }
            "matrix" => {
                let field = field?;
                match allowed.matrix {
                    None => Some(("`matrix` is only available inside a job".into(), None)),
                    // GitHub reads a key no combination has (or a job without a matrix) as empty.
                    Some(_) if workflow => None,
                    Some([]) => Some((
                        format!("job `{}` has no matrix", allowed.job.unwrap_or("?")),
                        None,
                    )),
                    Some(axes) => (!axes.iter().any(|a| a == field)).then(|| {
                        (
                            format!("unknown matrix axis `{field}`"),
                            did_you_mean(field, axes.iter().map(String::as_str)),
                        )
                    }),
                }
            }
            "needs" => {
                let field = field?;
                match allowed.needs {
                    None => Some(("`needs` is only available inside a job".into(), None)),
                    Some(needs) => (!needs.iter().any(|n| n.value == field)).then(|| {
                        (
                            format!(
                                "`needs.{field}`: job `{}` does not need `{field}`",
                                allowed.job.unwrap_or("?")
                            ),
                            // Only needs that are jobs: a misspelt need is its own problem,
                            // and suggesting it for the right name would send a user astray.
                            did_you_mean(
                                field,
                                needs
                                    .iter()
                                    .map(|n| n.value.as_str())
                                    .filter(|n| self.playbook.jobs.contains_key(*n)),
                            )
                            .or_else(|| Some(format!("add `{field}` to the job's `needs`"))),
                        )
                    }),
                }
            }
            "secrets" => {
                let field = field?;
                (!self.playbook.secrets.iter().any(|s| s.value == field)).then(|| {
                    (
                        format!("unknown secret `{field}`"),
                        did_you_mean(
                            field,
                            self.playbook.secrets.iter().map(|s| s.value.as_str()),
                        )
                        .or_else(|| {
                            Some(
                                "declare it under `secrets:` to read it from the environment"
                                    .to_owned(),
                            )
                        }),
                    )
                })
            }
            "orch" => {
                let field = field?;
                (!ORCH_FIELDS.contains(&field)).then(|| {
                    (
                        format!("unknown field `orch.{field}`"),
                        did_you_mean(field, ORCH_FIELDS.iter().copied()),
                    )
                })
            }
            "inputs" => {
                let field = field?;
                match self.inputs {
                    None => Some(("`inputs` exist only in a reusable playbook".into(), None)),
                    Some(inputs) => (!inputs.contains_key(field)).then(|| {
                        (
                            format!("unknown input `{field}`"),
                            did_you_mean(field, inputs.keys().map(String::as_str))
                                .or_else(|| Some("declare it under `inputs:`".to_owned())),
                        )
                    }),
                }
            }
            "jobs" => {
                let field = field?;
                match allowed.jobs {
                    None => Some((
                        "`jobs` is only available in a reusable playbook's `outputs`".into(),
                        None,
                    )),
                    Some(jobs) => (!jobs.iter().any(|j| j == field)).then(|| {
                        (
                            format!("unknown job `{field}`"),
                            did_you_mean(field, jobs.iter().map(String::as_str)),
                        )
                    }),
                }
            }
            "steps" => {
                let field = field?;
                match allowed.steps {
                    None => Some((
                        "`steps` is only available inside a job's steps".into(),
                        Some("a step reads the steps before it; the job's results are `needs.<job>.outputs` in the jobs after it".into()),
                    )),
                    Some(before) => (!before.iter().any(|s| s == field)).then(|| {
                        (
                            format!("no step before this one has the id `{field}`"),
                            did_you_mean(field, before.iter().map(String::as_str))
                                .or_else(|| Some(format!("give a step before it `id: {field}`"))),
                        )
                    }),
                }
            }
            "env" => None,
            other => Some((
                format!("unknown context `{other}`"),
                if other == "github" || other == "runner" {
                    Some(
                        "orch's own context is `orch` (run_id, workspace, os, arch, job, node); \
                         for git facts, ask git in the job (`git rev-parse HEAD`)"
                            .to_owned(),
                    )
                } else {
                    did_you_mean(other, CONTEXTS.iter().copied())
                },
            )),
        }
    }

    /// The place in the file of byte `at` of a string value (best effort for block scalars).
    pub(super) fn locate(&self, text: &Sp<String>, at: usize) -> Span {
        let value = &text.value;
        let at = at.min(value.len());
        let line_start = value[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = value[at..].find('\n').map_or(value.len(), |i| at + i);
        let line = &value[line_start..line_end];
        let haystack = self.source.text.get(text.span.offset..).unwrap_or("");
        match haystack.find(line) {
            Some(found) if !line.is_empty() => {
                Span::new(text.span.offset + found + (at - line_start), 1)
            }
            _ => Span::new(text.span.offset, text.span.len.max(1)),
        }
    }
}
