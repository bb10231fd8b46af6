//! One job of a GitHub Actions workflow and its steps, as GitHub reads them: `runs-on`,
//! `strategy.matrix`, `timeout-minutes`, `defaults.run`, an `outputs:` map, `uses:` of
//! actions in steps and of reusable workflows as the job.

use std::time::Duration;

use super::Decoder;
use super::job::is_job_id;
use super::workflow::not_applied_why;
use crate::load::diag::{Problem, Sp};
use crate::load::model::{Command, Job, NotApplied, Shell, Step, Workflow};
use crate::load::tree::{Node, Value};

pub const WORKFLOW_JOB_KEYS: &[&str] = &[
    "name",
    "permissions",
    "needs",
    "if",
    "runs-on",
    "environment",
    "concurrency",
    "outputs",
    "env",
    "defaults",
    "steps",
    "timeout-minutes",
    "strategy",
    "continue-on-error",
    "container",
    "services",
    "uses",
    "with",
    "secrets",
];

pub const WORKFLOW_STEP_KEYS: &[&str] = &[
    "id",
    "if",
    "name",
    "uses",
    "run",
    "working-directory",
    "shell",
    "with",
    "env",
    "continue-on-error",
    "timeout-minutes",
];

/// GitHub's default shell on Linux when a step names none: bash without pipefail.
pub(super) const GITHUB_DEFAULT_SHELL: &str = "bash -e {0}";

impl Decoder<'_> {
    pub(super) fn workflow_job(
        &mut self,
        id: Sp<&str>,
        node: &Node,
        workflow: &mut Workflow,
    ) -> Option<Job> {
        if !is_job_id(id.value) {
            self.error(
                id.span,
                format!(
                    "invalid job id `{}`: letters, digits, `_` and `-`, starting with a letter or `_`",
                    id.value
                ),
            );
        }
        let what = format!("job `{}`", id.value);
        let entries = self.map(node, &what, Some(WORKFLOW_JOB_KEYS))?;
        let mut job = Job::new(Sp::new(id.value.to_owned(), id.span), node.span);
        let mut command: Option<Command> = None;
        let mut with = Vec::new();
        for (key, value) in entries {
            let field = format!("{}.{}", id.value, key.value);
            let before = self.problems.len();
            match key.value {
                "name" => job.name = self.text(value, &field),
                "needs" => job.needs = self.strings(value, &field, true).unwrap_or_default(),
                "if" => job.condition = self.text(value, &field),
                "runs-on" => job.runs_on = self.runs_on(value, &field),
                "concurrency" => job.concurrency = self.concurrency(value, &field, workflow),
                "permissions" | "environment" | "container" | "services" => {
                    workflow.not_applied.push(NotApplied {
                        key: format!("jobs.{field}"),
                        span: key.span,
                        why: not_applied_why(key.value).into(),
                    });
                }
                "outputs" => job.output_map = self.env(value, &field),
                "env" => job.env = self.env(value, &field),
                "defaults" => {
                    let defaults = self.run_defaults(value, &field);
                    job.shell = defaults.shell;
                    job.working_directory = defaults.working_directory;
                }
                "steps" => {
                    command = self
                        .workflow_steps(value, &field)
                        .map(Command::Steps)
                        .or(command);
                }
                "timeout-minutes" => match self.minutes(value, &field) {
                    Some(Minutes::Fixed(d)) => job.timeout = Some(d),
                    Some(Minutes::Expression(text)) => job.timeout_minutes = Some(text),
                    None => {}
                },
                "strategy" => self.workflow_strategy(value, &field, &mut job),
                "continue-on-error" => match self.flag(value, &field) {
                    Some(Flag::Fixed(allowed)) => job.continue_on_error = allowed,
                    Some(Flag::Expression(text)) => job.continue_on_error_expr = Some(text),
                    None => {}
                },
                "uses" => {
                    command = self.string(value, &field).map(|path| Command::Uses {
                        path,
                        with: Vec::new(),
                    });
                }
                "with" => with = self.env(value, &field),
                // `secrets: inherit` or a map: the called workflow reads the environment's.
                "secrets" => {}
                _ => unreachable!("keys were checked against WORKFLOW_JOB_KEYS"),
            }
            if self.problems.len() > before {
                self.undecoded.push(field);
            }
        }
        match command {
            Some(Command::Uses { path, .. }) => job.command = Command::Uses { path, with },
            Some(c) => job.command = c,
            None => {
                let problem =
                    Problem::at(self.source, id.span, format!("{what} has nothing to do"))
                        .with_help("give the job `steps:`, or `uses:` a reusable workflow");
                self.problems.push(problem);
            }
        }
        Some(job)
    }

    /// `runs-on: ubuntu-latest`, a list of labels, or `{ group, labels }`.
    fn runs_on(&mut self, node: &Node, what: &str) -> Vec<Sp<String>> {
        match &node.value {
            Value::Map(_) => {
                let mut labels = Vec::new();
                for (key, value) in self
                    .map(node, what, Some(&["group", "labels"]))
                    .unwrap_or_default()
                {
                    let field = format!("{what}.{}", key.value);
                    if key.value == "labels" {
                        labels = self.strings(value, &field, true).unwrap_or_default();
                    } else {
                        self.text(value, &field);
                    }
                }
                labels
            }
            _ => self.strings(node, what, true).unwrap_or_default(),
        }
    }

    /// `strategy: { matrix, fail-fast, max-parallel }`.
    fn workflow_strategy(&mut self, node: &Node, what: &str, job: &mut Job) {
        let keys = &["matrix", "fail-fast", "max-parallel"];
        for (key, value) in self.map(node, what, Some(keys)).unwrap_or_default() {
            let field = format!("{what}.{}", key.value);
            match key.value {
                "matrix" if matches!(value.value, Value::Str(_)) => {
                    let problem = Problem::at(
                        self.source,
                        value.span,
                        format!("{field}: a matrix computed by an expression is not supported yet"),
                    )
                    .with_label("an expression")
                    .with_help("write the matrix's axes as lists");
                    self.problems.push(problem);
                }
                "matrix" => job.matrix = self.matrix(value, &field),
                "fail-fast" => job.strategy.fail_fast = self.bool(value, &field).unwrap_or(true),
                "max-parallel" => match self.count(value, &field) {
                    Some(0) => self.error(value.span, "max-parallel must be at least 1"),
                    Some(n) => job.strategy.max_parallel = usize::try_from(n).ok(),
                    None => {}
                },
                _ => unreachable!("keys were checked"),
            }
        }
    }

    pub(super) fn workflow_steps(&mut self, node: &Node, what: &str) -> Option<Vec<Step>> {
        let Value::Seq(items) = &node.value else {
            self.type_error(node, what, "a list of steps");
            return None;
        };
        let mut steps = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let what = format!("{what}[{index}]");
            let Some(entries) = self.map(item, &what, Some(WORKFLOW_STEP_KEYS)) else {
                continue;
            };
            let mut step = Step::new(item.span);
            let mut command = None;
            let mut with = Vec::new();
            for (key, value) in entries {
                let field = format!("{what}.{}", key.value);
                match key.value {
                    "id" => step.id = self.step_id(value, &field, &steps),
                    "name" => step.name = self.text(value, &field),
                    "if" => step.condition = self.text(value, &field),
                    "run" | "uses" if command.is_some() => {
                        self.error(key.span, format!("{what} has both `run` and `uses`"));
                    }
                    "run" => command = self.string(value, &field).map(Command::Run),
                    "uses" => {
                        command = self.string(value, &field).map(|path| Command::Uses {
                            path,
                            with: Vec::new(),
                        });
                    }
                    "with" => with = self.env(value, &field),
                    "env" => step.env = self.env(value, &field),
                    "shell" => step.shell = self.workflow_shell(value, &field),
                    "working-directory" => step.working_directory = self.string(value, &field),
                    "continue-on-error" => match self.flag(value, &field) {
                        Some(Flag::Fixed(allowed)) => step.continue_on_error = allowed,
                        Some(Flag::Expression(text)) => step.continue_on_error_expr = Some(text),
                        None => {}
                    },
                    "timeout-minutes" => match self.minutes(value, &field) {
                        Some(Minutes::Fixed(d)) => step.timeout = Some(d),
                        Some(Minutes::Expression(text)) => step.timeout_minutes = Some(text),
                        None => {}
                    },
                    _ => unreachable!("keys were checked against WORKFLOW_STEP_KEYS"),
                }
            }
            match command {
                Some(Command::Uses { path, .. }) => step.command = Command::Uses { path, with },
                Some(c) => step.command = c,
                None => self.error(item.span, format!("{what} needs `run` or `uses`")),
            }
            steps.push(step);
        }
        Some(steps)
    }

    /// A step's or job's `shell`: orch's shells, GitHub's custom `{0}` form, and the
    /// Windows ones (`cmd`, `powershell`), which fail only if such a step runs here.
    pub(super) fn workflow_shell(&mut self, node: &Node, what: &str) -> Option<Shell> {
        match &node.value {
            Value::Str(s) if s == "powershell" => Some(Shell::Pwsh),
            Value::Str(s) if s == "cmd" => {
                Some(Shell::Template("cmd /D /E:ON /V:OFF /S /C {0}".into()))
            }
            _ => self.shell(node, what),
        }
    }

    /// `timeout-minutes`: a number of minutes (GitHub allows fractions) or an expression.
    fn minutes(&mut self, node: &Node, what: &str) -> Option<Minutes> {
        match &node.value {
            Value::Str(s) if s.contains("${{") => {
                Some(Minutes::Expression(Sp::new(s.clone(), node.span)))
            }
            Value::Int(_) | Value::Float(_) => {
                let minutes: f64 = self.as_written(node).parse().ok()?;
                if minutes.is_finite() && minutes > 0.0 {
                    Some(Minutes::Fixed(Duration::from_secs_f64(minutes * 60.0)))
                } else {
                    self.error(node.span, format!("{what} must be more than 0"));
                    None
                }
            }
            _ => {
                self.type_error(node, what, "a number of minutes");
                None
            }
        }
    }
}

enum Minutes {
    Fixed(Duration),
    Expression(Sp<String>),
}

impl Decoder<'_> {
    /// A job's `concurrency`: its group (a name or an expression), run one at a time.
    /// `cancel-in-progress` has nothing to cancel in one local run: noted when set.
    fn concurrency(
        &mut self,
        node: &Node,
        what: &str,
        workflow: &mut Workflow,
    ) -> Option<Sp<String>> {
        if !matches!(node.value, Value::Map(_)) {
            return self.text(node, what);
        }
        let mut group = None;
        for (key, value) in self
            .map(node, what, Some(&["group", "cancel-in-progress"]))
            .unwrap_or_default()
        {
            let field = format!("{what}.{}", key.value);
            match key.value {
                "group" => group = self.text(value, &field),
                _ => {
                    if !matches!(&value.value, Value::Bool(false)) {
                        workflow.not_applied.push(NotApplied {
                            key: format!("jobs.{field}"),
                            span: key.span,
                            why: "one local run has no other run to cancel; the group's jobs run one at a time".into(),
                        });
                    }
                }
            }
        }
        if group.is_none() {
            self.error(node.span, format!("{what} needs `group`"));
        }
        group
    }
}

enum Flag {
    Fixed(bool),
    Expression(Sp<String>),
}

impl Decoder<'_> {
    /// `continue-on-error`: `true`/`false` or an expression, decided per node.
    fn flag(&mut self, node: &Node, what: &str) -> Option<Flag> {
        match &node.value {
            Value::Str(s) if s.contains("${{") => {
                Some(Flag::Expression(Sp::new(s.clone(), node.span)))
            }
            _ => self.bool(node, what).map(Flag::Fixed),
        }
    }
}
