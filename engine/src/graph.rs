//! Compiling a playbook into its sealed DAG: jobs expanded into nodes, `needs` resolved,
//! cycles refused, expressions parsed and their references checked.
//!
//! Edges are kept between jobs (petgraph), not between nodes: `needs: [test]` waits for
//! every node of `test`, so node-level edges would be a product of two matrices.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::diag::{LoadError, Problem, SourceFile, Sp, Span, did_you_mean};
use crate::expr::{self, Expr, Template};
use crate::matrix;
use crate::playbook::{Combination, Command, Job, Playbook, Scalar, Shell};

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
    /// Var values after `--var`.
    pub vars: Vec<(String, Scalar)>,
    pub env: Vec<(String, Template)>,
    /// Jobs in declaration order.
    pub jobs: Vec<CompiledJob>,
    /// Nodes grouped by job, in job order, then expansion order.
    pub nodes: Vec<NodeSpec>,
    /// Job indices in an order where every job comes after the jobs it needs.
    pub topo_order: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledJob {
    pub id: String,
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
    /// Matrix axes (and include keys) in id order; empty without a matrix.
    pub axes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Run(Template),
    Script { path: String, args: Vec<Template> },
    Steps(Vec<CompiledStep>),
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
    pub fn job_index(&self, id: &str) -> Option<usize> {
        self.jobs.iter().position(|j| j.id == id)
    }

    /// Ids of the nodes a node waits for.
    pub fn node_needs(&self, node: usize) -> impl Iterator<Item = &str> {
        let job = &self.jobs[self.nodes[node].job];
        job.needs.iter().flat_map(|&j| {
            self.nodes[self.jobs[j].nodes.clone()]
                .iter()
                .map(|n| n.id.as_str())
        })
    }
}

pub const CONTEXTS: &[&str] = &[
    "vars", "env", "secrets", "matrix", "inputs", "needs", "orch",
];
const ORCH_FIELDS: &[&str] = &["run_id", "workspace", "os", "arch", "job", "node"];

pub fn compile(playbook: Arc<Playbook>, overrides: &Overrides) -> Result<Graph, LoadError> {
    let mut c = Compiler {
        source: &playbook.source,
        playbook: &playbook,
        problems: Vec::new(),
    };
    let vars = c.vars(overrides);
    let env = c.env_templates(&playbook.env, None);
    let ids: Vec<&str> = playbook.jobs.keys().map(String::as_str).collect();

    let mut job_graph = DiGraph::<usize, ()>::with_capacity(ids.len(), ids.len());
    let indices: Vec<NodeIndex> = (0..ids.len()).map(|i| job_graph.add_node(i)).collect();
    let mut jobs = Vec::with_capacity(ids.len());
    let mut nodes = Vec::new();
    for (index, job) in playbook.jobs.values().enumerate() {
        let mut needs = Vec::new();
        for need in &job.needs {
            match ids.iter().position(|id| *id == need.value) {
                Some(n) if !needs.contains(&n) => {
                    needs.push(n);
                    job_graph.add_edge(indices[n], indices[index], ());
                }
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
        let combinations = c.combinations(job, overrides);
        let axes = axes_of(&combinations);
        let start = nodes.len();
        for combination in combinations {
            nodes.push(NodeSpec {
                id: matrix::node_id(&job.id.value, &combination),
                job: index,
                matrix: combination,
            });
        }
        jobs.push(c.job(job, needs, start..nodes.len(), axes));
    }
    c.check_cycles(&job_graph);
    for index in 0..jobs.len() {
        let needs = jobs[index].needs.clone();
        for n in needs {
            jobs[n].dependents.push(index);
        }
    }
    if !c.problems.is_empty() {
        return Err(LoadError {
            problems: c.problems,
        });
    }
    let topo_order = stable_topo_order(&jobs);
    Ok(Graph {
        playbook: playbook.clone(),
        vars,
        env,
        jobs,
        nodes,
        topo_order,
    })
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
    problems: Vec<Problem>,
}

/// What expressions in one place may refer to.
struct Allowed<'a> {
    matrix: Option<&'a [String]>,
    needs: Option<&'a [Sp<String>]>,
    job: Option<&'a str>,
}

impl Compiler<'_> {
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

    fn combinations(&mut self, job: &Job, overrides: &Overrides) -> Vec<Combination> {
        let named = |pattern: &String| {
            *pattern == job.id.value
                || globset::Glob::new(pattern)
                    .is_ok_and(|g| g.compile_matcher().is_match(&job.id.value))
        };
        let applies = !overrides.matrix.is_empty()
            && (overrides.matrix_jobs.is_empty() || overrides.matrix_jobs.iter().any(named));
        let mut matrix = job.matrix.clone();
        if applies {
            let m = matrix.get_or_insert_with(|| crate::playbook::Matrix {
                axes: Vec::new(),
                include: Vec::new(),
                exclude: Vec::new(),
                span: job.id.span,
            });
            for (axis, values) in &overrides.matrix {
                let values: Vec<Scalar> = values.iter().map(|v| Scalar::Str(v.clone())).collect();
                match m.axes.iter_mut().find(|(a, _)| &a.value == axis) {
                    Some((_, existing)) => *existing = values,
                    None => m.axes.push((Sp::new(axis.clone(), job.id.span), values)),
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
        CompiledJob {
            id: job.id.value.clone(),
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
                Body::Script {
                    path: path.value.clone(),
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
            Command::Uses { path, .. } => {
                let problem = Problem::at(
                    self.source,
                    path.span,
                    "reusable playbooks (`uses`) are not supported yet",
                )
                .with_label("uses");
                self.problems.push(problem);
                Body::Run(Template { parts: Vec::new() })
            }
        }
    }

    /// Relative paths must stay inside the workspace.
    fn check_relative_path(&mut self, path: &Sp<String>, what: &str) {
        let p = std::path::Path::new(&path.value);
        let escapes = p.is_absolute()
            || p.components()
                .try_fold(0i32, |depth, c| match c {
                    std::path::Component::ParentDir => (depth > 0).then_some(depth - 1),
                    std::path::Component::Normal(_) => Some(depth + 1),
                    _ => Some(depth),
                })
                .is_none();
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
            "inputs" => Some(("`inputs` exist only in a reusable playbook".into(), None)),
            "env" => None,
            other => Some((
                format!("unknown context `{other}`"),
                did_you_mean(other, CONTEXTS.iter().copied()),
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

    fn check_cycles(&mut self, graph: &DiGraph<usize, ()>) {
        for component in tarjan_scc(graph) {
            let self_loop = component.len() == 1 && graph.contains_edge(component[0], component[0]);
            if component.len() < 2 && !self_loop {
                continue;
            }
            let cycle = cycle_path(graph, &component);
            let names: Vec<&str> = cycle
                .iter()
                .map(|n| {
                    self.playbook
                        .jobs
                        .get_index(graph[*n])
                        .map_or("?", |(k, _)| k.as_str())
                })
                .collect();
            let first = &self.playbook.jobs[graph[cycle[0]]];
            let span = first.needs.first().map_or(first.id.span, |n| n.span);
            let mut shown = names.clone();
            shown.push(names[0]);
            let problem = Problem::at(self.source, span, format!("the jobs {} form a cycle: {}", names.join(", "), shown.join(" → ")))
                .with_label("needs")
                .with_help("a job cannot wait for itself, directly or through others: remove one of these `needs`");
            self.problems.push(problem);
        }
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
mod tests {
    use super::*;
    use crate::playbook::{decode, tree};

    fn compile_text(text: &str) -> Result<Graph, LoadError> {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: text.into(),
        };
        let root = tree::parse(&source).map_err(LoadError::from)?;
        let playbook = decode::decode(&source, &root)?;
        compile(Arc::new(playbook), &Overrides::default())
    }

    fn problem(text: &str) -> Problem {
        compile_text(text).unwrap_err().problems.remove(0)
    }

    #[test]
    fn needs_span_matrix_jobs() {
        let g = compile_text("jobs:\n  build: { run: x, matrix: { os: [a, b] } }\n  test: { run: y, needs: build }\n").unwrap();
        assert_eq!(g.nodes.len(), 3);
        assert_eq!(
            g.node_needs(2).collect::<Vec<_>>(),
            ["build[os=a]", "build[os=b]"]
        );
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
            compile(playbook.clone(), &o).unwrap().vars,
            [("a".to_owned(), Scalar::Str("2".into()))]
        );
        let o = Overrides {
            vars: vec![("b".into(), "2".into())],
            ..Overrides::default()
        };
        assert!(compile(playbook, &o).is_err());
    }
}
