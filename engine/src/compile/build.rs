//! Building the graph: the root playbook and each one a `uses` job brings in, as levels
//! worked through breadth first, their jobs appended to one list with prefixed ids.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::compile::expr::Template;
use crate::compile::matrix;
use crate::load::diag::{LoadError, Problem, did_you_mean};

use super::compiler::Compiler;
use super::cycles::{check_cycles, stable_topo_order};
use super::graph::*;
use crate::load::model::{Combination, Command, Playbook};

/// Loads a playbook named by `uses`, by its path relative to the workspace.
pub type Resolve<'r> = dyn FnMut(&Path) -> Result<Arc<Playbook>, LoadError> + 'r;

/// One playbook's jobs waiting to be compiled: the root, or one brought in by `uses`.
pub(super) struct Level {
    pub(super) playbook: Arc<Playbook>,
    pub(super) prefix: String,
    pub(super) origin: usize,
    /// The `uses` job and the jobs its caller needs (the level's first jobs wait for them).
    pub(super) group: Option<(usize, Vec<usize>, Vec<usize>)>,
    /// The files that led here, to refuse a playbook that uses itself.
    pub(super) chain: Vec<PathBuf>,
}

/// `root_path` is the playbook's place relative to the workspace.
pub fn compile(
    playbook: Arc<Playbook>,
    root_path: &Path,
    overrides: &Overrides,
    resolve: &mut Resolve,
) -> Result<Graph, LoadError> {
    let mut problems = Vec::new();
    let root_path = root_path.to_path_buf();
    let mut origins = Vec::new();
    {
        // A workflow's own `inputs` (workflow_dispatch) come from `--input`.
        let root_inputs = playbook.workflow.as_ref().map(|_| &playbook.inputs);
        let mut c = Compiler::new(&playbook, PathBuf::new(), &mut problems, root_inputs);
        let vars = c.vars(overrides);
        let env = c.env_templates(&playbook.env, None);
        origins.push(Origin {
            path: root_path.clone(),
            base_dir: PathBuf::new(),
            vars,
            env,
            inputs: root_inputs.cloned().unwrap_or_default(),
            group: None,
            matrix: Vec::new(),
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
        let inputs = (level.origin != 0 || level.playbook.workflow.is_some())
            .then(|| origins[level.origin].inputs.clone());
        let mut c = Compiler::new(
            &level.playbook,
            base_dir.clone(),
            &mut problems,
            inputs.as_ref(),
        );
        for (position, job) in level.playbook.jobs.values().enumerate() {
            let index = first + position;
            let mut needs = level_jobs(&mut c, job, &job.needs, (&ids, first), "needs");
            let mut after = level_jobs(&mut c, job, &job.after, (&ids, first), "comes after");
            if needs.is_empty()
                && let Some((_, caller_needs, caller_after)) = &level.group
            {
                needs.clone_from(caller_needs);
                after.extend(caller_after);
            }
            after.retain(|a| !needs.contains(a));
            after.dedup();
            let is_uses = matches!(job.command, Command::Uses { .. });
            let combinations = c.combinations(job, overrides, &level.prefix);
            let axes = axes_of(&combinations);
            let start = nodes.len();
            // A `uses` job has no nodes of its own: each matrix leg is one call.
            let legs = if is_uses {
                combinations
            } else {
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
                Vec::new()
            };
            let mut compiled = c.job(job, needs, start..nodes.len(), axes);
            compiled.after = after;
            if let (Command::Steps(steps), Body::Steps(compiled_steps)) =
                (&job.command, &mut compiled.body)
            {
                c.local_actions(compiled_steps, steps, &level.chain, resolve);
                super::local_action::nested_tools(compiled_steps, &mut compiled.tools);
            }
            compiled.id = format!("{}{}", level.prefix, job.id.value);
            compiled.origin = level.origin;
            if let Command::Uses { path, with } = &job.command {
                let mut called: Option<Uses> = None;
                for leg in legs {
                    let Some((uses, inner)) =
                        c.uses(job, path, with, &compiled, &level.chain, resolve)
                    else {
                        break;
                    };
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
                        matrix: leg.clone(),
                    });
                    let mut chain = level.chain.clone();
                    chain.push(uses.path.clone());
                    // One call: members are `call/job`; a leg of a matrix: `call[leg]/job`.
                    let call_id = if leg.is_empty() {
                        compiled.id.clone()
                    } else {
                        format!("{}{}", level.prefix, matrix::node_id(&job.id.value, &leg))
                    };
                    queue.push_back(Level {
                        playbook: inner,
                        prefix: format!("{call_id}/"),
                        origin,
                        group: Some((index, compiled.needs.clone(), compiled.after.clone())),
                        chain,
                    });
                    // The outputs are the first leg's (GitHub: any leg's, last writer wins).
                    called.get_or_insert(Uses {
                        path: uses.path,
                        members: Vec::new(),
                        with: uses.with,
                        caller_needs: compiled.needs.clone(),
                        outputs,
                        origin,
                    });
                }
                if let Some(called) = called {
                    compiled.body = Body::Uses(called);
                }
            }
            jobs.push(compiled);
        }
        // A `uses` job waits for (and ends with) the jobs it brought in, those of every
        // leg of its matrix.
        if let Some((group, _, _)) = level.group {
            let members: Vec<usize> = (first..jobs.len()).collect();
            let caller = &mut jobs[group];
            if let Body::Uses(uses) = &mut caller.body
                && !members.is_empty()
            {
                if uses.members.is_empty() {
                    caller.needs.clear();
                }
                uses.members.extend(&members);
                caller.needs.extend(&members);
            }
        }
    }
    let mut job_graph = DiGraph::<usize, ()>::with_capacity(jobs.len(), jobs.len());
    let indices: Vec<NodeIndex> = (0..jobs.len()).map(|i| job_graph.add_node(i)).collect();
    for (index, job) in jobs.iter().enumerate() {
        for &need in job.needs.iter().chain(&job.after) {
            job_graph.add_edge(indices[need], indices[index], ());
        }
    }
    check_cycles(&origin_playbooks, &jobs, &job_graph, &mut problems);
    problems.extend(unknown_matrix_axes(&jobs, overrides));
    for index in 0..jobs.len() {
        // Dependents are released when a job ends: by `needs` and by `after`.
        let waited_for: Vec<usize> = jobs[index]
            .needs
            .iter()
            .chain(&jobs[index].after)
            .copied()
            .collect();
        for n in waited_for {
            jobs[n].dependents.push(index);
        }
    }
    if !problems.is_empty() {
        // Each leg of a matrix `uses` compiles the same playbook: say each problem once.
        let mut unique: Vec<Problem> = Vec::with_capacity(problems.len());
        for problem in problems {
            if !unique.contains(&problem) {
                unique.push(problem);
            }
        }
        return Err(LoadError { problems: unique });
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

/// The jobs of this level (`ids`, the first at index `first`) that `names` (a job's
/// `needs` or `after`) name, each once; an unknown one is a problem with a suggestion.
fn level_jobs(
    c: &mut Compiler,
    job: &crate::load::model::Job,
    names: &[crate::load::diag::Sp<String>],
    (ids, first): (&[&str], usize),
    verb: &str,
) -> Vec<usize> {
    let mut found = Vec::new();
    for name in names {
        match ids.iter().position(|id| *id == name.value) {
            Some(n) if !found.contains(&(first + n)) => found.push(first + n),
            Some(_) => {}
            None => {
                let mut problem = Problem::at(
                    c.source,
                    name.span,
                    format!(
                        "job `{}` {verb} `{}`, which is not a job",
                        job.id.value, name.value
                    ),
                )
                .with_label("unknown job");
                problem.help = did_you_mean(&name.value, ids.iter().copied());
                c.problems.push(problem);
            }
        }
    }
    found
}

/// A `uses` resolved: the used file and the caller's `with`, compiled.
pub(super) struct UsesTarget {
    pub(super) path: PathBuf,
    pub(super) with: Vec<(String, Template)>,
}

impl UsesTarget {
    pub(super) fn parent_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

pub(super) fn axes_of(combinations: &[Combination]) -> Vec<String> {
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

/// `--matrix` naming an axis that none of the jobs it applies to has: a typo must not
/// silently do nothing.
pub(super) fn unknown_matrix_axes(jobs: &[CompiledJob], overrides: &Overrides) -> Vec<Problem> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::load::diag::SourceFile;
    use crate::load::model::Scalar;
    use crate::load::{decode, tree};

    pub(crate) fn compile_text(text: &str) -> Result<Graph, LoadError> {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: text.into(),
        };
        let root = tree::parse(&source).map_err(LoadError::from)?;
        let playbook = decode::decode(&source, &root)?;
        compile(
            Arc::new(playbook),
            Path::new("orch.yml"),
            &Overrides::default(),
            &mut no_uses,
        )
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
            compile(playbook.clone(), Path::new("orch.yml"), &o, &mut no_uses)
                .unwrap()
                .origins[0]
                .vars,
            [("a".to_owned(), Scalar::Str("2".into()))]
        );
        let o = Overrides {
            vars: vec![("b".into(), "2".into())],
            ..Overrides::default()
        };
        assert!(compile(playbook, Path::new("orch.yml"), &o, &mut no_uses).is_err());
    }
}
