//! Compiling a playbook into its sealed DAG: jobs expanded into nodes, `needs` resolved,
//! cycles refused, expressions parsed and their references checked.
//!
//! Edges are kept between jobs (petgraph), not between nodes: `needs: [test]` waits for
//! every node of `test`, so node-level edges would be a product of two matrices.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::compile::expr::{self, Expr, Template};
use crate::compile::matrix;
use crate::files::paths::normalize;
use crate::load::diag::{LoadError, Problem, SourceFile, Sp, Span, did_you_mean};
use indexmap::IndexMap;

use crate::load::model::{Combination, Command, InputDecl, Job, Playbook, Scalar, Shell};

impl Overrides {
    /// Whether `--matrix` applies to the job `id`: every job without targets, else the
    /// jobs the targets name (by id or glob).
    fn applies_to(&self, id: &str) -> bool {
        !self.matrix.is_empty()
            && (self.matrix_jobs.is_empty()
                || self.matrix_jobs.iter().any(|pattern| {
                    pattern == id
                        || globset::Glob::new(pattern)
                            .is_ok_and(|g| g.compile_matcher().is_match(id))
                }))
    }
}

/// `--matrix` naming an axis that none of the jobs it applies to has: a typo must not
/// silently do nothing.
fn unknown_matrix_axes(jobs: &[CompiledJob], overrides: &Overrides) -> Vec<Problem> {
    let applies: Vec<&CompiledJob> = jobs
        .iter()
        .filter(|j| overrides.applies_to(&j.id))
        .collect();
    overrides
        .matrix
        .iter()
        .filter(|(axis, _)| !applies.iter().any(|j| j.axes.contains(axis)))
        .map(|(axis, _)| {
            let known: BTreeSet<&str> = applies
                .iter()
                .flat_map(|j| j.axes.iter().map(String::as_str))
                .collect();
            let whose = if overrides.matrix_jobs.is_empty() {
                "no job".to_owned()
            } else {
                format!("none of {}", overrides.matrix_jobs.join(", "))
            };
            let mut problem = Problem::general(format!(
                "--matrix {axis}: {whose} has a matrix axis `{axis}`"
            ));
            problem.help = did_you_mean(axis, known.iter().copied()).or_else(|| {
                Some(if known.is_empty() {
                    "--matrix sets the values of an axis a job's `matrix` declares".to_owned()
                } else {
                    format!("axes: {}", known.into_iter().collect::<Vec<_>>().join(", "))
                })
            });
            problem
        })
        .collect()
}

/// Where a playbook's values come from besides the file: the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Overrides {
    /// `--var NAME=VALUE`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// `--matrix AXIS=V1,V2`: applies to `matrix_jobs` (every job when empty).
    pub matrix: Vec<(String, Vec<String>)>,
    pub matrix_jobs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub fail_fast: bool,
    pub max_parallel: Option<usize>,
    pub cache: bool,
    /// Input patterns relative to the workspace (`None`: the default-inputs rule).
    pub inputs: Option<Vec<Template>>,
    /// Output paths and globs relative to the workspace.
    pub outputs: Vec<Template>,
    pub env_inputs: Vec<String>,
    /// Programs whose executable's content is part of the key (besides the interpreter).
    pub tools: Vec<String>,
    /// Matrix axes (and include keys) in id order; empty without a matrix.
    pub axes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Run(Template),
    Script {
        path: String,
        args: Vec<Template>,
    },
    Steps(Vec<CompiledStep>),
    /// A reusable playbook: the job has no nodes and ends when its members end.
    Uses(Uses),
}

#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledStep {
    pub name: Option<Template>,
    pub body: Body,
    pub env: Vec<(String, Template)>,
    pub condition: Option<Expr>,
    pub continue_on_error: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
        let mut folders = crate::files::paths::CheckedFolders::new();
        let mut outside = Vec::new();
        let mut check = |job: &CompiledJob, what: &str, relative: &Path| {
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
                        &mut folders,
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
            let mut closure = std::collections::BTreeSet::new();
            for &need in &self.jobs[job].needs {
                closure.insert(need);
                closure.extend(all[need].iter().copied());
            }
            all[job] = closure.into_iter().collect();
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
                Body::Script { args, .. } => templates.extend(args),
                Body::Uses(uses) => templates.extend(uses.with.iter().map(|(_, t)| t)),
                Body::Steps(_) => {}
            }
        }
        body(&job.body, &mut templates);
        if let Body::Steps(steps) = &job.body {
            for step in steps {
                body(&step.body, &mut templates);
                templates.extend(step.name.iter());
                templates.extend(step.env.iter().map(|(_, t)| t));
                exprs.extend(step.condition.iter());
            }
        }
        templates.extend(job.env.iter().map(|(_, t)| t));
        templates.extend(self.origins[job.origin].env.iter().map(|(_, t)| t));
        templates.extend(job.working_directory.iter().chain(job.name.iter()));
        templates.extend(job.inputs.iter().flatten().chain(&job.outputs));
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
        match &self.jobs[job].body {
            Body::Uses(uses) => uses
                .members
                .iter()
                .flat_map(|&m| self.job_nodes(m))
                .collect(),
            _ => self.jobs[job].nodes.clone().collect(),
        }
    }
}

pub const CONTEXTS: &[&str] = &[
    "vars", "env", "secrets", "matrix", "inputs", "needs", "orch",
];
const ORCH_FIELDS: &[&str] = &["run_id", "workspace", "os", "arch", "job", "node"];

/// Loads a playbook named by `uses`, by its path relative to the workspace.
pub type Resolve<'r> = dyn FnMut(&Path) -> Result<Arc<Playbook>, LoadError> + 'r;

/// One playbook's jobs waiting to be compiled: the root, or one brought in by `uses`.
struct Level {
    playbook: Arc<Playbook>,
    prefix: String,
    origin: usize,
    /// The `uses` job and the jobs its caller needs (the level's first jobs wait for them).
    group: Option<(usize, Vec<usize>)>,
    /// The files that led here, to refuse a playbook that uses itself.
    chain: Vec<PathBuf>,
}

pub fn compile(
    playbook: Arc<Playbook>,
    overrides: &Overrides,
    resolve: &mut Resolve,
) -> Result<Graph, LoadError> {
    let mut problems = Vec::new();
    let root_path = PathBuf::from(playbook.source.path.file_name().unwrap_or_default());
    let mut origins = Vec::new();
    {
        let mut c = Compiler::new(&playbook, PathBuf::new(), &mut problems, None);
        let vars = c.vars(overrides);
        let env = c.env_templates(&playbook.env, None);
        origins.push(Origin {
            path: root_path.clone(),
            base_dir: PathBuf::new(),
            vars,
            env,
            inputs: IndexMap::new(),
            group: None,
        });
    }
    let mut jobs: Vec<CompiledJob> = Vec::new();
    let mut nodes: Vec<NodeSpec> = Vec::new();
    let mut origin_playbooks = vec![playbook.clone()];
    let mut queue = std::collections::VecDeque::from([Level {
        playbook: playbook.clone(),
        prefix: String::new(),
        origin: 0,
        group: None,
        chain: vec![root_path],
    }]);
    while let Some(level) = queue.pop_front() {
        let first = jobs.len();
        let ids: Vec<&str> = level.playbook.jobs.keys().map(String::as_str).collect();
        let base_dir = origins[level.origin].base_dir.clone();
        let inputs = (level.origin != 0).then(|| origins[level.origin].inputs.clone());
        let mut c = Compiler::new(
            &level.playbook,
            base_dir.clone(),
            &mut problems,
            inputs.as_ref(),
        );
        for (position, job) in level.playbook.jobs.values().enumerate() {
            let index = first + position;
            let mut needs = Vec::new();
            for need in &job.needs {
                match ids.iter().position(|id| *id == need.value) {
                    Some(n) if !needs.contains(&(first + n)) => needs.push(first + n),
                    Some(_) => {}
                    None => {
                        let mut problem = Problem::at(
                            c.source,
                            need.span,
                            format!(
                                "job `{}` needs `{}`, which is not a job",
                                job.id.value, need.value
                            ),
                        )
                        .with_label("unknown job");
                        problem.help = did_you_mean(&need.value, ids.iter().copied());
                        c.problems.push(problem);
                    }
                }
            }
            if needs.is_empty()
                && let Some((_, caller_needs)) = &level.group
            {
                needs.clone_from(caller_needs);
            }
            let combinations = if matches!(job.command, Command::Uses { .. }) {
                if let Some(m) = &job.matrix {
                    let problem =
                        Problem::at(c.source, m.span, "a `uses` job cannot have a matrix")
                            .with_label("matrix")
                            .with_help("put the matrix on the jobs of the used playbook");
                    c.problems.push(problem);
                }
                Vec::new()
            } else {
                c.combinations(job, overrides, &level.prefix)
            };
            let axes = axes_of(&combinations);
            let start = nodes.len();
            for combination in combinations {
                nodes.push(NodeSpec {
                    id: format!(
                        "{}{}",
                        level.prefix,
                        matrix::node_id(&job.id.value, &combination)
                    ),
                    job: index,
                    matrix: combination,
                });
            }
            let mut compiled = c.job(job, needs, start..nodes.len(), axes);
            compiled.id = format!("{}{}", level.prefix, job.id.value);
            compiled.origin = level.origin;
            if let Command::Uses { path, with } = &job.command
                && let Some((uses, inner)) =
                    c.uses(job, path, with, &compiled, &level.chain, resolve)
            {
                let origin = origins.len();
                origin_playbooks.push(inner.clone());
                let mut inner_compiler =
                    Compiler::new(&inner, uses.parent_dir(), c.problems, Some(&inner.inputs));
                let env = inner_compiler.env_templates(&inner.env, None);
                let member_ids: Vec<String> = inner.jobs.keys().cloned().collect();
                let outputs = inner_compiler.outputs(&inner.outputs, &member_ids);
                origins.push(Origin {
                    path: uses.path.clone(),
                    base_dir: uses.parent_dir(),
                    vars: inner
                        .vars
                        .iter()
                        .map(|(k, v)| (k.clone(), v.value.clone()))
                        .collect(),
                    env,
                    inputs: inner.inputs.clone(),
                    group: Some(index),
                });
                let mut chain = level.chain.clone();
                chain.push(uses.path.clone());
                queue.push_back(Level {
                    playbook: inner,
                    prefix: format!("{}/", compiled.id),
                    origin,
                    group: Some((index, compiled.needs.clone())),
                    chain,
                });
                compiled.body = Body::Uses(Uses {
                    path: uses.path,
                    members: Vec::new(),
                    with: uses.with,
                    caller_needs: compiled.needs.clone(),
                    outputs,
                    origin,
                });
            }
            jobs.push(compiled);
        }
        // A `uses` job waits for (and ends with) the jobs it brought in.
        if let Some((group, _)) = level.group {
            let members: Vec<usize> = (first..jobs.len()).collect();
            if let Body::Uses(uses) = &mut jobs[group].body {
                uses.members.clone_from(&members);
                if !members.is_empty() {
                    jobs[group].needs = members;
                }
            }
        }
    }
    let mut job_graph = DiGraph::<usize, ()>::with_capacity(jobs.len(), jobs.len());
    let indices: Vec<NodeIndex> = (0..jobs.len()).map(|i| job_graph.add_node(i)).collect();
    for (index, job) in jobs.iter().enumerate() {
        for &need in &job.needs {
            job_graph.add_edge(indices[need], indices[index], ());
        }
    }
    check_cycles(&origin_playbooks, &jobs, &job_graph, &mut problems);
    problems.extend(unknown_matrix_axes(&jobs, overrides));
    for index in 0..jobs.len() {
        let needs = jobs[index].needs.clone();
        for n in needs {
            jobs[n].dependents.push(index);
        }
    }
    if !problems.is_empty() {
        return Err(LoadError { problems });
    }
    let topo_order = stable_topo_order(&jobs);
    Ok(Graph {
        playbook: playbook.clone(),
        origins,
        jobs,
        nodes,
        topo_order,
    })
}

/// A `uses` resolved: the used file and the caller's `with`, compiled.
struct UsesTarget {
    path: PathBuf,
    with: Vec<(String, Template)>,
}

impl UsesTarget {
    fn parent_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

fn axes_of(combinations: &[Combination]) -> Vec<String> {
    let mut axes: Vec<String> = Vec::new();
    for combination in combinations {
        for (axis, _) in combination {
            if !axes.contains(axis) {
                axes.push(axis.clone());
            }
        }
    }
    axes
}

struct Compiler<'p> {
    source: &'p SourceFile,
    playbook: &'p Playbook,
    problems: &'p mut Vec<Problem>,
    /// The playbook's folder, relative to the workspace.
    base_dir: PathBuf,
    /// A used playbook's declared inputs (None for the root playbook).
    inputs: Option<&'p IndexMap<String, InputDecl>>,
}

/// What expressions in one place may refer to.
struct Allowed<'a> {
    /// Job ids for `jobs.<id>` (a reusable playbook's outputs).
    jobs: Option<&'a [String]>,
    matrix: Option<&'a [String]>,
    needs: Option<&'a [Sp<String>]>,
    job: Option<&'a str>,
}

impl<'p> Compiler<'p> {
    fn new(
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
    fn uses(
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
            matrix: None,
            needs: Some(&job.needs),
            job: Some(&job.id.value),
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
    fn outputs(
        &mut self,
        outputs: &[(String, Sp<String>)],
        job_ids: &[String],
    ) -> Vec<(String, Template)> {
        let allowed = Allowed {
            jobs: Some(job_ids),
            matrix: None,
            needs: None,
            job: None,
        };
        outputs
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), self.template(v, &allowed)?)))
            .collect()
    }

    fn vars(&mut self, overrides: &Overrides) -> Vec<(String, Scalar)> {
        let mut vars: Vec<(String, Scalar)> = self
            .playbook
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        for (name, value) in &overrides.vars {
            match vars.iter_mut().find(|(k, _)| k == name) {
                Some((_, v)) => *v = Scalar::Str(value.clone()),
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
    fn combinations(&mut self, job: &Job, overrides: &Overrides, prefix: &str) -> Vec<Combination> {
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

    fn job(
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
                    self.template(&Sp::new(self.in_workspace(&p.value), p.span), &allowed)
                })
                .collect()
        };
        let inputs = job
            .inputs
            .as_ref()
            .or(defaults.inputs.as_ref())
            .map(|list| patterns(list));
        let outputs = patterns(&job.outputs);
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
            fail_fast: job.strategy.fail_fast,
            max_parallel: job.strategy.max_parallel,
            cache: job.cache,
            inputs,
            outputs,
            env_inputs: job.env_inputs.iter().map(|e| e.value.clone()).collect(),
            // The playbook's default tools, then the job's own (each once).
            tools: {
                let mut tools: Vec<String> = Vec::new();
                for tool in defaults.tools.iter().chain(&job.tools) {
                    if !tools.contains(&tool.value) {
                        tools.push(tool.value.clone());
                    }
                }
                tools
            },
            axes,
        }
    }

    fn body(&mut self, command: &Command, allowed: &Allowed) -> Body {
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
                        .filter_map(|a| self.template(a, allowed))
                        .collect(),
                }
            }
            Command::Steps(steps) => Body::Steps(
                steps
                    .iter()
                    .map(|step| CompiledStep {
                        name: step.name.as_ref().and_then(|n| self.template(n, allowed)),
                        body: self.body(&step.command, allowed),
                        env: self.env_templates(&step.env, Some(allowed)),
                        condition: step
                            .condition
                            .as_ref()
                            .and_then(|c| self.condition(c, allowed)),
                        continue_on_error: step.continue_on_error,
                    })
                    .collect(),
            ),
            // Filled in by `compile` once the used playbook is loaded.
            Command::Uses { .. } => Body::Run(Template { parts: Vec::new() }),
        }
    }

    /// A path or glob of this playbook as the workspace sees it (`!` kept in front).
    fn in_workspace(&self, pattern: &str) -> String {
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
    fn check_relative_path(&mut self, path: &Sp<String>, what: &str) {
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

    fn env_templates(
        &mut self,
        env: &[(String, Sp<String>)],
        allowed: Option<&Allowed>,
    ) -> Vec<(String, Template)> {
        let top = Allowed {
            jobs: None,
            matrix: None,
            needs: None,
            job: None,
        };
        let allowed = allowed.unwrap_or(&top);
        env.iter()
            .filter_map(|(k, v)| Some((k.clone(), self.template(v, allowed)?)))
            .collect()
    }

    fn template(&mut self, text: &Sp<String>, allowed: &Allowed) -> Option<Template> {
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

    fn condition(&mut self, text: &Sp<String>, allowed: &Allowed) -> Option<Expr> {
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
    fn check_refs(&mut self, e: &Expr, text: &Sp<String>, base: usize, allowed: &Allowed) {
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

    fn check_path(&self, path: &[String], allowed: &Allowed) -> Option<(String, Option<String>)> {
        let root = path[0].as_str();
        let field = path.get(1).map(String::as_str);
        match root {
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
                            did_you_mean(field, needs.iter().map(|n| n.value.as_str()))
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
    fn locate(&self, text: &Sp<String>, at: usize) -> Span {
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

/// Every cycle of `needs`, named job by job in order, placed at the first job's `needs`.
fn check_cycles(
    origins: &[Arc<Playbook>],
    jobs: &[CompiledJob],
    graph: &DiGraph<usize, ()>,
    problems: &mut Vec<Problem>,
) {
    for component in tarjan_scc(graph) {
        let self_loop = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let cycle = cycle_path(graph, &component);
        let names: Vec<&str> = cycle.iter().map(|n| jobs[graph[*n]].id.as_str()).collect();
        let mut shown = names.clone();
        shown.push(names[0]);
        let message = format!(
            "the jobs {} form a cycle: {}",
            names.join(", "),
            shown.join(" → ")
        );
        let first = &jobs[graph[cycle[0]]];
        let declared = origins
            .get(first.origin)
            .and_then(|p| Some((p, p.jobs.get(&first.local_id)?)));
        let problem = match declared {
            Some((playbook, job)) => {
                let span = job.needs.first().map_or(job.id.span, |n| n.span);
                Problem::at(&playbook.source, span, message).with_label("needs")
            }
            None => Problem::general(message),
        };
        problems.push(problem.with_help(
            "a job cannot wait for itself, directly or through others: remove one of these `needs`",
        ));
    }
}

/// A topological order that keeps declaration order wherever `needs` allow (Kahn's
/// algorithm taking the earliest declared ready job), so runs and listings are predictable.
fn stable_topo_order(jobs: &[CompiledJob]) -> Vec<usize> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut waiting: Vec<usize> = jobs.iter().map(|j| j.needs.len()).collect();
    let mut ready: BinaryHeap<Reverse<usize>> = (0..jobs.len())
        .filter(|j| waiting[*j] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(jobs.len());
    while let Some(Reverse(job)) = ready.pop() {
        order.push(job);
        for &dependent in &jobs[job].dependents {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    order
}

/// One cycle through the jobs of a strongly connected component, in `needs` order.
fn cycle_path(graph: &DiGraph<usize, ()>, component: &[NodeIndex]) -> Vec<NodeIndex> {
    let start = *component
        .iter()
        .min_by_key(|n| graph[**n])
        .unwrap_or(&component[0]);
    let mut path = vec![start];
    let mut current = start;
    // Walk backwards along `needs` edges (edge need → dependent) inside the component.
    loop {
        let next = graph
            .neighbors_directed(current, petgraph::Direction::Incoming)
            .filter(|n| component.contains(n))
            .min_by_key(|n| graph[*n]);
        match next {
            Some(n) if n == start => break,
            Some(n) if path.contains(&n) => {
                let from = path.iter().position(|p| *p == n).unwrap_or(0);
                return path.split_off(from);
            }
            Some(n) => {
                path.push(n);
                current = n;
            }
            None => break,
        }
    }
    path
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::load::{decode, tree};

    fn compile_text(text: &str) -> Result<Graph, LoadError> {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: text.into(),
        };
        let root = tree::parse(&source).map_err(LoadError::from)?;
        let playbook = decode::decode(&source, &root)?;
        compile(Arc::new(playbook), &Overrides::default(), &mut no_uses)
    }

    pub(crate) fn no_uses(path: &Path) -> Result<Arc<Playbook>, LoadError> {
        Err(Problem::general(format!("no file {}", path.display())).into())
    }

    fn problem(text: &str) -> Problem {
        compile_text(text).unwrap_err().problems.remove(0)
    }

    #[test]
    fn needs_span_matrix_jobs() {
        let g = compile_text("jobs:\n  build: { run: x, matrix: { os: [a, b] } }\n  test: { run: y, needs: build }\n").unwrap();
        assert_eq!(g.nodes.len(), 3);
        assert_eq!(g.node_needs(2), ["build[os=a]", "build[os=b]"]);
        assert_eq!(g.topo_order, [0, 1]);
    }

    #[test]
    fn unknown_need_suggests() {
        let p = problem("jobs:\n  build: { run: x }\n  test: { run: y, needs: [bulid] }\n");
        assert_eq!(p.message, "job `test` needs `bulid`, which is not a job");
        assert_eq!(p.help.as_deref(), Some("did you mean `build`?"));
        assert_eq!(p.location().as_deref(), Some("orch.yml:3:27"));
    }

    #[test]
    fn cycles_name_every_job() {
        let p = problem(
            "jobs:\n  a: { run: x, needs: c }\n  b: { run: x, needs: a }\n  c: { run: x, needs: b }\n  d: { run: x }\n",
        );
        assert!(
            p.message.contains("a, c, b") || p.message.contains("a, b, c"),
            "{}",
            p.message
        );
        assert!(p.message.contains("a → c → b → a"), "{}", p.message);
        let p = problem("jobs:\n  a: { run: x, needs: a }\n");
        assert!(p.message.contains("a → a"), "{}", p.message);
    }

    #[test]
    fn expression_references_are_checked() {
        let p =
            problem("vars: { profile: debug }\njobs:\n  a: { run: 'echo ${{ vars.profil }}' }\n");
        assert_eq!(p.message, "unknown var `profil`");
        assert_eq!(p.help.as_deref(), Some("did you mean `profile`?"));
        assert_eq!(p.location().as_deref(), Some("orch.yml:3:23"));
        let p = problem("jobs:\n  a: { run: 'echo ${{ matrix.oss }}', matrix: { os: [x] } }\n");
        assert_eq!(p.message, "unknown matrix axis `oss`");
        let p = problem("jobs:\n  a: { run: 'echo ${{ matrx.os }}' }\n");
        assert_eq!(p.help.as_deref(), Some("did you mean `matrix`?"));
        let p = problem("jobs:\n  a:\n    run: |\n      echo one\n      echo ${{ vars.nope }}\n");
        assert_eq!(p.location().as_deref(), Some("orch.yml:5:16"));
    }

    #[test]
    fn script_outside_workspace() {
        let p = problem("jobs:\n  a: { script: ../x.sh }\n");
        assert!(p.message.contains("outside the workspace"));
    }

    #[test]
    fn var_overrides() {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: "vars: { a: 1 }\njobs:\n  j: { run: x }\n".into(),
        };
        let playbook = Arc::new(decode::decode(&source, &tree::parse(&source).unwrap()).unwrap());
        let o = Overrides {
            vars: vec![("a".into(), "2".into())],
            ..Overrides::default()
        };
        assert_eq!(
            compile(playbook.clone(), &o, &mut no_uses).unwrap().origins[0].vars,
            [("a".to_owned(), Scalar::Str("2".into()))]
        );
        let o = Overrides {
            vars: vec![("b".into(), "2".into())],
            ..Overrides::default()
        };
        assert!(compile(playbook, &o, &mut no_uses).is_err());
    }
}
