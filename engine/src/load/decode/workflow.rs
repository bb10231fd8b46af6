//! A GitHub Actions workflow, decoded into the same model as orch's own playbooks: the
//! document (`on`, `env`, `defaults.run`, `jobs`). GitHub's keys are read as GitHub
//! means them; those a local run reads but cannot honour are kept in
//! [`Workflow::not_applied`] for `plan` and the summary to say so.

use super::Decoder;
use super::workflow_job::GITHUB_DEFAULT_SHELL;
use crate::load::diag::{Problem, Sp, Span};
use crate::load::model::{Defaults, InputDecl, NotApplied, Playbook, Shell, Trigger, Workflow};
use crate::load::tree::{Node, Value};

pub const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "run-name",
    "on",
    "permissions",
    "env",
    "defaults",
    "concurrency",
    "jobs",
];

const TRIGGER_FILTERS: &[&str] = &[
    "branches",
    "branches-ignore",
    "tags",
    "tags-ignore",
    "paths",
    "paths-ignore",
    "types",
    "inputs",
    "outputs",
    "secrets",
    "workflows",
];

/// Why each key a local run cannot honour is left alone.
pub(super) fn not_applied_why(key: &str) -> &'static str {
    match key {
        "permissions" => "token permissions mean nothing on a local run",
        "concurrency" => {
            "one local run has no other run to wait for or cancel; use `-j` to limit its jobs"
        }
        "environment" => "deployment environments and their protection rules are GitHub's",
        "services" => "service containers are not started; the job runs without them",
        "container" => "the job runs on this machine, not in its container",
        _ => "not applicable on a local run",
    }
}

/// Whether a parsed file is a GitHub Actions workflow rather than an orch playbook: it
/// lives in `.github/workflows/`, or its top level has `on:` and a job has `runs-on:`
/// (which every GitHub job that runs steps has). A playbook that only borrowed `on:`
/// stays a playbook, and hears how orch says it.
pub fn is_workflow(path: &std::path::Path, root: &Node) -> bool {
    if path
        .parent()
        .is_some_and(|p| p.ends_with(".github/workflows"))
    {
        return true;
    }
    let Value::Map(top) = &root.value else {
        return false;
    };
    let key_is = |k: &Node, name: &str| matches!(&k.value, Value::Str(s) if s == name);
    let has_on = top.iter().any(|(k, _)| key_is(k, "on"));
    let github_job = top
        .iter()
        .filter(|(k, _)| key_is(k, "jobs"))
        .any(|(_, jobs)| match &jobs.value {
            Value::Map(jobs) => jobs.iter().any(|(_, job)| match &job.value {
                Value::Map(keys) => keys.iter().any(|(k, _)| key_is(k, "runs-on")),
                _ => false,
            }),
            _ => false,
        });
    has_on && github_job
}

/// `secrets.NAME` written anywhere in the file: a workflow does not declare the secrets
/// it reads (GitHub has them per repository), so each one named is an optional secret,
/// read from the environment, empty when unset. `GITHUB_TOKEN` is always one.
fn secrets_named(text: &str) -> Vec<String> {
    let mut names = vec!["GITHUB_TOKEN".to_owned()];
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("secrets.") {
        let start = from + found + "secrets.".len();
        let before = lower[..from + found].chars().next_back();
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |e| start + e);
        let name = &text[start..end];
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !name.is_empty()
            && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
        {
            names.push(name.to_owned());
        }
        from = end.max(start);
    }
    names
}

impl Decoder<'_> {
    pub(super) fn workflow(&mut self, root: &Node) -> Option<Playbook> {
        let entries = self.map(root, "the workflow", Some(WORKFLOW_KEYS))?;
        let mut playbook = Playbook::empty(self.source.clone());
        let mut workflow = Workflow::default();
        let mut saw_on = false;
        let mut saw_jobs = false;
        for (key, value) in entries {
            let before = self.problems.len();
            match key.value {
                "name" => playbook.name = self.text(value, "name").map(|s| s.value),
                "run-name" => {
                    self.text(value, "run-name");
                }
                "on" => {
                    saw_on = true;
                    workflow.triggers = self.triggers(value, &mut playbook);
                }
                "permissions" | "concurrency" => workflow.not_applied.push(NotApplied {
                    key: key.value.to_owned(),
                    span: key.span,
                    why: not_applied_why(key.value).into(),
                }),
                "env" => playbook.env = self.env(value, "env"),
                "defaults" => playbook.defaults = self.run_defaults(value, "defaults"),
                "jobs" => {
                    saw_jobs = true;
                    self.jobs_into(value, &mut playbook, |d, id, job| {
                        d.workflow_job(id, job, &mut workflow)
                    });
                }
                _ => unreachable!("keys were checked against WORKFLOW_KEYS"),
            }
            if self.problems.len() > before && key.value != "jobs" {
                self.undecoded.push(key.value.to_owned());
            }
        }
        for (missing, saw, help) in [
            (
                "on",
                saw_on,
                "add the events that run it, e.g. `on: [push, pull_request]`",
            ),
            ("jobs", saw_jobs, "add a `jobs:` map"),
        ] {
            if !saw {
                let problem = Problem::at(
                    self.source,
                    Span::new(root.span.offset, 0),
                    format!("the workflow has no `{missing}`"),
                )
                .with_help(help);
                self.problems.push(problem);
            }
        }
        for name in secrets_named(&self.source.text) {
            if !playbook.secrets.iter().any(|s| s.value == name) {
                playbook.optional_secrets.push(name.clone());
                playbook.secrets.push(Sp::new(name, Span::default()));
            }
        }
        if playbook.defaults.shell.is_none() {
            playbook.defaults.shell = Some(Shell::Template(GITHUB_DEFAULT_SHELL.to_owned()));
        }
        playbook.workflow = Some(Box::new(workflow));
        Some(playbook)
    }

    /// `defaults: { run: { shell, working-directory } }`, at the top or in a job.
    pub(super) fn run_defaults(&mut self, node: &Node, what: &str) -> Defaults {
        let mut defaults = Defaults::default();
        for (_, run) in self.map(node, what, Some(&["run"])).unwrap_or_default() {
            let what = format!("{what}.run");
            for (key, value) in self
                .map(run, &what, Some(&["shell", "working-directory"]))
                .unwrap_or_default()
            {
                let field = format!("{what}.{}", key.value);
                if key.value == "shell" {
                    defaults.shell = self.workflow_shell(value, &field);
                } else {
                    defaults.working_directory = self.string(value, &field);
                }
            }
        }
        defaults
    }

    /// `on: push`, `on: [push, pull_request]`, or a map of events with their filters;
    /// `workflow_dispatch` and `workflow_call` inputs become the playbook's inputs.
    fn triggers(&mut self, node: &Node, playbook: &mut Playbook) -> Vec<Trigger> {
        let bare = |event: &Sp<String>| Trigger::new(event.clone());
        match &node.value {
            Value::Str(_) | Value::Seq(_) => self
                .strings(node, "on", true)
                .unwrap_or_default()
                .iter()
                .map(bare)
                .collect(),
            Value::Map(_) => {
                let mut triggers = Vec::new();
                for (event, filters) in self.map(node, "on", None).unwrap_or_default() {
                    let mut trigger = bare(&Sp::new(event.value.to_owned(), event.span));
                    let what = format!("on.{}", event.value);
                    if let Value::Map(_) = filters.value {
                        for (key, value) in self
                            .map(filters, &what, Some(TRIGGER_FILTERS))
                            .unwrap_or_default()
                        {
                            let field = format!("{what}.{}", key.value);
                            let list = |d: &mut Self| {
                                d.strings(value, &field, true)
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(|s| s.value)
                                    .collect()
                            };
                            match key.value {
                                "branches" => trigger.branches = list(self),
                                "branches-ignore" => trigger.branches_ignore = list(self),
                                "tags" => trigger.tags = list(self),
                                "tags-ignore" => trigger.tags_ignore = list(self),
                                "paths" => trigger.paths = list(self),
                                "paths-ignore" => trigger.paths_ignore = list(self),
                                "inputs" => self.declared_inputs(
                                    value,
                                    &field,
                                    &["description", "required", "default", "type", "options"],
                                    playbook,
                                ),
                                "outputs" => self.workflow_outputs(value, &field, playbook),
                                "types" | "workflows" | "secrets" => {}
                                _ => unreachable!("keys were checked"),
                            }
                        }
                    }
                    triggers.push(trigger);
                }
                triggers
            }
            _ => {
                self.type_error(node, "on", "an event, a list of events or a map of them");
                Vec::new()
            }
        }
    }

    /// `inputs: { NAME: { description, required, default, … } }` of a workflow trigger or
    /// an action, `keys` the ones that place allows.
    pub(super) fn declared_inputs(
        &mut self,
        node: &Node,
        what: &str,
        keys: &[&str],
        playbook: &mut Playbook,
    ) {
        for (name, body) in self.map(node, what, None).unwrap_or_default() {
            let field = format!("{what}.{}", name.value);
            let mut input = InputDecl {
                name: Sp::new(name.value.to_owned(), name.span),
                description: None,
                default: None,
                required: false,
            };
            for (key, value) in self.map(body, &field, Some(keys)).unwrap_or_default() {
                let field = format!("{field}.{}", key.value);
                match key.value {
                    "description" => input.description = self.text(value, &field).map(|s| s.value),
                    "default" => input.default = self.text(value, &field).map(|s| s.value),
                    "required" => input.required = self.bool(value, &field).unwrap_or(false),
                    _ => {}
                }
            }
            playbook.inputs.insert(name.value.to_owned(), input);
        }
    }

    /// `workflow_call` or action outputs: `{ NAME: { description, value } }` (a JavaScript
    /// action's have no `value`: it sets them itself).
    pub(super) fn workflow_outputs(&mut self, node: &Node, what: &str, playbook: &mut Playbook) {
        for (name, body) in self.map(node, what, None).unwrap_or_default() {
            let field = format!("{what}.{}", name.value);
            for (key, value) in self
                .map(body, &field, Some(&["description", "value"]))
                .unwrap_or_default()
            {
                if key.value == "value"
                    && let Some(text) = self.text(value, &field)
                {
                    playbook.outputs.push((name.value.to_owned(), text));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::secrets_named;

    #[test]
    fn secrets_are_found_where_they_are_read() {
        let text = "env:\n  T: ${{ secrets.NPM_TOKEN }}\n  U: ${{ Secrets.npm_token || mysecrets.X }}\nrun: echo ${{secrets.B_2}}";
        assert_eq!(secrets_named(text), ["GITHUB_TOKEN", "NPM_TOKEN", "B_2"]);
    }
}
