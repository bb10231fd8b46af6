//! A workflow step's `uses: ./path`: the action in that folder of the workspace (GitHub
//! resolves it from the repository's root, wherever the workflow is), read through the
//! loader of used playbooks so that an edit of its `action.yml` reaches the next run. A
//! composite action's steps are compiled here against its own inputs, and the local
//! actions they use in turn, a chain of files refusing an action that uses itself.

use std::path::{Path, PathBuf};

use super::actions::{Builtin, CompositeAction, NodeAction};
use super::build::Resolve;
use super::compiler::Compiler;
use super::graph::{Body, CompiledStep};
use super::references::Allowed;
use crate::compile::expr::{Expr, Template};
use crate::files::paths::normalize;
use crate::load::decode::ACTION_FILE_NAMES;
use crate::load::diag::{Problem, Sp, did_you_mean};
use crate::load::model::{ACTION_JOB, ActionRuns, Command, Playbook, Step};

impl Compiler<'_> {
    /// Fills in each `./` action among `compiled` (the steps of `steps`, in order).
    pub(super) fn local_actions(
        &mut self,
        compiled: &mut [CompiledStep],
        steps: &[Step],
        chain: &[PathBuf],
        resolve: &mut Resolve,
    ) {
        for (step, written) in compiled.iter_mut().zip(steps) {
            let Body::Action(action) = &mut step.body else {
                continue;
            };
            let Command::Uses { path, with } = &written.command else {
                continue;
            };
            if action.builtin != Builtin::Local {
                continue;
            }
            if let Some(builtin) = self.local_action(path, with, chain, resolve) {
                action.builtin = builtin;
            }
        }
    }

    fn local_action(
        &mut self,
        reference: &Sp<String>,
        with: &[(String, Sp<String>)],
        chain: &[PathBuf],
        resolve: &mut Resolve,
    ) -> Option<Builtin> {
        let Some(folder) = normalize(Path::new(&reference.value)) else {
            let problem = Problem::at(
                self.source,
                reference.span,
                format!("action `{}` is outside the workspace", reference.value),
            )
            .with_label("outside the workspace")
            .with_help("a local action's path starts at the repository's root and stays in it");
            self.problems.push(problem);
            return None;
        };
        let (file, action) = match self.read_action(&folder, resolve)? {
            Ok(found) => found,
            Err(missing) => return Some(Builtin::Missing(missing.into())),
        };
        if chain.contains(&file) {
            let mut names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
            names.push(file.display().to_string());
            let problem = Problem::at(
                self.source,
                reference.span,
                format!("actions use each other in a cycle: {}", names.join(" → ")),
            )
            .with_label("uses")
            .with_help("an action cannot use itself, directly or through others");
            self.problems.push(problem);
            return None;
        }
        for (name, value) in with {
            if !action.inputs.contains_key(name) {
                let mut problem = Problem::at(
                    self.source,
                    value.span,
                    format!("action `{}` has no input `{name}`", reference.value),
                )
                .with_label("unknown input");
                problem.help = did_you_mean(name, action.inputs.keys().map(String::as_str));
                self.problems.push(problem);
            }
        }
        let folder_text = folder.display().to_string();
        let runs = action.action.as_deref().cloned();
        let mut inner = Compiler::new(
            &action,
            PathBuf::new(),
            &mut *self.problems,
            Some(&action.inputs),
        );
        // Defaults may read what the action's steps read (`${{ github.token }}`).
        let mut defaults = Vec::new();
        for (name, input) in &action.inputs {
            let default = input
                .default
                .as_ref()
                .and_then(|d| inner.template(&Sp::new(d.clone(), input.name.span), &ACTION_SCOPE));
            defaults.push((name.clone(), default));
        }
        match runs? {
            ActionRuns::Composite => {
                let job = action.jobs.get(ACTION_JOB)?;
                let Command::Steps(steps) = &job.command else {
                    return None;
                };
                let Body::Steps(mut compiled) = inner.body(&job.command, &ACTION_SCOPE) else {
                    return None;
                };
                let mut chain = chain.to_vec();
                chain.push(file);
                inner.local_actions(&mut compiled, steps, &chain, resolve);
                let ids: Vec<String> = steps
                    .iter()
                    .filter_map(|s| s.id.as_ref().map(|id| id.value.clone()))
                    .collect();
                let all_steps = Allowed {
                    steps: Some(&ids),
                    ..ACTION_SCOPE
                };
                let outputs = action
                    .outputs
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), inner.template(v, &all_steps)?)))
                    .collect();
                Some(Builtin::Composite(Box::new(CompositeAction {
                    folder: folder_text,
                    inputs: defaults,
                    steps: compiled,
                    outputs,
                })))
            }
            ActionRuns::Node {
                main, pre, post, ..
            } => Some(Builtin::Node(Box::new(NodeAction {
                folder: folder_text,
                inputs: defaults,
                main,
                pre,
                post,
            }))),
            ActionRuns::Docker { image } => Some(Builtin::Unsupported(
                format!("a Docker container action ({image}) does not run on a local run").into(),
            )),
        }
    }

    /// The action file in `folder` (`action.yml`, else `action.yaml`), loaded; `None`
    /// when it has problems (reported), `Err` when neither can be read.
    fn read_action(
        &mut self,
        folder: &Path,
        resolve: &mut Resolve,
    ) -> Option<Result<(PathBuf, std::sync::Arc<Playbook>), String>> {
        for name in ACTION_FILE_NAMES {
            let file = folder.join(name);
            match resolve(&file) {
                Ok(action) => return Some(Ok((file, action))),
                // A file that cannot be read: try the other name; a bad file reports itself.
                Err(e) if e.problems.iter().all(|p| p.source.is_none()) => {}
                Err(e) => {
                    self.problems.extend(e.problems);
                    return None;
                }
            }
        }
        Some(Err(format!(
            "no action.yml or action.yaml in `{}` (read when compiled: a file an earlier step \
             makes is not seen)",
            folder.display()
        )))
    }
}

/// What an action's expressions may read: no caller's `needs` or job, any matrix key (as
/// GitHub reads one no leg has), its own inputs; `steps` is set per step.
const ACTION_SCOPE: Allowed<'static> = Allowed {
    jobs: None,
    matrix: Some(&[]),
    needs: None,
    job: None,
    steps: None,
};

/// The programs the actions among `steps` run or stand for (a setup action's tools,
/// `node` for a JavaScript action, the shells of a composite action's steps), through
/// nested composite actions: tools of the job, keyed by content.
pub(super) fn nested_tools(steps: &[CompiledStep], tools: &mut Vec<String>) {
    fn add(tools: &mut Vec<String>, name: &str) {
        if !tools.iter().any(|t| t == name) {
            tools.push(name.to_owned());
        }
    }
    for step in steps {
        let Body::Action(action) = &step.body else {
            continue;
        };
        match &action.builtin {
            Builtin::Tools(names) => names.iter().for_each(|n| add(tools, n)),
            Builtin::Node(_) => add(tools, "node"),
            Builtin::Composite(composite) => {
                for inner in &composite.steps {
                    if let Some(shell) = &inner.shell {
                        add(tools, shell.program());
                    }
                }
                nested_tools(&composite.steps, tools);
            }
            _ => {}
        }
    }
}

/// Each expression of a composite action, its nested actions' included: what its steps
/// read is part of the key of the node that runs it.
pub fn composite_exprs(composite: &CompositeAction) -> Vec<&Expr> {
    let mut templates: Vec<&Template> = composite
        .inputs
        .iter()
        .filter_map(|(_, d)| d.as_ref())
        .collect();
    templates.extend(composite.outputs.iter().map(|(_, t)| t));
    let mut exprs = Vec::new();
    for step in &composite.steps {
        templates.extend(step.templates());
        templates.extend(step.name.iter().chain(&step.working_directory));
        exprs.extend(&step.condition);
        if let Body::Action(action) = &step.body
            && let Builtin::Composite(inner) = &action.builtin
        {
            exprs.extend(composite_exprs(inner));
        }
    }
    exprs.extend(
        templates
            .into_iter()
            .flat_map(|t| t.exprs().map(|(e, _)| e)),
    );
    exprs
}

/// The folders of the workspace's actions a step runs: its own, and those its composite
/// steps use in turn. Their files are part of the key of the node that runs them.
pub fn action_folders(builtin: &Builtin) -> Vec<&str> {
    match builtin {
        Builtin::Node(action) => vec![action.folder.as_str()],
        Builtin::Composite(composite) => {
            let mut folders = vec![composite.folder.as_str()];
            for step in &composite.steps {
                if let Body::Action(action) = &step.body {
                    folders.extend(action_folders(&action.builtin));
                }
            }
            folders
        }
        _ => Vec::new(),
    }
}
