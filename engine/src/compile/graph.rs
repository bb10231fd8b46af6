//! The sealed graph: jobs and their nodes, the playbooks they come from, and what the
//! later stages ask of it. Built by `build`.
//!
//! Edges are kept between jobs (petgraph), not between nodes: `needs: [test]` waits for
//! every node of `test`, so node-level edges would be a product of two matrices.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compile::expr::{Expr, Template};
use crate::load::diag::{LoadError, Problem};
use indexmap::IndexMap;

use crate::load::model::{Arg, Combination, InputDecl, Playbook, Scalar, Shell};

impl Overrides {
    /// Whether `--matrix` applies to the job `id`: every job without targets, else the
    /// jobs the targets name (by id or glob).
    pub(super) fn applies_to(&self, id: &str) -> bool {
        !self.matrix.is_empty()
            && (self.matrix_jobs.is_empty()
                || self.matrix_jobs.iter().any(|pattern| {
                    pattern == id
                        || globset::Glob::new(pattern)
                            .is_ok_and(|g| g.compile_matcher().is_match(id))
                }))
    }
}

/// Where a playbook's values come from besides the file: the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, serde::Serialize)]
pub struct Overrides {
    /// `--var NAME=VALUE`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// `--matrix AXIS=V1,V2`: applies to `matrix_jobs` (every job when empty).
    pub matrix: Vec<(String, Vec<String>)>,
    pub matrix_jobs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Graph {
    pub playbook: Arc<Playbook>,
    /// Where each job comes from: 0 is the playbook itself, then one per `uses`.
    pub origins: Vec<Origin>,
    /// Jobs in declaration order; the jobs of used playbooks come after their callers.
    pub jobs: Vec<CompiledJob>,
    /// Nodes grouped by job, in job order, then expansion order.
    pub nodes: Vec<NodeSpec>,
    /// Job indices in an order where every job comes after the jobs it needs.
    pub topo_order: Vec<usize>,
}

/// A playbook whose jobs are in the graph: the root one, or one reached through `uses`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    /// The playbook file, relative to the workspace.
    pub path: PathBuf,
    /// Its folder, relative to the workspace: its relative paths start here.
    pub base_dir: PathBuf,
    /// Var values (after `--var` for the root playbook).
    pub vars: Vec<(String, Scalar)>,
    pub env: Vec<(String, Template)>,
    pub inputs: IndexMap<String, InputDecl>,
    /// The `uses` job that brought it in.
    pub group: Option<usize>,
    /// The leg of the `uses` job's matrix this call is (its `with` sees it as `matrix`).
    pub matrix: Combination,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompiledJob {
    pub id: String,
    /// The id inside its own playbook (`build` for `setup/build`).
    pub local_id: String,
    pub origin: usize,
    pub description: Option<String>,
    pub needs: Vec<usize>,
    pub dependents: Vec<usize>,
    pub nodes: Range<usize>,
    pub condition: Option<Expr>,
    /// The `if` calls a status function, so it decides for itself whether failures matter.
    pub condition_decides: bool,
    pub body: Body,
    pub shell: Shell,
    pub env: Vec<(String, Template)>,
    pub working_directory: Option<Template>,
    pub name: Option<Template>,
    pub timeout: Option<std::time::Duration>,
    pub retries: u32,
    pub continue_on_error: bool,
    /// `continue-on-error` as an expression, rendered for a node that fails.
    pub continue_on_error_expr: Option<Template>,
    /// `after:`: jobs (not among `needs`) whose end this job waits for, order only.
    pub after: Vec<usize>,
    /// `concurrency`'s group, rendered per node: one node of a group runs at a time.
    pub concurrency: Option<Template>,
    pub fail_fast: bool,
    pub max_parallel: Option<usize>,
    pub cache: bool,
    pub remote: crate::load::model::RemotePolicy,
    /// Input patterns relative to the workspace (`None`: the default-inputs rule).
    pub inputs: Option<Vec<Template>>,
    /// Output paths and globs relative to the workspace.
    pub outputs: Vec<Template>,
    pub env_inputs: Vec<String>,
    /// Programs whose executable's content is part of the key (besides the interpreter).
    pub tools: Vec<String>,
    /// Matrix axes (and include keys) in id order; empty without a matrix.
    pub axes: Vec<String>,
    /// A workflow job's `runs-on` labels: a node whose labels do not name this host is
    /// skipped.
    pub runs_on: Vec<Template>,
    /// A workflow job's `outputs:` map, rendered over `steps` when its steps have run.
    pub output_map: Vec<(String, Template)>,
    /// `timeout-minutes` as an expression, rendered per node (in place of `timeout`).
    pub timeout_minutes: Option<Template>,
    /// `artifacts:`: name (`None`: the node's id) and patterns, rendered per node.
    pub artifacts: Vec<(Option<Template>, Vec<Template>)>,
}

impl CompiledStep {
    /// Its command and env templates (not its `if`, evaluated when it runs anyway).
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        let body: Vec<&Template> = match &self.body {
            Body::Run(t) => vec![t],
            Body::Script { args, .. } => args.iter().map(|a| &a.value).collect(),
            Body::Action(action) => action.with.iter().map(|(_, t)| t).collect(),
            Body::Steps(_) | Body::Uses(_) => Vec::new(),
        };
        body.into_iter().chain(self.env.iter().map(|(_, t)| t))
    }

    /// Whether its text reads `steps`: then it is rendered when it runs, after the steps
    /// before it.
    pub fn renders_late(&self) -> bool {
        self.templates().any(|t| t.reads_context("steps"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Body {
    Run(Template),
    Script {
        path: String,
        args: Vec<Arg<Template>>,
    },
    Steps(Vec<CompiledStep>),
    /// A reusable playbook: the job has no nodes and ends when its members end.
    Uses(Uses),
    /// A workflow step's `uses:` of a GitHub action, and what orch does in its place.
    Action(ActionStep),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActionStep {
    /// As written: `actions/checkout@v4`, `./.github/actions/x`.
    pub reference: String,
    pub with: Vec<(String, Template)>,
    pub builtin: crate::compile::actions::Builtin,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Uses {
    /// The used playbook, relative to the workspace.
    pub path: PathBuf,
    /// The used playbook's jobs at its top level.
    pub members: Vec<usize>,
    /// `with`, rendered in the caller's scope (its needs are `caller_needs`).
    pub with: Vec<(String, Template)>,
    pub caller_needs: Vec<usize>,
    /// The used playbook's `outputs`, over `jobs.<id>.outputs.<name>`.
    pub outputs: Vec<(String, Template)>,
    /// The origin of the used playbook.
    pub origin: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompiledStep {
    pub id: Option<String>,
    pub name: Option<Template>,
    pub body: Body,
    pub env: Vec<(String, Template)>,
    pub condition: Option<Expr>,
    pub continue_on_error: bool,
    /// In place of the job's: its interpreter, its folder (relative to the playbook's
    /// folder, as the job's), its time limit (within the job's).
    pub shell: Option<Shell>,
    pub working_directory: Option<Template>,
    pub timeout: Option<std::time::Duration>,
    /// A workflow step's `continue-on-error` and `timeout-minutes` as expressions,
    /// rendered when its node starts (in place of the fixed ones).
    pub continue_on_error_expr: Option<Template>,
    pub timeout_minutes: Option<Template>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeSpec {
    pub id: String,
    pub job: usize,
    pub matrix: Combination,
}

impl Graph {
    /// The checks that need the disk: a `script` or `working-directory` that resolves
    /// outside the workspace through a symbolic link is refused before anything runs.
    pub fn check_on_disk(&self, workspace: &Path) -> Result<(), LoadError> {
        let mut problems = Vec::new();
        // One set of checked folders for every path: nothing runs while they are read.
        let folders = std::cell::RefCell::new(crate::files::paths::CheckedFolders::new());
        let mut outside = Vec::new();
        let mut check = |job: &CompiledJob, what: &str, relative: &Path| {
            // A plain path (no `.` or `..`: `l/..` goes through `l` on disk) the folder
            // checks answer as inside needs no `canonicalize`.
            if let Some(plain) = relative.to_str()
                && crate::files::paths::is_plain_relative(plain)
                && folders.borrow_mut().is_inside(workspace, plain)
            {
                return;
            }
            if let Err(mut problem) =
                crate::files::paths::check_inside(workspace, &workspace.join(relative), relative)
            {
                problem.message = format!("job `{}`: {what} {}", job.id, problem.message);
                problems.push(problem);
            }
        };
        for job in &self.jobs {
            let mut scripts = Vec::new();
            match &job.body {
                Body::Script { path, .. } => scripts.push(path.clone()),
                Body::Steps(steps) => scripts.extend(steps.iter().filter_map(|s| match &s.body {
                    Body::Script { path, .. } => Some(path.clone()),
                    _ => None,
                })),
                _ => {}
            }
            for script in scripts {
                check(job, "script", Path::new(&script));
            }
            if let Some(dir) = job.working_directory.as_ref().filter(|t| t.is_literal()) {
                let relative = self.origins[job.origin].base_dir.join(dir.as_glob());
                check(job, "working-directory", &relative);
            }
            // A literal input or output whose folder is a link out of the workspace (the
            // rendered ones are checked when their node starts).
            let patterns = job.inputs.iter().flatten().map(|t| ("input", t));
            for (what, pattern) in patterns.chain(job.outputs.iter().map(|t| ("output", t))) {
                if pattern.is_literal()
                    && let Some(why) = crate::files::paths::path_refusal(
                        workspace,
                        &pattern.as_glob(),
                        false,
                        &mut folders.borrow_mut(),
                    )
                {
                    outside.push(Problem::general(format!("job `{}`: {what} {why}", job.id)));
                }
            }
        }
        problems.extend(outside);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LoadError { problems })
        }
    }

    /// Every job each job needs, directly or through other needs, in index order: a
    /// node's key holds the results of all of them, so a change two levels up is never
    /// hidden by a need in between that has no outputs.
    pub fn transitive_needs(&self) -> Vec<Vec<usize>> {
        let mut all: Vec<Vec<usize>> = vec![Vec::new(); self.jobs.len()];
        for &job in &self.topo_order {
            // Sorted and deduplicated at once (a set's insert per element was most of the
            // cost on a playbook of 1,000 jobs with 5,000 needs).
            let mut closure: Vec<usize> = Vec::new();
            for &need in &self.jobs[job].needs {
                closure.push(need);
                closure.extend_from_slice(&all[need]);
            }
            closure.sort_unstable();
            closure.dedup();
            all[job] = closure;
        }
        all
    }

    /// The secrets a job's expressions name (`secrets.NAME`), its playbook's `env`
    /// included: what must be set before its nodes may run.
    pub fn secrets_read_by(&self, job: usize) -> std::collections::BTreeSet<String> {
        let job = &self.jobs[job];
        let mut templates: Vec<&Template> = Vec::new();
        let mut exprs: Vec<&Expr> = job.condition.iter().collect();
        fn body<'a>(body: &'a Body, templates: &mut Vec<&'a Template>) {
            match body {
                Body::Run(t) => templates.push(t),
                Body::Script { args, .. } => templates.extend(args.iter().map(|a| &a.value)),
                Body::Uses(uses) => templates.extend(uses.with.iter().map(|(_, t)| t)),
                Body::Action(action) => templates.extend(action.with.iter().map(|(_, t)| t)),
                Body::Steps(_) => {}
            }
        }
        body(&job.body, &mut templates);
        if let Body::Steps(steps) = &job.body {
            for step in steps {
                body(&step.body, &mut templates);
                templates.extend(step.name.iter());
                templates.extend(step.env.iter().map(|(_, t)| t));
                templates.extend(step.continue_on_error_expr.iter());
                templates.extend(step.timeout_minutes.iter());
                exprs.extend(step.condition.iter());
            }
        }
        templates.extend(job.env.iter().map(|(_, t)| t));
        templates.extend(self.origins[job.origin].env.iter().map(|(_, t)| t));
        templates.extend(job.working_directory.iter().chain(job.name.iter()));
        templates.extend(job.inputs.iter().flatten().chain(&job.outputs));
        templates.extend(job.runs_on.iter().chain(job.timeout_minutes.iter()));
        templates.extend(job.continue_on_error_expr.iter());
        templates.extend(job.concurrency.iter());
        templates.extend(job.output_map.iter().map(|(_, t)| t));
        for (name, patterns) in &job.artifacts {
            templates.extend(name.iter().chain(patterns));
        }
        exprs.extend(templates.iter().flat_map(|t| t.exprs().map(|(e, _)| e)));
        let mut names = std::collections::BTreeSet::new();
        for expr in exprs {
            // The longest path read at each place: `secrets.A` names A; `secrets` alone
            // (`toJSON(secrets)`, `secrets[format(…)]`) may read any of them.
            let mut longest: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
            crate::compile::expr::visit(expr, &mut |sub| {
                if let Some((path, at)) = crate::compile::expr::path_of(sub)
                    && path[0] == "secrets"
                    && longest.get(&at).is_none_or(|p| p.len() < path.len())
                {
                    longest.insert(at, path.into_iter().map(str::to_owned).collect());
                }
            });
            for path in longest.values() {
                match path.get(1) {
                    Some(name) => {
                        names.insert(name.clone());
                    }
                    None => names.extend(self.playbook.secrets.iter().map(|s| s.value.clone())),
                }
            }
        }
        names
    }

    pub fn job_index(&self, id: &str) -> Option<usize> {
        self.jobs.iter().position(|j| j.id == id)
    }

    /// Ids of the nodes a node waits for.
    pub fn node_needs(&self, node: usize) -> Vec<&str> {
        self.jobs[self.nodes[node].job]
            .needs
            .iter()
            .flat_map(|&j| self.job_nodes(j))
            .map(|n| self.nodes[n].id.as_str())
            .collect()
    }

    /// The nodes of a job; for a `uses` job, the nodes of every job it brought in.
    pub fn job_nodes(&self, job: usize) -> Vec<usize> {
        self.standing_for(job)
            .into_iter()
            .flat_map(|j| self.jobs[j].nodes.clone())
            .collect()
    }

    /// The jobs a job stands for: itself, or for a `uses` job that brought jobs in, every
    /// one of them (through nested `uses` too), in order.
    pub fn standing_for(&self, job: usize) -> Vec<usize> {
        match &self.jobs[job].body {
            Body::Uses(uses) if !uses.members.is_empty() => uses
                .members
                .iter()
                .flat_map(|&m| self.standing_for(m))
                .collect(),
            _ => vec![job],
        }
    }
}
