//! One job: its keys, its command (`run`, `script`, `steps`, `uses`), its strategy and
//! matrix.

use super::{Decoder, NamedTexts};
use crate::load::diag::{Problem, Sp, Span, did_you_mean};
use crate::load::model::{Arg, ArtifactDecl, Combination, Command, Job, Matrix, Step, Strategy};
use crate::load::tree::{Node, Value};

pub const JOB_KEYS: &[&str] = &[
    "name",
    "description",
    "run",
    "script",
    "args",
    "steps",
    "uses",
    "with",
    "shell",
    "needs",
    "after",
    "if",
    "matrix",
    "strategy",
    "env",
    "working-directory",
    "inputs",
    "env-inputs",
    "tools",
    "outputs",
    "artifacts",
    "cache",
    "remote",
    "timeout",
    "retries",
    "continue-on-error",
];

pub const STEP_KEYS: &[&str] = &[
    "id",
    "name",
    "run",
    "script",
    "args",
    "env",
    "if",
    "continue-on-error",
    "shell",
    "working-directory",
    "timeout",
];

pub(super) const STRATEGY_KEYS: &[&str] = &["fail-fast", "max-parallel"];

pub(crate) fn is_job_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Decoder<'_> {
    pub(super) fn job(&mut self, id: Sp<&str>, node: &Node) -> Option<Job> {
        if !is_job_id(id.value) {
            let problem = Problem::at(
                self.source,
                id.span,
                format!("invalid job id `{}`", id.value),
            )
            .with_label("not a valid id")
            .with_help(
                "job ids start with a letter or `_` and contain only letters, digits, `_` and `-`",
            );
            self.problems.push(problem);
        }
        let what = format!("job `{}`", id.value);
        let entries = self.map(node, &what, Some(JOB_KEYS))?;
        let mut job = Job::new(Sp::new(id.value.to_owned(), id.span), node.span);
        let mut commands: Vec<(Sp<&str>, Command)> = Vec::new();
        let mut args: Option<(Span, Vec<Arg<Sp<String>>>)> = None;
        let mut with: Option<(Span, NamedTexts)> = None;
        for (key, value) in entries {
            let field = format!("{}.{}", id.value, key.value);
            let before = self.problems.len();
            match key.value {
                "name" => job.name = self.text(value, &field),
                "description" => job.description = self.text(value, &field).map(|s| s.value),
                "run" => {
                    commands.extend(self.string(value, &field).map(|s| (key, Command::Run(s))))
                }
                "script" => commands.extend(self.string(value, &field).map(|path| {
                    (
                        key,
                        Command::Script {
                            path,
                            args: Vec::new(),
                        },
                    )
                })),
                "steps" => {
                    commands.extend(self.steps(value, &field).map(|s| (key, Command::Steps(s))))
                }
                "uses" => commands.extend(self.string(value, &field).map(|path| {
                    (
                        key,
                        Command::Uses {
                            path,
                            with: Vec::new(),
                        },
                    )
                })),
                "args" => args = self.args(value, &field).map(|a| (key.span, a)),
                "with" => with = Some((key.span, self.env(value, &field))),
                "shell" => job.shell = self.shell(value, &field),
                "needs" => job.needs = self.strings(value, &field, true).unwrap_or_default(),
                "after" => job.after = self.strings(value, &field, true).unwrap_or_default(),
                "if" => job.condition = self.text(value, &field),
                "matrix" => job.matrix = self.matrix(value, &field),
                "strategy" => job.strategy = self.strategy(value, &field),
                "env" => job.env = self.env(value, &field),
                "working-directory" => job.working_directory = self.string(value, &field),
                "inputs" => job.inputs = self.strings(value, &field, false),
                "env-inputs" => {
                    job.env_inputs = self.strings(value, &field, false).unwrap_or_default()
                }
                "tools" => job.tools = self.strings(value, &field, false).unwrap_or_default(),
                "outputs" if matches!(value.value, Value::Map(_)) => {
                    let problem = Problem::at(
                        self.source,
                        value.span,
                        format!("{field} must be a list of the files the job makes"),
                    )
                    .with_label("a map, as GitHub's job outputs")
                    .with_help(
                        "job outputs are what the job writes to \"$ORCH_OUTPUT\" (name=value); \
                         `outputs:` lists files, folders or globs it makes",
                    );
                    self.problems.push(problem);
                }
                "outputs" => job.outputs = self.strings(value, &field, false).unwrap_or_default(),
                "artifacts" => job.artifacts = self.artifacts(value, &field),
                "cache" => job.cache = self.bool(value, &field).unwrap_or(true),
                "remote" => job.remote = self.remote_policy(value, &field),
                "timeout" => job.timeout = self.duration(value, &field),
                "retries" => job.retries = self.count(value, &field),
                "continue-on-error" => {
                    job.continue_on_error = self.bool(value, &field).unwrap_or(false)
                }
                _ => unreachable!("keys were checked against JOB_KEYS"),
            }
            if self.problems.len() > before {
                self.undecoded.push(field);
            }
        }
        match commands.len() {
            0 => {
                let problem =
                    Problem::at(self.source, id.span, format!("{what} has nothing to do"))
                        .with_label("no run, script, steps or uses")
                        .with_help(
                            "give the job exactly one of `run`, `script`, `steps` or `uses`",
                        );
                self.problems.push(problem);
            }
            1 => {}
            _ => {
                let names: Vec<&str> = commands.iter().map(|(k, _)| k.value).collect();
                let problem = Problem::at(
                    self.source,
                    commands[1].0.span,
                    format!("{what} has both `{}` and `{}`", names[0], names[1]),
                )
                .with_label("second command")
                .with_help("give the job exactly one of `run`, `script`, `steps` or `uses`");
                self.problems.push(problem);
            }
        }
        if let Some((_, command)) = commands.into_iter().next() {
            job.command = command;
        }
        match (&mut job.command, args) {
            (Command::Script { args, .. }, Some((_, given))) => *args = given,
            (_, Some((span, _))) => self.error(span, "`args` only goes with `script`"),
            _ => {}
        }
        match (&mut job.command, with) {
            (Command::Uses { with, .. }, Some((_, given))) => *with = given,
            (_, Some((span, _))) => self.error(span, "`with` only goes with `uses`"),
            _ => {}
        }
        Some(job)
    }

    /// `artifacts: [patterns]` (named after the node) or `{ NAME: [patterns] }`.
    fn artifacts(&mut self, node: &Node, what: &str) -> Vec<ArtifactDecl> {
        if !matches!(node.value, Value::Map(_)) {
            return self
                .strings(node, what, true)
                .map(|patterns| vec![(None, patterns)])
                .unwrap_or_default();
        }
        self.map(node, what, None)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, patterns)| {
                let field = format!("{what}.{}", name.value);
                let patterns = self.strings(patterns, &field, true)?;
                Some((Some(Sp::new(name.value.to_owned(), name.span)), patterns))
            })
            .collect()
    }

    pub(super) fn args(&mut self, node: &Node, what: &str) -> Option<Vec<Arg<Sp<String>>>> {
        let Value::Seq(items) = &node.value else {
            self.type_error(node, what, "a list");
            return None;
        };
        let mut args = Vec::with_capacity(items.len());
        for item in items {
            if !matches!(item.value, Value::Map(_)) {
                args.extend(self.text(item, what).map(Arg::word));
                continue;
            }
            let Some(entries) = self.map(item, what, Some(&["option", "value"])) else {
                continue;
            };
            let field = |key: &str| entries.iter().find(|(k, _)| k.value == key).map(|e| e.1);
            let (Some(option), Some(value)) = (field("option"), field("value")) else {
                self.error(
                    item.span,
                    format!("an option in {what} needs both `option` and `value`"),
                );
                continue;
            };
            let Some(option) = self.string(option, &format!("{what} option")) else {
                continue;
            };
            if option.value.contains("${{") {
                self.error(
                    option.span,
                    format!(
                        "an option name in {what} is literal text; put the expression in `value`"
                    ),
                );
                continue;
            }
            args.extend(self.text(value, &format!("{what} value")).map(|value| Arg {
                option: Some(option.value),
                value,
            }));
        }
        Some(args)
    }

    pub(super) fn steps(&mut self, node: &Node, what: &str) -> Option<Vec<Step>> {
        let Value::Seq(items) = &node.value else {
            self.type_error(node, what, "a list of steps");
            return None;
        };
        let mut steps = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let what = format!("{what}[{index}]");
            let Some(entries) = self.map(item, &what, Some(STEP_KEYS)) else {
                continue;
            };
            let mut step = Step::new(item.span);
            let mut command = None;
            let mut args = Vec::new();
            for (key, value) in entries {
                let field = format!("{what}.{}", key.value);
                match key.value {
                    "name" => step.name = self.text(value, &field),
                    "id" => step.id = self.step_id(value, &field, &steps),
                    "run" | "script" if command.is_some() => {
                        self.error(key.span, format!("{what} has both `run` and `script`"));
                    }
                    "run" => command = self.string(value, &field).map(Command::Run),
                    "script" => {
                        command = self.string(value, &field).map(|path| Command::Script {
                            path,
                            args: Vec::new(),
                        });
                    }
                    "args" => args = self.args(value, &field).unwrap_or_default(),
                    "env" => step.env = self.env(value, &field),
                    "if" => step.condition = self.text(value, &field),
                    "continue-on-error" => {
                        step.continue_on_error = self.bool(value, &field).unwrap_or(false)
                    }
                    "shell" => step.shell = self.shell(value, &field),
                    "working-directory" => step.working_directory = self.string(value, &field),
                    "timeout" => step.timeout = self.duration(value, &field),
                    _ => unreachable!("keys were checked against STEP_KEYS"),
                }
            }
            match command {
                Some(Command::Script { path, .. }) => step.command = Command::Script { path, args },
                Some(c) => step.command = c,
                None => self.error(item.span, format!("{what} needs `run` or `script`")),
            }
            steps.push(step);
        }
        Some(steps)
    }

    /// A step id: a valid id, once in its job.
    pub(super) fn step_id(
        &mut self,
        node: &Node,
        what: &str,
        earlier: &[Step],
    ) -> Option<Sp<String>> {
        let id = self.string(node, what)?;
        if !is_job_id(&id.value) {
            self.error(
                id.span,
                format!("{what}: `{}` is not a valid step id (letters, digits, `_` and `-`, not starting with a digit)", id.value),
            );
            return None;
        }
        if earlier
            .iter()
            .any(|s| s.id.as_ref().is_some_and(|e| e.value == id.value))
        {
            self.error(
                id.span,
                format!("{what}: step id `{}` is used twice in this job", id.value),
            );
            return None;
        }
        Some(id)
    }

    pub(super) fn strategy(&mut self, node: &Node, what: &str) -> Strategy {
        let mut strategy = Strategy::default();
        for (key, value) in self
            .map(node, what, Some(STRATEGY_KEYS))
            .unwrap_or_default()
        {
            let field = format!("{what}.{}", key.value);
            match key.value {
                "fail-fast" => strategy.fail_fast = self.bool(value, &field).unwrap_or(true),
                "max-parallel" => match self.count(value, &field) {
                    Some(0) => self.error(value.span, "max-parallel must be at least 1"),
                    Some(n) => strategy.max_parallel = usize::try_from(n).ok(),
                    None => {}
                },
                _ => unreachable!("keys were checked"),
            }
        }
        strategy
    }

    pub(super) fn matrix(&mut self, node: &Node, what: &str) -> Option<Matrix> {
        let entries = self.map(node, what, None)?;
        let mut matrix = Matrix {
            axes: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            span: node.span,
        };
        // Where each `exclude` entry names its axes, to point at the one that is wrong.
        let mut exclude_keys: Vec<(String, Span)> = Vec::new();
        for (key, value) in entries {
            match key.value {
                "include" | "exclude" => {
                    let Value::Seq(items) = &value.value else {
                        self.type_error(value, &format!("{what}.{}", key.value), "a list of maps");
                        continue;
                    };
                    let mut list = Vec::with_capacity(items.len());
                    if key.value == "exclude" {
                        for item in items {
                            if let Value::Map(pairs) = &item.value {
                                exclude_keys.extend(pairs.iter().filter_map(
                                    |(k, _)| match &k.value {
                                        Value::Str(name) => Some((name.clone(), k.span)),
                                        _ => None,
                                    },
                                ));
                            }
                        }
                    }
                    for item in items {
                        list.extend(
                            self.combination(item, &format!("each entry of {what}.{}", key.value)),
                        );
                    }
                    if key.value == "include" {
                        matrix.include = list;
                    } else {
                        matrix.exclude = list;
                    }
                }
                axis => {
                    let field = format!("{what}.{axis}");
                    let Value::Seq(items) = &value.value else {
                        self.type_error(value, &field, "a list of values");
                        continue;
                    };
                    if items.is_empty() {
                        self.error(value.span, format!("{field} has no values"));
                        continue;
                    }
                    let values = items
                        .iter()
                        .filter_map(|i| self.matrix_value(i, &field))
                        .collect();
                    matrix
                        .axes
                        .push((Sp::new(axis.to_owned(), key.span), values));
                }
            }
        }
        for entry in &matrix.exclude {
            for (axis, _) in entry {
                if !matrix.axes.iter().any(|(a, _)| &a.value == axis) {
                    let axes = matrix.axes.iter().map(|(a, _)| a.value.as_str());
                    let at = exclude_keys
                        .iter()
                        .find(|(name, _)| name == axis)
                        .map_or(node.span, |(_, span)| *span);
                    let mut problem = Problem::at(
                        self.source,
                        at,
                        format!("{what}.exclude names `{axis}`, which is not an axis"),
                    )
                    .with_label("not an axis");
                    problem.help = did_you_mean(axis, axes);
                    self.problems.push(problem);
                }
            }
        }
        Some(matrix)
    }

    pub(super) fn combination(&mut self, node: &Node, what: &str) -> Option<Combination> {
        let entries = self.map(node, what, None)?;
        Some(
            entries
                .into_iter()
                .filter_map(|(k, v)| Some((k.value.to_owned(), self.matrix_value(v, what)?)))
                .collect(),
        )
    }
}
