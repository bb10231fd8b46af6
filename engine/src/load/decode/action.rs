//! A GitHub action's metadata file (`action.yml`), as a workflow's `uses: ./path` finds
//! it: its inputs, its outputs and how it runs. A composite action decodes as a playbook
//! with one job (its steps), so it is loaded, remembered and compiled the way a used
//! playbook is.

use super::Decoder;
use crate::load::diag::{Problem, Sp, Span};
use crate::load::model::{ACTION_JOB, ActionRuns, Command, Job, Playbook};
use crate::load::tree::{Node, Value};

pub const ACTION_KEYS: &[&str] = &[
    "name",
    "description",
    "author",
    "branding",
    "inputs",
    "outputs",
    "runs",
];

const RUNS_KEYS: &[&str] = &[
    "using",
    "steps",
    "main",
    "pre",
    "post",
    "pre-if",
    "post-if",
    "image",
    "entrypoint",
    "pre-entrypoint",
    "post-entrypoint",
    "args",
    "env",
];

/// The names GitHub looks for in an action's folder, in its order.
pub const ACTION_FILE_NAMES: [&str; 2] = ["action.yml", "action.yaml"];

/// Whether a file is an action's metadata rather than a playbook or a workflow.
pub fn is_action(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| ACTION_FILE_NAMES.contains(&n))
}

impl Decoder<'_> {
    pub(super) fn action(&mut self, root: &Node) -> Option<Playbook> {
        let entries = self.map(root, "the action", Some(ACTION_KEYS))?;
        let mut playbook = Playbook::empty(self.source.clone());
        let mut runs = None;
        for (key, value) in entries {
            let field = key.value;
            match field {
                "name" => playbook.name = self.text(value, field).map(|s| s.value),
                "description" => playbook.description = self.text(value, field).map(|s| s.value),
                "author" | "branding" => {}
                "inputs" => self.declared_inputs(
                    value,
                    "inputs",
                    &["description", "required", "default", "deprecationMessage"],
                    &mut playbook,
                ),
                "outputs" => self.workflow_outputs(value, "outputs", &mut playbook),
                "runs" => runs = self.action_runs(value, &mut playbook),
                _ => unreachable!("keys were checked against ACTION_KEYS"),
            }
        }
        if runs.is_none() && self.problems.is_empty() {
            let problem = Problem::at(
                self.source,
                Span::new(root.span.offset, 0),
                "the action has no `runs`",
            )
            .with_help("add `runs: { using: composite, steps: [...] }`");
            self.problems.push(problem);
        }
        playbook.action = runs.map(Box::new);
        Some(playbook)
    }

    /// `runs:`: a composite action's steps become the playbook's one job.
    fn action_runs(&mut self, node: &Node, playbook: &mut Playbook) -> Option<ActionRuns> {
        let entries = self.map(node, "runs", Some(RUNS_KEYS))?;
        let field = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k.value == key)
                .map(|(_, v)| *v)
        };
        let Some(using_node) = field("using") else {
            self.error(
                node.span,
                "runs needs `using` (composite, node20 or docker)",
            );
            return None;
        };
        let using = self.string(using_node, "runs.using")?;
        let text = |d: &mut Self, key: &str| {
            field(key).and_then(|v| d.string(v, &format!("runs.{key}")).map(|s| s.value))
        };
        match using.value.as_str() {
            "composite" => {
                let Some(steps_node) = field("steps") else {
                    self.error(node.span, "a composite action needs `runs.steps`");
                    return None;
                };
                let steps = self.workflow_steps(steps_node, "runs.steps")?;
                // GitHub requires a shell on every `run` step of a composite action.
                for (step, item) in steps.iter().zip(match &steps_node.value {
                    Value::Seq(items) => items.as_slice(),
                    _ => &[],
                }) {
                    if matches!(step.command, Command::Run(_)) && step.shell.is_none() {
                        let problem = Problem::at(
                            self.source,
                            item.span,
                            "a `run` step of a composite action needs `shell`",
                        )
                        .with_label("no shell")
                        .with_help("add `shell: bash` (GitHub requires it here too)");
                        self.problems.push(problem);
                    }
                }
                let id = Sp::new(ACTION_JOB.to_owned(), using.span);
                let mut job = Job::new(id, node.span);
                job.command = Command::Steps(steps);
                playbook.jobs.insert(ACTION_JOB.to_owned(), job);
                Some(ActionRuns::Composite)
            }
            using if using.starts_with("node") => {
                let Some(main) = text(self, "main") else {
                    self.error(node.span, "a JavaScript action needs `runs.main`");
                    return None;
                };
                Some(ActionRuns::Node {
                    using: using.to_owned(),
                    main,
                    pre: text(self, "pre"),
                    post: text(self, "post"),
                })
            }
            "docker" => Some(ActionRuns::Docker {
                image: text(self, "image").unwrap_or_default(),
            }),
            other => {
                let problem = Problem::at(
                    self.source,
                    using.span,
                    format!("runs.using `{other}` is not an action type"),
                )
                .with_help("GitHub's are `composite`, `node20` (or another `nodeNN`) and `docker`");
                self.problems.push(problem);
                None
            }
        }
    }
}
