//! What a node's expressions see: the contexts of its playbook, its needs and its
//! matrix leg.

use crate::files::hash::HashFilesError;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::scheduler::{RunOptions, State};
use crate::compile::expr::{self, Scope};
use crate::compile::graph::{Body, Graph};

#[derive(Debug, Clone, Default)]
/// What a node's expressions see. The parts every node of a playbook shares (vars,
/// secrets, env, `orch` but its job and node) are shared, not copied per node.
pub(super) struct NodeScope {
    pub(super) vars: Arc<Map<String, Value>>,
    pub(super) matrix: Map<String, Value>,
    pub(super) needs: Map<String, Value>,
    pub(super) env: Arc<Map<String, Value>>,
    pub(super) secrets: Arc<Map<String, Value>>,
    /// `orch` without `job` and `node`.
    pub(super) orch: Arc<Map<String, Value>>,
    pub(super) job: String,
    pub(super) node: String,
    pub(super) success: bool,
    pub(super) failure: bool,
    pub(super) cancelled: bool,
    pub(super) workspace: Arc<PathBuf>,
    pub(super) inputs: Map<String, Value>,
    /// `jobs.<id>` in a reusable playbook's outputs.
    pub(super) jobs: Map<String, Value>,
    /// `steps.<id>`: `outcome`, `conclusion` and `outputs` of the steps that ran before,
    /// filled in as a node's steps run.
    pub(super) steps: Map<String, Value>,
    /// The folder of the playbook whose expressions this scope serves (relative to the
    /// workspace): `hashFiles` patterns start there.
    pub(super) base_dir: PathBuf,
    /// A workflow's `github` (without `job`) and `runner` contexts; empty for a playbook.
    pub(super) workflow: Arc<Map<String, Value>>,
    /// A workflow node's `strategy` context (its leg among the job's nodes).
    pub(super) strategy: Map<String, Value>,
    /// What failed to render while this scope was built (a playbook's `env`, a caller's
    /// `with`): every node in it fails with these, as with its own expressions.
    pub(super) problems: Vec<String>,
}

impl Scope for NodeScope {
    fn context(&self, name: &str) -> Option<Value> {
        Some(match name {
            "vars" => Value::Object((*self.vars).clone()),
            "matrix" => Value::Object(self.matrix.clone()),
            "needs" => Value::Object(self.needs.clone()),
            "env" => Value::Object((*self.env).clone()),
            "secrets" => Value::Object((*self.secrets).clone()),
            "orch" => {
                let mut orch = (*self.orch).clone();
                orch.insert("job".into(), Value::String(self.job.clone()));
                orch.insert("node".into(), Value::String(self.node.clone()));
                Value::Object(orch)
            }
            "inputs" => Value::Object(self.inputs.clone()),
            "jobs" => Value::Object(self.jobs.clone()),
            "steps" => Value::Object(self.steps.clone()),
            "github" | "runner" | "strategy" | "job" if self.workflow.is_empty() => return None,
            "github" => {
                let mut github = self.workflow.get("github")?.clone();
                if let Value::Object(map) = &mut github {
                    map.insert("job".into(), Value::String(self.job.clone()));
                }
                github
            }
            "runner" => self.workflow.get("runner")?.clone(),
            "strategy" => Value::Object(self.strategy.clone()),
            "job" => serde_json::json!({
                "status": if self.cancelled { "cancelled" } else if self.failure { "failure" } else { "success" },
                "container": {},
                "services": {},
            }),
            _ => return None,
        })
    }

    fn context_property(&self, name: &str, property: &str) -> Option<Value> {
        let map = match name {
            "vars" => &self.vars,
            "matrix" => &self.matrix,
            "needs" => &self.needs,
            "env" => &self.env,
            "secrets" => &self.secrets,
            "orch" if property.eq_ignore_ascii_case("job") => {
                return Some(Value::String(self.job.clone()));
            }
            "orch" if property.eq_ignore_ascii_case("node") => {
                return Some(Value::String(self.node.clone()));
            }
            "orch" => &self.orch,
            "inputs" => &self.inputs,
            "jobs" => &self.jobs,
            "steps" => &self.steps,
            "strategy" if !self.workflow.is_empty() => &self.strategy,
            "github" | "runner" | "job" => {
                let Value::Object(context) = self.context(name)? else {
                    return None;
                };
                return Some(expr::map_property(&context, property));
            }
            _ => return None,
        };
        Some(expr::map_property(map, property))
    }

    /// Patterns are relative to the playbook the expression is written in.
    fn hash_files(&self, patterns: &[String]) -> Result<String, HashFilesError> {
        if self.base_dir.as_os_str().is_empty() {
            return crate::files::hash::hash_files(&self.workspace, patterns);
        }
        let base = self.base_dir.display();
        let patterns: Vec<String> = patterns
            .iter()
            .map(|p| match p.strip_prefix('!') {
                Some(rest) => format!("!{base}/{}", rest.strip_prefix("./").unwrap_or(rest)),
                None => format!("{base}/{}", p.strip_prefix("./").unwrap_or(p)),
            })
            .collect();
        crate::files::hash::hash_files(&self.workspace, &patterns)
    }

    fn status(&self, function: &str) -> bool {
        match function {
            "always" => true,
            "success" => self.success,
            "failure" => self.failure,
            "cancelled" => self.cancelled,
            _ => false,
        }
    }
}

impl State<'_> {
    pub(super) fn scope(&self, node: usize, needs_ok: Option<bool>) -> NodeScope {
        let spec = &self.graph.nodes[node];
        let job = &self.graph.jobs[spec.job];
        let mut scope = self.origin_scope(job.origin);
        scope.matrix = spec
            .matrix
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        scope.needs = self.needs_context(&job.needs);
        render_matrix_expressions(&spec.matrix, &mut scope);
        scope.job.clone_from(&job.id);
        scope.node.clone_from(&spec.id);
        if !scope.workflow.is_empty() {
            let position = node - job.nodes.start;
            scope.strategy = [
                ("fail-fast", Value::Bool(job.fail_fast)),
                ("job-index", Value::from(position)),
                ("job-total", Value::from(job.nodes.len())),
                (
                    "max-parallel",
                    Value::from(job.max_parallel.unwrap_or(job.nodes.len())),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        }
        scope.success = needs_ok.unwrap_or(true) && self.cancel_level == 0;
        scope.failure =
            self.failure_upstream[spec.job] || job.needs.iter().any(|&n| self.job_failed(n));
        scope.cancelled = self.cancel_level > 0;
        scope
    }

    /// `needs.<job>` for every job of `needs` that has ended, by the ids written in `needs`.
    pub(super) fn needs_context(&self, needs: &[usize]) -> Map<String, Value> {
        needs
            .iter()
            .filter_map(|&n| {
                Some((
                    self.graph.jobs[n].local_id.clone(),
                    self.job_outcomes[n].as_ref()?.context.clone(),
                ))
            })
            .collect()
    }

    /// What the expressions of one playbook see before any node: its vars, inputs and env.
    pub(super) fn origin_scope(&self, origin: usize) -> NodeScope {
        if origin == 0 {
            return self.root_scope.clone();
        }
        let mut scope = self.base_scope.clone();
        let spec = &self.graph.origins[origin];
        scope.base_dir.clone_from(&spec.base_dir);
        scope.vars = Arc::new(
            spec.vars
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        );
        let (inputs, problems) = self.inputs_of(origin);
        scope.inputs = inputs;
        scope.problems = problems;
        for (k, t) in &spec.env {
            let value = t.render(&scope).unwrap_or_else(|e| {
                scope
                    .problems
                    .push(format!("an expression failed: env.{k}: {}", e.message));
                String::new()
            });
            Arc::make_mut(&mut scope.env).insert(k.clone(), Value::String(value));
        }
        scope
    }

    /// The root playbook's scope before any node: the base and its rendered `env`.
    pub(super) fn root_scope(&self) -> NodeScope {
        NodeScope {
            env: Arc::new(
                self.env_cache
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            ..self.base_scope.clone()
        }
    }

    /// A used playbook's `inputs`: the caller's `with`, rendered in the caller's scope,
    /// then the declared defaults; and what failed to render.
    pub(super) fn inputs_of(&self, origin: usize) -> (Map<String, Value>, Vec<String>) {
        let mut inputs = Map::new();
        let mut problems = Vec::new();
        let spec = &self.graph.origins[origin];
        if let Some(group) = spec.group
            && let Body::Uses(uses) = &self.graph.jobs[group].body
        {
            let mut caller = self.origin_scope(self.graph.jobs[group].origin);
            caller.needs = self.needs_context(&uses.caller_needs);
            caller.matrix = spec
                .matrix
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            render_matrix_expressions(&spec.matrix, &mut caller);
            problems.append(&mut caller.problems);
            for (k, t) in &uses.with {
                let value = t.render(&caller).unwrap_or_else(|e| {
                    problems.push(format!("an expression failed: with.{k}: {}", e.message));
                    String::new()
                });
                inputs.insert(k.clone(), Value::String(value));
            }
        }
        for (name, decl) in &spec.inputs {
            if !inputs.contains_key(name) {
                let default = decl.default.clone().map_or(Value::Null, Value::String);
                inputs.insert(name.clone(), default);
            }
        }
        (inputs, problems)
    }

    /// What every expression of the run sees: vars, secrets and `orch` without a node.
    pub(super) fn base_scope(graph: &Graph, options: &RunOptions) -> NodeScope {
        NodeScope {
            vars: Arc::new(
                graph.origins[0]
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            secrets: Arc::new(
                options
                    .secrets
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            orch: Arc::new(
                [
                    ("run_id", options.run_id.clone()),
                    ("workspace", options.workspace.display().to_string()),
                    ("os", std::env::consts::OS.to_owned()),
                    ("arch", std::env::consts::ARCH.to_owned()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect(),
            ),
            workspace: Arc::new(options.workspace.clone()),
            workflow: Arc::new(match &options.workflow {
                Some(run) => [
                    (
                        "github".to_owned(),
                        run.github(&options.workspace, &options.run_id, ""),
                    ),
                    (
                        "runner".to_owned(),
                        crate::exec::github::WorkflowRun::runner(&options.scratch_dir),
                    ),
                ]
                .into_iter()
                .collect(),
                None => Map::new(),
            }),
            inputs: match &options.workflow {
                Some(run) => graph.origins[0]
                    .inputs
                    .iter()
                    .map(|(name, decl)| {
                        let given = run.inputs.iter().rev().find(|(k, _)| k == name);
                        let value = given
                            .map(|(_, v)| Value::String(v.clone()))
                            .or_else(|| decl.default.clone().map(Value::String))
                            .unwrap_or(Value::Null);
                        (name.clone(), value)
                    })
                    .collect(),
                None => Map::new(),
            },
            ..NodeScope::default()
        }
    }

    /// The playbook's `env`, rendered once per run, and what failed to render.
    pub(super) fn render_top_env(&self) -> (Vec<(String, String)>, Vec<String>) {
        let mut problems = Vec::new();
        let env = self.graph.origins[0]
            .env
            .iter()
            .map(|(k, t)| {
                let value = t.render(&self.base_scope).unwrap_or_else(|e| {
                    problems.push(format!("an expression failed: env.{k}: {}", e.message));
                    String::new()
                });
                (k.clone(), value)
            })
            .collect();
        (env, problems)
    }
}

/// A workflow's matrix value may be an expression (`${{ needs.x.outputs.v }}`): GitHub
/// renders it when the job starts, over its needs, as here (the node's id keeps the
/// text). What fails to render fails the node, as its other expressions.
fn render_matrix_expressions(matrix: &crate::load::model::Combination, scope: &mut NodeScope) {
    if scope.workflow.is_empty() {
        return;
    }
    for (axis, value) in matrix {
        let crate::load::model::Scalar::Str(text) = value else {
            continue;
        };
        if !text.contains("${{") {
            continue;
        }
        let rendered = expr::Template::parse(text)
            .map_err(|e| e.message)
            .and_then(|t| t.render(&*scope).map_err(|e| e.message));
        match rendered {
            Ok(value) => {
                scope.matrix.insert(axis.clone(), Value::String(value));
            }
            Err(why) => scope
                .problems
                .push(format!("an expression failed: matrix.{axis}: {why}")),
        }
    }
}
