//! Running an action of the workspace in place of the step that uses it: a composite
//! action's steps as a frame of their own (its `inputs`, its `steps`, its outputs over
//! them), a JavaScript action's `main` with `node` and its inputs as `INPUT_*`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::prepare::{NodeWork, StepCommand, StepWork};
use super::scope::NodeScope;
use super::steps::{Frame, FrameEnd, RunOf, Shared};
use crate::compile::actions::{CompositeAction, NodeAction};
use crate::compile::expr::Template;
use crate::report::event::{Event, NodeStatus, Observer};

/// `NAME=value`: a `with` entry or an env variable, rendered.
pub(super) type NamedValue = (String, String);

/// A step's result: its outcome or why it failed, and its outputs (a composite action's
/// are rendered whether or not its steps failed, as GitHub does).
pub(super) type StepDone = (Result<&'static str, String>, BTreeMap<String, String>);

impl NodeWork {
    /// A composite action's steps, in a scope of their own; `Err` ends the node.
    pub(super) async fn composite(
        &self,
        composite: &CompositeAction,
        (with, step_env): (&[NamedValue], &[NamedValue]),
        (outer, outer_label): (&NodeScope, &str),
        shared: &mut Shared<'_>,
        run: &RunOf<'_>,
        log: &mut File,
    ) -> Result<StepDone, FrameEnd> {
        let action_path = self.workspace.join(&composite.folder);
        let mut scope = outer.clone();
        scope.steps = Map::new();
        // The calling step's `env` reaches the action's steps, in their `env` context too.
        let env = Arc::make_mut(&mut scope.env);
        for (k, v) in step_env {
            env.insert(k.clone(), Value::String(v.clone()));
        }
        if let Some(Value::Object(github)) = Arc::make_mut(&mut scope.workflow).get_mut("github") {
            github.insert(
                "action_path".into(),
                Value::String(action_path.display().to_string()),
            );
        }
        scope.inputs = match action_inputs(&composite.inputs, with, &scope) {
            Ok(inputs) => inputs,
            Err(why) => return Ok((Err(why), BTreeMap::new())),
        };
        let steps: Vec<StepWork> = composite
            .steps
            .iter()
            .map(|s| StepWork {
                id: s.id.clone(),
                name: None,
                command: StepCommand::Inline(String::new()),
                env: Vec::new(),
                condition: s.condition.clone(),
                continue_on_error: s.continue_on_error,
                shell: s.shell.clone(),
                cwd: None,
                timeout: s.timeout,
                continue_on_error_expr: s.continue_on_error_expr.clone(),
                timeout_minutes: s.timeout_minutes.clone(),
                late: Some(s.clone()),
            })
            .collect();
        let frame = Frame {
            steps: &steps,
            scope: &scope,
            many: true,
            action_env: step_env
                .iter()
                .cloned()
                .chain([(
                    "GITHUB_ACTION_PATH".into(),
                    action_path.display().to_string(),
                )])
                .collect(),
            label: format!(
                "{outer_label}{} › ",
                if composite.folder.is_empty() {
                    "."
                } else {
                    &composite.folder
                }
            ),
        };
        let (failure, inner) = match Box::pin(self.run_frame(frame, shared, run, log)).await {
            FrameEnd::Done { failure, steps } => (failure, steps),
            end => return Err(end),
        };
        scope.steps = inner;
        let outputs = render_outputs(&composite.outputs, &scope, log)
            .map_err(|why| FrameEnd::Node(NodeStatus::Failure, None, Some(why)))?;
        let done = match failure {
            None => Ok("success"),
            Some((_, why)) => Err(format!("action `{}`: {why}", composite.folder)),
        };
        Ok((done, outputs))
    }

    /// The command of a JavaScript action: `node` on its `main`.
    pub(super) fn node_action(
        &self,
        action: &NodeAction,
        log: &mut File,
        observer: &Arc<dyn Observer>,
    ) -> (String, Vec<String>) {
        for (what, script) in [("pre", &action.pre), ("post", &action.post)] {
            if let Some(script) = script {
                let said = format!(
                    "action `{}`: its `{what}` script ({script}) is not run on a local run",
                    action.folder
                );
                let _ = writeln!(log, "orch: warning: {said}");
                observer.event(&Event::Warning(format!("{}: {said}", self.scope.node)));
            }
        }
        let main: PathBuf = self.workspace.join(&action.folder).join(&action.main);
        ("node".to_owned(), vec![main.display().to_string()])
    }

    /// What a JavaScript action reads: its inputs as `INPUT_<NAME>`, and its folder.
    pub(super) fn node_action_env(
        &self,
        action: &NodeAction,
        with: &[(String, String)],
        scope: &NodeScope,
    ) -> Result<Vec<(String, String)>, String> {
        let inputs = action_inputs(&action.inputs, with, scope)?;
        let mut env: Vec<(String, String)> = inputs
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (
                    format!("INPUT_{}", name.replace(' ', "_").to_uppercase()),
                    value,
                )
            })
            .collect();
        let folder = self.workspace.join(&action.folder);
        env.push(("GITHUB_ACTION_PATH".into(), folder.display().to_string()));
        Ok(env)
    }

    /// A step's folder written in a composite action, rendered when it runs, relative to
    /// the workspace and checked as any rendered folder; else the one `prepare` gave.
    pub(super) fn late_cwd(
        &self,
        step: &StepWork,
        scope: &NodeScope,
    ) -> Result<Option<PathBuf>, String> {
        let template = match (&step.cwd, &step.late) {
            (None, Some(late)) => match &late.working_directory {
                Some(t) => t,
                None => return Ok(None),
            },
            _ => return Ok(step.cwd.clone()),
        };
        let relative = template
            .render(scope)
            .map_err(|e| format!("an expression failed: {}", e.message))?;
        let relative = crate::files::paths::inside_workspace(&self.workspace, relative);
        let mut checked = crate::files::paths::CheckedFolders::new();
        if let Some(why) =
            crate::files::paths::path_refusal(&self.workspace, &relative, true, &mut checked)
        {
            return Err(format!("working-directory {why}"));
        }
        Ok(Some(self.workspace.join(relative)))
    }
}

/// An `outputs:` map (a job's or a composite action's) rendered over the steps that ran;
/// the first expression that fails is said in the log and returned.
pub(super) fn render_outputs(
    map: &[(String, Template)],
    scope: &NodeScope,
    log: &mut File,
) -> Result<BTreeMap<String, String>, String> {
    let mut outputs = BTreeMap::new();
    for (name, template) in map {
        match template.render(scope) {
            Ok(value) => {
                outputs.insert(name.clone(), value);
            }
            Err(e) => {
                let why = format!("an expression failed: outputs.{name}: {}", e.message);
                let _ = writeln!(log, "orch: {why}");
                return Err(why);
            }
        }
    }
    Ok(outputs)
}

/// Each declared input's value: the caller's `with`, else its default rendered in the
/// action's scope, else empty (GitHub does not enforce `required`).
fn action_inputs(
    declared: &[(String, Option<Template>)],
    with: &[(String, String)],
    scope: &NodeScope,
) -> Result<Map<String, Value>, String> {
    let mut inputs = Map::new();
    for (name, default) in declared {
        let given = with.iter().rev().find(|(k, _)| k == name);
        let value = match (given, default) {
            (Some((_, value)), _) => value.clone(),
            (None, Some(default)) => default
                .render(scope)
                .map_err(|e| format!("an expression failed: inputs.{name}: {}", e.message))?,
            (None, None) => String::new(),
        };
        inputs.insert(name.clone(), Value::String(value));
    }
    Ok(inputs)
}
