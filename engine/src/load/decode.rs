//! Tree → model: every key and type checked, every problem collected with its place.

use std::time::Duration;

use indexmap::IndexMap;

use super::model::{
    Combination, Command, Defaults, InputDecl, Job, Matrix, Playbook, Profile, Requires, Scalar,
    Shell, Step, Strategy,
};
use super::tree::{Node, Value};
use crate::load::diag::{LoadError, Problem, SourceFile, Sp, Span, did_you_mean};

pub const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "vars",
    "env",
    "secrets",
    "defaults",
    "inputs",
    "outputs",
    "profiles",
    "requires",
    "jobs",
];
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
    "if",
    "matrix",
    "strategy",
    "env",
    "working-directory",
    "inputs",
    "env-inputs",
    "tools",
    "outputs",
    "cache",
    "timeout",
    "retries",
    "continue-on-error",
];
pub const STEP_KEYS: &[&str] = &[
    "name",
    "run",
    "script",
    "args",
    "env",
    "if",
    "continue-on-error",
];
const DEFAULTS_KEYS: &[&str] = &[
    "shell",
    "timeout",
    "retries",
    "working-directory",
    "inputs",
    "tools",
];
const STRATEGY_KEYS: &[&str] = &["fail-fast", "max-parallel"];
const REQUIRES_KEYS: &[&str] = &["commands", "env"];
const PROFILE_KEYS: &[&str] = &["vars", "targets", "description"];
const INPUT_KEYS: &[&str] = &["description", "default", "required", "type"];

/// Decodes a parsed tree into a playbook, or every problem found on the way.
pub fn decode(source: &SourceFile, root: &Node) -> Result<Playbook, LoadError> {
    let mut d = Decoder {
        source,
        problems: Vec::new(),
    };
    let playbook = d.playbook(root);
    match playbook {
        Some(p) if d.problems.is_empty() => Ok(p),
        _ => {
            if d.problems.is_empty() {
                d.problems
                    .push(Problem::at(source, root.span, "the playbook is not valid"));
            }
            Err(LoadError {
                problems: d.problems,
            })
        }
    }
}

struct Decoder<'s> {
    source: &'s SourceFile,
    problems: Vec<Problem>,
}

/// `NAME: text` pairs (env, with).
type NamedTexts = Vec<(String, Sp<String>)>;

/// A map's entries with their names, after the keys were checked.
type Entries<'a> = Vec<(Sp<&'a str>, &'a Node)>;

impl Decoder<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.problems.push(Problem::at(self.source, span, message));
    }

    fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        let problem = Problem::at(
            self.source,
            node.span,
            format!("{what} must be {expected}, found {}", node.kind()),
        )
        .with_label(format!("expected {expected}"));
        self.problems.push(problem);
    }

    /// The entries of a map, checking each key against `allowed`.
    fn map<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
        allowed: Option<&[&str]>,
    ) -> Option<Entries<'a>> {
        let Value::Map(pairs) = &node.value else {
            self.type_error(node, what, "a map");
            return None;
        };
        let mut entries: Entries<'a> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let Value::Str(name) = &key.value else {
                self.type_error(key, &format!("a key in {what}"), "a string");
                continue;
            };
            if let Some(allowed) = allowed
                && !allowed.contains(&name.as_str())
            {
                let mut problem = Problem::at(
                    self.source,
                    key.span,
                    format!("unknown key `{name}` in {what}"),
                )
                .with_label("unknown key");
                problem.help = Some(
                    github_spelling(name)
                        .map(str::to_owned)
                        .or_else(|| did_you_mean(name, allowed.iter().copied()))
                        .unwrap_or_else(|| format!("expected one of: {}", allowed.join(", "))),
                );
                self.problems.push(problem);
                continue;
            }
            if entries.iter().any(|(k, _)| k.value == name.as_str()) {
                self.error(key.span, format!("duplicate key `{name}` in {what}"));
                continue;
            }
            entries.push((Sp::new(name.as_str(), key.span), value));
        }
        Some(entries)
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<Sp<String>> {
        match &node.value {
            Value::Str(s) => Some(Sp::new(s.clone(), node.span)),
            _ => {
                self.type_error(node, what, "a string");
                None
            }
        }
    }

    /// A string, or a number or boolean taken as its text (env values, `with`, args).
    fn text(&mut self, node: &Node, what: &str) -> Option<Sp<String>> {
        match &node.value {
            Value::Seq(_) | Value::Map(_) => {
                self.type_error(node, what, "a string");
                None
            }
            Value::Str(s) => Some(Sp::new(s.clone(), node.span)),
            _ => Some(Sp::new(self.as_written(node), node.span)),
        }
    }

    /// A plain number or boolean exactly as written (`3.10` stays `3.10`).
    fn as_written(&self, node: &Node) -> String {
        let written = self
            .source
            .text
            .get(node.span.offset..node.span.offset + node.span.len)
            .map(str::trim)
            .filter(|t| !t.is_empty() && !t.contains(['\n', '{', '[', ',', ':']));
        match written {
            Some(t) => t.to_owned(),
            None => node.scalar_text().unwrap_or_default(),
        }
    }

    fn scalar(&mut self, node: &Node, what: &str) -> Option<Scalar> {
        Some(match &node.value {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Int(_) | Value::Float(_) => Scalar::Number(self.as_written(node)),
            Value::Str(s) => Scalar::Str(s.clone()),
            Value::Seq(_) | Value::Map(_) => {
                self.type_error(node, what, "a string, number or boolean");
                return None;
            }
        })
    }

    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.type_error(node, what, "true or false");
                None
            }
        }
    }

    fn count(&mut self, node: &Node, what: &str) -> Option<u32> {
        match node.value {
            Value::Int(i) if i >= 0 => u32::try_from(i).ok().or_else(|| {
                self.error(node.span, format!("{what} is too large"));
                None
            }),
            _ => {
                self.type_error(node, what, "a whole number of at least 0");
                None
            }
        }
    }

    /// A list of strings; `single` also allows one bare string.
    fn strings(&mut self, node: &Node, what: &str, single: bool) -> Option<Vec<Sp<String>>> {
        match &node.value {
            Value::Str(s) if single => Some(vec![Sp::new(s.clone(), node.span)]),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.extend(self.string(item, &format!("each entry of {what}")));
                }
                Some(out)
            }
            _ => {
                let expected = if single {
                    "a string or a list of strings"
                } else {
                    "a list of strings"
                };
                self.type_error(node, what, expected);
                None
            }
        }
    }

    fn env(&mut self, node: &Node, what: &str) -> Vec<(String, Sp<String>)> {
        let Some(entries) = self.map(node, what, None) else {
            return Vec::new();
        };
        entries
            .into_iter()
            .filter_map(|(k, v)| {
                let value = self.text(v, &format!("{what}.{}", k.value))?;
                Some((k.value.to_owned(), value))
            })
            .collect()
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = match &node.value {
            Value::Str(s) => s.as_str(),
            _ => {
                self.type_error(node, what, "a duration like `90s`, `10m` or `1h30m`");
                return None;
            }
        };
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(why) => {
                let problem = Problem::at(
                    self.source,
                    node.span,
                    format!("bad duration `{text}` in {what}: {why}"),
                )
                .with_label("not a duration")
                .with_help(
                    "write a number and a unit (ms, s, m, h, d), e.g. `90s`, `10m`, `1h30m`",
                );
                self.problems.push(problem);
                None
            }
        }
    }

    fn shell(&mut self, node: &Node, what: &str) -> Option<Shell> {
        let text = self.string(node, what)?;
        let shell = Shell::parse(&text.value);
        if shell.is_none() {
            let problem = Problem::at(self.source, node.span, format!("unknown shell `{}`", text.value))
                .with_help(
                    did_you_mean(&text.value, ["bash", "sh", "python", "pwsh", "node"]).unwrap_or_else(|| {
                        "use bash, sh, python, pwsh, node, or a command containing {0} for the script file".into()
                    }),
                );
            self.problems.push(problem);
        }
        shell
    }

    /// `secrets: [A, B]`, or `secrets: { A: { description, required } }` (as GitHub's
    /// reusable workflows write them); each is required unless `required: false`.
    fn secrets(&mut self, node: &Node, playbook: &mut Playbook) {
        if !matches!(node.value, Value::Map(_)) {
            playbook.secrets = self.strings(node, "secrets", false).unwrap_or_default();
            return;
        }
        for (name, declared) in self.map(node, "secrets", None).unwrap_or_default() {
            playbook
                .secrets
                .push(Sp::new(name.value.to_owned(), name.span));
            let what = format!("secrets.{}", name.value);
            if matches!(declared.value, Value::Null) {
                continue;
            }
            for (key, value) in self
                .map(declared, &what, Some(&["description", "required"]))
                .unwrap_or_default()
            {
                if key.value == "required"
                    && self.bool(value, &format!("{what}.required")) == Some(false)
                {
                    playbook.optional_secrets.push(name.value.to_owned());
                } else if key.value == "description" {
                    self.text(value, &format!("{what}.description"));
                }
            }
        }
    }

    fn playbook(&mut self, root: &Node) -> Option<Playbook> {
        let entries = self.map(root, "the playbook", Some(TOP_KEYS))?;
        let mut playbook = Playbook {
            source: self.source.clone(),
            name: None,
            description: None,
            vars: IndexMap::new(),
            env: Vec::new(),
            secrets: Vec::new(),
            optional_secrets: Vec::new(),
            defaults: Defaults::default(),
            requires: Requires::default(),
            profiles: IndexMap::new(),
            inputs: IndexMap::new(),
            outputs: Vec::new(),
            jobs: IndexMap::new(),
        };
        let mut saw_jobs = false;
        for (key, value) in entries {
            match key.value {
                "name" => playbook.name = self.text(value, "name").map(|s| s.value),
                "description" => {
                    playbook.description = self.text(value, "description").map(|s| s.value)
                }
                "vars" => {
                    for (k, v) in self.map(value, "vars", None).unwrap_or_default() {
                        if let Some(scalar) = self.scalar(v, &format!("vars.{}", k.value)) {
                            playbook
                                .vars
                                .insert(k.value.to_owned(), Sp::new(scalar, v.span));
                        }
                    }
                }
                "env" => playbook.env = self.env(value, "env"),
                "secrets" => self.secrets(value, &mut playbook),
                "defaults" => playbook.defaults = self.defaults(value),
                "requires" => playbook.requires = self.requires(value),
                "profiles" => playbook.profiles = self.profiles(value),
                "inputs" => playbook.inputs = self.inputs(value),
                "outputs" => playbook.outputs = self.env(value, "outputs"),
                "jobs" => {
                    saw_jobs = true;
                    for (id, job) in self.map(value, "jobs", None).unwrap_or_default() {
                        if let Some(job) = self.job(id, job) {
                            playbook.jobs.insert(job.id.value.clone(), job);
                        }
                    }
                }
                _ => unreachable!("keys were checked against TOP_KEYS"),
            }
        }
        if !saw_jobs {
            let problem = Problem::at(
                self.source,
                Span::new(root.span.offset, 0),
                "the playbook has no `jobs`",
            )
            .with_help("add a `jobs:` map, e.g. `jobs: { hello: { run: echo hello } }`");
            self.problems.push(problem);
        }
        Some(playbook)
    }

    fn inputs(&mut self, node: &Node) -> IndexMap<String, InputDecl> {
        let mut inputs = IndexMap::new();
        for (name, body) in self.map(node, "inputs", None).unwrap_or_default() {
            let what = format!("input `{}`", name.value);
            let mut input = InputDecl {
                name: Sp::new(name.value.to_owned(), name.span),
                description: None,
                default: None,
                required: false,
            };
            for (key, value) in self.map(body, &what, Some(INPUT_KEYS)).unwrap_or_default() {
                match key.value {
                    "description" => input.description = self.text(value, &what).map(|s| s.value),
                    "default" => input.default = self.text(value, &what).map(|s| s.value),
                    "required" => {
                        input.required = self
                            .bool(value, &format!("{what}.required"))
                            .unwrap_or(false)
                    }
                    "type" => {
                        self.text(value, &what);
                    }
                    _ => unreachable!("keys were checked"),
                }
            }
            inputs.insert(name.value.to_owned(), input);
        }
        inputs
    }

    fn defaults(&mut self, node: &Node) -> Defaults {
        let mut defaults = Defaults::default();
        for (key, value) in self
            .map(node, "defaults", Some(DEFAULTS_KEYS))
            .unwrap_or_default()
        {
            match key.value {
                "shell" => defaults.shell = self.shell(value, "defaults.shell"),
                "timeout" => defaults.timeout = self.duration(value, "defaults.timeout"),
                "retries" => defaults.retries = self.count(value, "defaults.retries"),
                "working-directory" => {
                    defaults.working_directory = self.string(value, "defaults.working-directory");
                }
                "inputs" => defaults.inputs = self.strings(value, "defaults.inputs", false),
                "tools" => {
                    defaults.tools = self
                        .strings(value, "defaults.tools", false)
                        .unwrap_or_default()
                }
                _ => unreachable!("keys were checked"),
            }
        }
        defaults
    }

    fn requires(&mut self, node: &Node) -> Requires {
        let mut requires = Requires::default();
        for (key, value) in self
            .map(node, "requires", Some(REQUIRES_KEYS))
            .unwrap_or_default()
        {
            let list = self
                .strings(value, &format!("requires.{}", key.value), false)
                .unwrap_or_default();
            match key.value {
                "commands" => requires.commands = list,
                "env" => requires.env = list,
                _ => unreachable!("keys were checked"),
            }
        }
        requires
    }

    fn profiles(&mut self, node: &Node) -> IndexMap<String, Profile> {
        let mut profiles = IndexMap::new();
        for (name, body) in self.map(node, "profiles", None).unwrap_or_default() {
            let what = format!("profile `{}`", name.value);
            let mut profile = Profile::default();
            for (key, value) in self
                .map(body, &what, Some(PROFILE_KEYS))
                .unwrap_or_default()
            {
                match key.value {
                    "vars" => {
                        for (k, v) in self
                            .map(value, &format!("{what} vars"), None)
                            .unwrap_or_default()
                        {
                            if let Some(text) = self.text(v, &format!("vars.{}", k.value)) {
                                profile.vars.push((k.value.to_owned(), text.value));
                            }
                        }
                    }
                    "targets" => {
                        profile.targets = self
                            .strings(value, &format!("{what} targets"), true)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|t| t.value)
                            .collect();
                    }
                    "description" => {
                        self.text(value, "description");
                    }
                    _ => unreachable!("keys were checked"),
                }
            }
            profiles.insert(name.value.to_owned(), profile);
        }
        profiles
    }

    fn job(&mut self, id: Sp<&str>, node: &Node) -> Option<Job> {
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
        let mut job = Job {
            id: Sp::new(id.value.to_owned(), id.span),
            name: None,
            description: None,
            command: Command::Run(Sp::new(String::new(), node.span)),
            shell: None,
            needs: Vec::new(),
            condition: None,
            matrix: None,
            strategy: Strategy::default(),
            env: Vec::new(),
            working_directory: None,
            inputs: None,
            env_inputs: Vec::new(),
            tools: Vec::new(),
            outputs: Vec::new(),
            cache: true,
            timeout: None,
            retries: None,
            continue_on_error: false,
        };
        let mut commands: Vec<(Sp<&str>, Command)> = Vec::new();
        let mut args: Option<(Span, Vec<Sp<String>>)> = None;
        let mut with: Option<(Span, NamedTexts)> = None;
        for (key, value) in entries {
            let field = format!("{}.{}", id.value, key.value);
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
                "cache" => job.cache = self.bool(value, &field).unwrap_or(true),
                "timeout" => job.timeout = self.duration(value, &field),
                "retries" => job.retries = self.count(value, &field),
                "continue-on-error" => {
                    job.continue_on_error = self.bool(value, &field).unwrap_or(false)
                }
                _ => unreachable!("keys were checked against JOB_KEYS"),
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

    fn args(&mut self, node: &Node, what: &str) -> Option<Vec<Sp<String>>> {
        let Value::Seq(items) = &node.value else {
            self.type_error(node, what, "a list");
            return None;
        };
        Some(items.iter().filter_map(|i| self.text(i, what)).collect())
    }

    fn steps(&mut self, node: &Node, what: &str) -> Option<Vec<Step>> {
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
            let mut step = Step {
                name: None,
                command: Command::Run(Sp::new(String::new(), item.span)),
                env: Vec::new(),
                condition: None,
                continue_on_error: false,
            };
            let mut command = None;
            let mut args = Vec::new();
            for (key, value) in entries {
                let field = format!("{what}.{}", key.value);
                match key.value {
                    "name" => step.name = self.text(value, &field),
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

    fn strategy(&mut self, node: &Node, what: &str) -> Strategy {
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

    fn matrix(&mut self, node: &Node, what: &str) -> Option<Matrix> {
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
                        .filter_map(|i| self.scalar(i, &field))
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

    fn combination(&mut self, node: &Node, what: &str) -> Option<Combination> {
        let entries = self.map(node, what, None)?;
        Some(
            entries
                .into_iter()
                .filter_map(|(k, v)| Some((k.value.to_owned(), self.scalar(v, what)?)))
                .collect(),
        )
    }
}

pub fn is_job_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `90s`, `10m`, `1h30m`, `500ms`, `2d`.
/// The orch way to say what a GitHub Actions key says, for a key orch does not take: a
/// workflow habit deserves the right spelling, not the nearest word.
fn github_spelling(key: &str) -> Option<&'static str> {
    Some(match key {
        "on" => "orch has no triggers: `orch run` (or CI calling it) runs the playbook; drop `on:`",
        "runs-on" | "container" | "services" => {
            "orch runs jobs on this machine; `requires:` checks the commands and env they need"
        }
        "timeout-minutes" => "orch spells it `timeout: 10m`",
        "id" => {
            "an orch step is named with `name:`; values go to \"$ORCH_OUTPUT\" as the job's outputs"
        }
        "permissions" | "concurrency" | "environment" => "not an orch key: drop it",
        "defaults.run" | "run-name" => {
            "orch spells defaults as `defaults: { shell: bash, working-directory: dir }`"
        }
        "matrix" => "orch puts `matrix:` on the job itself, beside `strategy:`",
        _ => return None,
    })
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| "the number is too large".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "d" => Duration::from_secs(number.saturating_mul(86400)),
            "" => return Err("a unit is missing after the number".into()),
            other => return Err(format!("unknown unit `{other}`")),
        };
        total = total.checked_add(part).ok_or("it is too long")?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::tree;

    fn load(text: &str) -> Result<Playbook, LoadError> {
        let source = SourceFile {
            path: "orch.yml".into(),
            text: text.into(),
        };
        let root = tree::parse(&source).map_err(LoadError::from)?;
        decode(&source, &root)
    }

    fn first_problem(text: &str) -> Problem {
        load(text).unwrap_err().problems.remove(0)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn decodes_a_job() {
        let playbook = load(
            "jobs:\n  build:\n    run: make\n    needs: lint\n    timeout: 10m\n    retries: 2\n  lint:\n    script: lint.sh\n    args: [--fix, 3]\n",
        )
        .unwrap();
        let build = &playbook.jobs["build"];
        assert_eq!(build.needs[0].value, "lint");
        assert_eq!(build.timeout, Some(Duration::from_secs(600)));
        assert_eq!(build.retries, Some(2));
        let Command::Script { args, .. } = &playbook.jobs["lint"].command else {
            panic!("not a script")
        };
        assert_eq!(
            args.iter().map(|a| a.value.as_str()).collect::<Vec<_>>(),
            ["--fix", "3"]
        );
    }

    #[test]
    fn unknown_key_suggests() {
        let problem = first_problem("jobs:\n  build:\n    rnu: make\n");
        assert_eq!(problem.message, "unknown key `rnu` in job `build`");
        assert_eq!(problem.help.as_deref(), Some("did you mean `run`?"));
        assert_eq!(problem.location().as_deref(), Some("orch.yml:3:5"));
    }

    #[test]
    fn wrong_type_is_located() {
        let playbook =
            load("vars: { py: 3.10, n: 7 }\njobs:\n  a: { run: x, env: { V: 3.10, Y: yes } }\n")
                .unwrap();
        assert_eq!(playbook.vars["py"].value, Scalar::Number("3.10".into()));
        assert_eq!(playbook.vars["n"].value, Scalar::Number("7".into()));
        let env: Vec<_> = playbook.jobs["a"]
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(env, [("V", "3.10"), ("Y", "yes")]);

        let problem = first_problem("jobs:\n  build:\n    run: [a]\n");
        assert_eq!(problem.message, "build.run must be a string, found a list");
        assert_eq!(problem.location().as_deref(), Some("orch.yml:3:10"));
    }

    #[test]
    fn bad_duration_is_located() {
        let problem = first_problem("jobs:\n  build:\n    run: x\n    timeout: 10 minutes\n");
        assert!(
            problem.message.starts_with("bad duration `10 minutes`"),
            "{}",
            problem.message
        );
        assert_eq!(problem.location().as_deref(), Some("orch.yml:4:14"));
    }

    #[test]
    fn exactly_one_command() {
        assert!(
            first_problem("jobs:\n  a: { name: x }\n")
                .message
                .contains("nothing to do")
        );
        let m = first_problem("jobs:\n  a: { run: x, script: y }\n").message;
        assert!(m.contains("both `run` and `script`"), "{m}");
    }

    #[test]
    fn invalid_job_id() {
        assert!(
            first_problem("jobs:\n  9lives: { run: x }\n")
                .message
                .contains("invalid job id")
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::load::tree;
    use proptest::prelude::*;

    proptest! {
        /// Any text, YAML-shaped or not, loads to a playbook or to located problems: no panic.
        #[test]
        fn loading_never_panics(text in "(jobs:\n  [a-z]{1,3}:\n    )?[a-z{}\\[\\]:,'\" \n${}.-]{0,120}") {
            let source = SourceFile { path: "orch.yml".into(), text: text.clone().into() };
            match tree::parse(&source) {
                Ok(root) => {
                    if let Err(e) = decode(&source, &root) {
                        prop_assert!(!e.problems.is_empty());
                    }
                }
                Err(problem) => prop_assert!(problem.span.is_some_and(|s| s.offset <= text.len())),
            }
        }
    }
}
