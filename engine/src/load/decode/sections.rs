//! The playbook's top-level sections: the document itself, secrets, inputs, defaults,
//! requires and profiles.

use indexmap::IndexMap;

use super::Decoder;
use crate::load::diag::{Problem, Sp, Span};
use crate::load::model::{Defaults, InputDecl, Playbook, Profile, Requires, SuccessCriteria};
use crate::load::tree::{Node, Value};

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
    "success",
    "jobs",
];

pub(super) const SUCCESS_KEYS: &[&str] = &[
    "require-all",
    "minimum-count",
    "minimum-rate",
    "critical",
    "allowed-failures",
];

pub(super) const DEFAULTS_KEYS: &[&str] = &[
    "shell",
    "timeout",
    "retries",
    "working-directory",
    "inputs",
    "tools",
];

pub(super) const REQUIRES_KEYS: &[&str] = &["commands", "env"];

pub(super) const PROFILE_KEYS: &[&str] = &["vars", "targets", "description"];

pub(super) const INPUT_KEYS: &[&str] = &["description", "default", "required", "type"];

impl Decoder<'_> {
    pub(super) fn playbook(&mut self, root: &Node) -> Option<Playbook> {
        let entries = self.map(root, "the playbook", Some(TOP_KEYS))?;
        let mut playbook = Playbook::empty(self.source.clone());
        let mut saw_jobs = false;
        for (key, value) in entries {
            let before = self.problems.len();
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
                "success" => playbook.success = Some(self.success(value)),
                "profiles" => playbook.profiles = self.profiles(value),
                "inputs" => playbook.inputs = self.inputs(value),
                "outputs" => playbook.outputs = self.env(value, "outputs"),
                "jobs" => {
                    saw_jobs = true;
                    self.jobs_into(value, &mut playbook, |d, id, job| d.job(id, job));
                }
                _ => unreachable!("keys were checked against TOP_KEYS"),
            }
            if self.problems.len() > before && key.value != "jobs" {
                self.undecoded.push(key.value.to_owned());
            }
        }
        // The jobs `success:` names are jobs of this playbook.
        if let Some(success) = &playbook.success {
            for name in success.critical.iter().chain(&success.allowed_failures) {
                if !playbook.jobs.contains_key(&name.value) {
                    let problem = Problem::at(
                        self.source,
                        name.span,
                        format!("`success:` names `{}`, which is not a job here", name.value),
                    )
                    .with_label("no such job");
                    self.problems.push(problem);
                }
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

    /// `secrets: [A, B]`, or `secrets: { A: { description, required } }` (as GitHub's
    /// reusable workflows write them); each is required unless `required: false`.
    pub(super) fn secrets(&mut self, node: &Node, playbook: &mut Playbook) {
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

    pub(super) fn inputs(&mut self, node: &Node) -> IndexMap<String, InputDecl> {
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

    pub(super) fn defaults(&mut self, node: &Node) -> Defaults {
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

    pub(super) fn requires(&mut self, node: &Node) -> Requires {
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

    /// `success: { require-all, minimum-count, minimum-rate, critical, allowed-failures }`.
    pub(super) fn success(&mut self, node: &Node) -> SuccessCriteria {
        let mut success = SuccessCriteria {
            require_all: true,
            minimum_count: None,
            minimum_rate_permille: None,
            critical: Vec::new(),
            allowed_failures: Vec::new(),
        };
        for (key, value) in self
            .map(node, "success", Some(SUCCESS_KEYS))
            .unwrap_or_default()
        {
            let what = format!("success.{}", key.value);
            match key.value {
                "require-all" => success.require_all = self.bool(value, &what).unwrap_or(true),
                "minimum-count" => success.minimum_count = self.count(value, &what),
                "minimum-rate" => {
                    let rate = match value.value {
                        Value::Float(f) => Some(f),
                        Value::Int(i) => Some(i as f64),
                        _ => None,
                    };
                    match rate.filter(|r| (0.0..=1.0).contains(r)) {
                        Some(r) => {
                            success.minimum_rate_permille = Some((r * 1000.0).round() as u32)
                        }
                        None => self.type_error(value, &what, "a number from 0 to 1"),
                    }
                }
                "critical" => {
                    success.critical = self.strings(value, &what, false).unwrap_or_default()
                }
                "allowed-failures" => {
                    success.allowed_failures = self.strings(value, &what, false).unwrap_or_default()
                }
                _ => unreachable!("keys were checked"),
            }
        }
        success
    }

    pub(super) fn profiles(&mut self, node: &Node) -> IndexMap<String, Profile> {
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
}
