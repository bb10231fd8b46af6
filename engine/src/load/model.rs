//! The playbook as orch understands it, after decoding and checking.

use std::time::Duration;

use indexmap::IndexMap;

use crate::load::diag::{SourceFile, Sp};

/// A scalar value (vars, matrix values): kept as the user wrote it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Scalar {
    Null,
    Bool(bool),
    /// A number, as text (so `3.10` and `3.1` stay what YAML made of them, and Eq holds).
    Number(String),
    Str(String),
    /// A map or a list (a matrix value may be an object, as on GitHub: `matrix.target.os`),
    /// as JSON text (keys in the order written), so it compares, orders and hashes as text.
    Json(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Null => Ok(()),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Number(n) | Scalar::Str(n) | Scalar::Json(n) => f.write_str(n),
        }
    }
}

impl Scalar {
    /// The value with its type, for keys: `--matrix debug=false` (text) and a playbook's
    /// `false` read differently in expressions, so they must not share a key.
    pub fn key_text(&self) -> String {
        match self {
            Scalar::Null => "null".to_owned(),
            Scalar::Str(s) => serde_json::Value::String(s.clone()).to_string(),
            other => other.to_string(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Scalar::Null => serde_json::Value::Null,
            Scalar::Bool(b) => serde_json::Value::Bool(*b),
            Scalar::Number(n) => n.parse::<serde_json::Number>().map_or_else(
                |_| serde_json::Value::String(n.clone()),
                serde_json::Value::Number,
            ),
            Scalar::Str(s) => serde_json::Value::String(s.clone()),
            Scalar::Json(text) => serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// `success:` (AitherZero's `SuccessCriteria`): the run succeeds when every rule holds,
/// over the nodes' real outcomes (a continue-on-error node that failed did not succeed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SuccessCriteria {
    /// Every node succeeds, but those `continue-on-error` or of `allowed_failures` jobs.
    pub require_all: bool,
    /// At least this many nodes succeed.
    pub minimum_count: Option<u32>,
    /// At least this share of the run's nodes succeed, in thousandths.
    pub minimum_rate_permille: Option<u32>,
    /// Jobs whose every node must succeed, continue-on-error or not.
    pub critical: Vec<Sp<String>>,
    /// Jobs whose failures `require_all` does not count.
    pub allowed_failures: Vec<Sp<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Playbook {
    pub source: SourceFile,
    pub name: Option<String>,
    pub description: Option<String>,
    pub vars: IndexMap<String, Sp<Scalar>>,
    pub env: Vec<(String, Sp<String>)>,
    pub secrets: Vec<Sp<String>>,
    /// Secrets declared `required: false`: unset, they read as `""` instead of an error.
    pub optional_secrets: Vec<String>,
    pub defaults: Defaults,
    pub requires: Requires,
    /// `success:`: when the run counts as a success, if not by orch's usual rule.
    pub success: Option<SuccessCriteria>,
    pub profiles: IndexMap<String, Profile>,
    /// A reusable playbook's parameters.
    pub inputs: IndexMap<String, InputDecl>,
    /// A reusable playbook's outputs: name → expression over `jobs.<id>.outputs.<name>`.
    pub outputs: Vec<(String, Sp<String>)>,
    pub jobs: IndexMap<String, Job>,
    /// Set when the file is a GitHub Actions workflow (see `decode::workflow`).
    pub workflow: Option<Box<Workflow>>,
    /// Set when the file is a GitHub action's `action.yml` (see `decode::action`): how it
    /// runs. A composite action's steps are its one job, [`ACTION_JOB`].
    pub action: Option<Box<ActionRuns>>,
}

/// The id of the one job a composite action's steps decode into.
pub const ACTION_JOB: &str = "action";

/// `runs:` of a GitHub action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ActionRuns {
    /// `using: composite`: its steps are the playbook's one job.
    Composite,
    /// `using: node20` (any `nodeNN`): `main` (and `pre`, `post`) run with `node`.
    Node {
        using: String,
        main: String,
        pre: Option<String>,
        post: Option<String>,
    },
    /// `using: docker`: not run on a local run.
    Docker { image: String },
}

/// What a GitHub Actions workflow says beyond orch's model: its triggers, and the keys a
/// local run reads but cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Workflow {
    pub triggers: Vec<Trigger>,
    /// `permissions`, `concurrency`, `environment`, `services`, `container`: where they
    /// are and what a local run does instead.
    pub not_applied: Vec<NotApplied>,
}

/// One event of `on:`, with its filters (globs as GitHub writes them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trigger {
    pub event: Sp<String>,
    pub branches: Vec<String>,
    pub branches_ignore: Vec<String>,
    pub tags: Vec<String>,
    pub tags_ignore: Vec<String>,
    pub paths: Vec<String>,
    pub paths_ignore: Vec<String>,
}

impl Trigger {
    /// The event with no filters.
    pub fn new(event: Sp<String>) -> Self {
        Self {
            event,
            branches: Vec::new(),
            branches_ignore: Vec::new(),
            tags: Vec::new(),
            tags_ignore: Vec::new(),
            paths: Vec::new(),
            paths_ignore: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotApplied {
    /// `permissions`, `jobs.build.services`, …
    pub key: String,
    pub span: crate::load::diag::Span,
    pub why: std::borrow::Cow<'static, str>,
}

impl Playbook {
    /// A playbook with nothing in it yet, for a decoder to fill.
    pub fn empty(source: SourceFile) -> Self {
        Self {
            source,
            name: None,
            description: None,
            vars: IndexMap::new(),
            env: Vec::new(),
            secrets: Vec::new(),
            optional_secrets: Vec::new(),
            defaults: Defaults::default(),
            requires: Requires::default(),
            success: None,
            profiles: IndexMap::new(),
            inputs: IndexMap::new(),
            outputs: Vec::new(),
            jobs: IndexMap::new(),
            workflow: None,
            action: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputDecl {
    pub name: Sp<String>,
    pub description: Option<String>,
    pub default: Option<String>,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Defaults {
    pub shell: Option<Shell>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub working_directory: Option<Sp<String>>,
    pub inputs: Option<Vec<Sp<String>>>,
    /// Tools in every job's key, besides each job's own.
    pub tools: Vec<Sp<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Requires {
    pub commands: Vec<Sp<String>>,
    pub env: Vec<Sp<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub vars: Vec<(String, String)>,
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Shell {
    Bash,
    Sh,
    Python,
    Pwsh,
    Node,
    /// A command template with `{0}` for the script file.
    Template(String),
}

impl Shell {
    pub fn parse(text: &str) -> Option<Shell> {
        Some(match text {
            "bash" => Shell::Bash,
            "sh" => Shell::Sh,
            "python" => Shell::Python,
            "pwsh" => Shell::Pwsh,
            "node" => Shell::Node,
            t if t.contains("{0}") => Shell::Template(t.to_owned()),
            _ => return None,
        })
    }

    /// The program that interprets the node's scripts (a template's first word).
    pub fn program(&self) -> &str {
        match self {
            Shell::Bash => "bash",
            Shell::Sh => "sh",
            Shell::Python => "python3",
            Shell::Pwsh => "pwsh",
            Shell::Node => "node",
            Shell::Template(template) => template.split_whitespace().next().unwrap_or_default(),
        }
    }

    /// The program and arguments that run `script_file`.
    pub fn command_line(&self, script_file: &str) -> Vec<String> {
        let fixed: &[&str] = match self {
            Shell::Bash => &["bash", "--noprofile", "--norc", "-eo", "pipefail"],
            Shell::Sh => &["sh", "-e"],
            Shell::Python => &["python3"],
            Shell::Pwsh => &["pwsh", "-command", ". '{0}'"],
            Shell::Node => &["node"],
            Shell::Template(template) => {
                return template
                    .split_whitespace()
                    .map(|word| word.replace("{0}", script_file))
                    .collect();
            }
        };
        let mut line: Vec<String> = fixed
            .iter()
            .map(|s| s.replace("{0}", script_file))
            .collect();
        if !matches!(self, Shell::Pwsh) {
            line.push(script_file.to_owned());
        }
        line
    }

    /// The program and arguments that run `text` given inline (`-c`), for the shells that
    /// take one; `None` for those that need a file.
    pub fn inline(&self, text: &str) -> Option<Vec<String>> {
        let fixed: &[&str] = match self {
            Shell::Bash => &["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"],
            Shell::Sh => &["sh", "-e", "-c"],
            Shell::Python => &["python3", "-c"],
            Shell::Node => &["node", "-e"],
            Shell::Pwsh | Shell::Template(_) => return None,
        };
        let mut line: Vec<String> = fixed.iter().map(|s| (*s).to_owned()).collect();
        line.push(text.to_owned());
        Some(line)
    }

    pub fn name(&self) -> &str {
        match self {
            Shell::Bash => "bash",
            Shell::Sh => "sh",
            Shell::Python => "python",
            Shell::Pwsh => "pwsh",
            Shell::Node => "node",
            Shell::Template(t) => t,
        }
    }
}

/// A job's `remote:`: whether its nodes go to `--remote-exec`, and with which platform
/// properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RemotePolicy {
    /// Not said: the nodes go when `--remote-exec-jobs all` (the default).
    #[default]
    Unsaid,
    /// `remote: false`: always here.
    Never,
    /// `remote: true`, or a map of platform properties the executing machine must offer.
    Wanted(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub id: Sp<String>,
    pub name: Option<Sp<String>>,
    pub description: Option<String>,
    pub command: Command,
    pub shell: Option<Shell>,
    pub needs: Vec<Sp<String>>,
    pub condition: Option<Sp<String>>,
    pub matrix: Option<Matrix>,
    pub strategy: Strategy,
    pub env: Vec<(String, Sp<String>)>,
    pub working_directory: Option<Sp<String>>,
    pub inputs: Option<Vec<Sp<String>>>,
    pub env_inputs: Vec<Sp<String>>,
    /// Programs whose identity (the executable PATH finds) is part of the key.
    pub tools: Vec<Sp<String>>,
    pub outputs: Vec<Sp<String>>,
    pub cache: bool,
    pub remote: RemotePolicy,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub continue_on_error: bool,
    /// `continue-on-error` written as an expression (`${{ matrix.experimental }}`),
    /// decided per node when it fails.
    pub continue_on_error_expr: Option<Sp<String>>,
    /// `after:`: jobs this one starts after when they are in the run — order only: not
    /// data, not in the key, not brought in by selecting this job.
    pub after: Vec<Sp<String>>,
    /// A workflow job's `concurrency` group: the nodes of every job in one group run one
    /// at a time.
    pub concurrency: Option<Sp<String>>,
    /// A workflow's `runs-on` labels (each may be an expression): a job whose labels do
    /// not name this host is skipped. Empty for orch's own jobs.
    pub runs_on: Vec<Sp<String>>,
    /// A workflow job's `outputs:` map: name → expression over `steps`. When given, the
    /// job's outputs are these, not every name its steps wrote.
    pub output_map: Vec<(String, Sp<String>)>,
    /// A `timeout-minutes` written as an expression, rendered per node.
    pub timeout_minutes: Option<Sp<String>>,
    /// `artifacts:`: files kept for the run after a success, by name (`None`: the node's
    /// id), each a list of patterns.
    pub artifacts: Vec<ArtifactDecl>,
}

/// One entry of `artifacts:`: its name (`None`: the node's id) and its patterns.
pub type ArtifactDecl = (Option<Sp<String>>, Vec<Sp<String>>);

impl Job {
    /// A job with its id and every field at its default; `at` is where its body is.
    pub fn new(id: Sp<String>, at: crate::load::diag::Span) -> Self {
        Self {
            id,
            name: None,
            description: None,
            command: Command::Run(Sp::new(String::new(), at)),
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
            remote: RemotePolicy::Unsaid,
            timeout: None,
            retries: None,
            continue_on_error: false,
            continue_on_error_expr: None,
            after: Vec::new(),
            concurrency: None,
            runs_on: Vec::new(),
            output_map: Vec::new(),
            timeout_minutes: None,
            artifacts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    Run(Sp<String>),
    Script {
        path: Sp<String>,
        args: Vec<Arg<Sp<String>>>,
    },
    Steps(Vec<Step>),
    Uses {
        path: Sp<String>,
        with: Vec<(String, Sp<String>)>,
    },
}

/// One `args` entry: a word, or `{ option: -Name, value: … }`, the option and its value
/// as two words, or neither when the value renders empty (so the script's default holds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Arg<T> {
    pub option: Option<String>,
    pub value: T,
}

impl<T> Arg<T> {
    pub fn word(value: T) -> Self {
        Arg {
            option: None,
            value,
        }
    }

    /// The same entry with its value mapped (decoded text to a template, a template to
    /// its rendering).
    pub fn map<U>(&self, f: impl FnOnce(&T) -> U) -> Arg<U> {
        Arg {
            option: self.option.clone(),
            value: f(&self.value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// What `steps.<id>` names it by in later steps' `if`.
    pub id: Option<Sp<String>>,
    pub name: Option<Sp<String>>,
    pub command: Command,
    pub env: Vec<(String, Sp<String>)>,
    pub condition: Option<Sp<String>>,
    pub continue_on_error: bool,
    /// The step's own interpreter, folder and time limit, in place of the job's.
    pub shell: Option<Shell>,
    pub working_directory: Option<Sp<String>>,
    pub timeout: Option<Duration>,
    /// A workflow step's `continue-on-error` and `timeout-minutes` written as
    /// expressions, rendered when its node starts.
    pub continue_on_error_expr: Option<Sp<String>>,
    pub timeout_minutes: Option<Sp<String>>,
}

impl Step {
    /// A step with every field at its default; `at` is where it is written.
    pub fn new(at: crate::load::diag::Span) -> Self {
        Self {
            id: None,
            name: None,
            command: Command::Run(Sp::new(String::new(), at)),
            env: Vec::new(),
            condition: None,
            continue_on_error: false,
            shell: None,
            working_directory: None,
            timeout: None,
            continue_on_error_expr: None,
            timeout_minutes: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Strategy {
    pub fail_fast: bool,
    pub max_parallel: Option<usize>,
}

impl Default for Strategy {
    fn default() -> Self {
        Self {
            fail_fast: true,
            max_parallel: None,
        }
    }
}

/// One combination's assignment: axis → value, in id order.
pub type Combination = Vec<(String, Scalar)>;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Matrix {
    pub axes: Vec<(Sp<String>, Vec<Scalar>)>,
    pub include: Vec<Combination>,
    pub exclude: Vec<Combination>,
    pub span: crate::load::diag::Span,
}

#[cfg(test)]
mod tests {
    use super::Scalar;

    #[test]
    fn key_text_keeps_the_type() {
        let texts: Vec<String> = [
            Scalar::Bool(false),
            Scalar::Str("false".into()),
            Scalar::Number("0".into()),
            Scalar::Str("0".into()),
            Scalar::Null,
            Scalar::Str(String::new()),
            Scalar::Str("null".into()),
        ]
        .iter()
        .map(Scalar::key_text)
        .collect();
        let distinct: std::collections::BTreeSet<&String> = texts.iter().collect();
        assert_eq!(distinct.len(), texts.len(), "{texts:?}");
    }
}
