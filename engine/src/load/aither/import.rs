//! An AitherZero playbook written as an orch playbook: the v2 JSON shape (stages of
//! sequences, parallel groups) and the flat JSON one, the v3 `jobs` shape, and the PSD1
//! shapes (a `Sequence` of items or of groups, a top-level `Scripts` list). Each
//! script number becomes a job `sNNNN` running its script with pwsh; what the old engine
//! read is honoured where orch can (order, timeouts, retries, continue-on-error,
//! variables as the parameters a script declares), and every field it ignored or orch
//! cannot express is a warning at its file:line, and a comment in the output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::condition;
use super::sequence::{self, Order, Script};
use crate::load::diag::{LoadError, Problem, SourceFile, Span};
use crate::load::model::Arg;
use crate::load::tree::{Node, Value};

/// The numbered scripts a playbook's sequences are resolved against.
#[derive(Debug, Clone)]
pub struct ScriptsFolder {
    /// As the written playbook names it (relative to its folder).
    pub path: PathBuf,
    pub scripts: Vec<Script>,
    /// Each script's `param()` names, by number.
    pub params: BTreeMap<u16, Vec<String>>,
    /// The other files of a number two or more files have (the first by name runs).
    pub also_numbered: BTreeMap<u16, Vec<String>>,
    /// The PowerShell that runs them: `pwsh`, or `powershell` where only that exists.
    pub interpreter: &'static str,
}

impl Default for ScriptsFolder {
    fn default() -> Self {
        ScriptsFolder {
            path: PathBuf::new(),
            scripts: Vec::new(),
            params: BTreeMap::new(),
            also_numbered: BTreeMap::new(),
            interpreter: "pwsh",
        }
    }
}

impl ScriptsFolder {
    /// Reads `dir` (its `NNNN_*.ps1` files, their headers and `param()` blocks); `shown`
    /// is how the written playbook names it.
    pub fn read(dir: &Path, shown: PathBuf) -> std::io::Result<ScriptsFolder> {
        // PowerShell 7 where it is on PATH; Windows PowerShell where only it is.
        let found = |program| crate::exec::process::locate(program, &[], dir).is_some();
        let interpreter = if !found("pwsh") && found("powershell") {
            "powershell"
        } else {
            "pwsh"
        };
        let mut folder = ScriptsFolder {
            path: shown,
            interpreter,
            ..ScriptsFolder::default()
        };
        let mut names: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
            if let Some(script) = Script::from_file(&name, &text) {
                // Two files with one number: the first by name is the one a number reaches.
                if folder.scripts.iter().any(|s| s.number == script.number) {
                    folder
                        .also_numbered
                        .entry(script.number)
                        .or_default()
                        .push(name);
                    continue;
                }
                folder.params.insert(script.number, param_names(&text));
                folder.scripts.push(script);
            }
        }
        Ok(folder)
    }
}

/// The names a script's `param(...)` block declares (`$Path`, `[switch]$All`); a
/// switch's name has a `-` in front (it takes no value).
fn param_names(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let Some(start) = lower.find("param(").or_else(|| lower.find("param (")) else {
        return Vec::new();
    };
    let body = &text[start..];
    let mut depth = 0usize;
    let mut end = body.len();
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let mut names = Vec::new();
    let block = &body[..end];
    let mut rest = block;
    while let Some(at) = rest.find('$') {
        let name: String = rest[at + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let lower = name.to_ascii_lowercase();
        let switch = rest[..at]
            .to_ascii_lowercase()
            .trim_end()
            .ends_with("[switch]");
        if !name.is_empty()
            && !["true", "false", "null", "env"].contains(&lower.as_str())
            && !names
                .iter()
                .any(|n: &String| n.trim_start_matches('-') == name)
        {
            names.push(if switch { format!("-{name}") } else { name });
        }
        rest = &rest[at + 1..];
    }
    names
}

/// The written playbook, and what the old engine ignored or orch cannot express.
#[derive(Debug, Clone)]
pub struct Imported {
    pub yaml: String,
    pub warnings: Vec<Problem>,
}

/// A map's entries, by key as written.
type Entries<'n> = Vec<(String, &'n Node)>;

/// A profile's name and the vars it sets.
type ImportedProfile = (String, Vec<(String, String)>);

/// One job to write.
struct JobOut {
    number: u16,
    /// Where it came from (`stage "Syntax Validation": 0407`).
    from: String,
    description: Option<String>,
    args: Vec<Arg<String>>,
    timeout_secs: Option<i64>,
    retries: Option<i64>,
    continue_on_error: bool,
    /// The jobs it runs after: order only (the old engine passed no data between them).
    after: Vec<String>,
    after_failure: bool,
    /// `sNNNN`, or `sNNNN-K` for the K-th parallel group that runs the script again.
    id: String,
    /// A parallel group's runs of the script, each its variables: `matrix.include`.
    legs: Vec<Vec<(String, String)>>,
    /// A v3 job's `strategy.matrix`: each axis and its values.
    axes: Vec<(String, Vec<String>)>,
    max_parallel: Option<i64>,
    fail_fast: bool,
    /// A v3 job: its steps (script number, args, name), in place of the one script.
    steps: Vec<(u16, Vec<Arg<String>>, Option<String>)>,
    /// A v3 job's `needs` (data, not only order) and `if`.
    needs: Vec<String>,
    condition: Option<String>,
    /// What the old engine made of the entry the job comes from.
    kind: Kind,
}

/// The old engine's reading of a job's source: which of its fields had an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A stage's script: only its number and variables were read.
    Stage,
    /// A string of a `Sequence`: nothing else to read.
    Entry,
    /// An item; `Timeout` was enforced only when the sequence ran in parallel.
    Item { parallel: bool },
    /// A group item or a parallel group, of which the old engine ran nothing.
    NotRun,
    /// A v3 job: only its steps' `run` numbers and its `env` were read.
    V3,
}

impl JobOut {
    fn new(number: u16, from: String) -> Self {
        Self {
            number,
            from,
            description: None,
            args: Vec::new(),
            timeout_secs: None,
            retries: None,
            continue_on_error: false,
            after: Vec::new(),
            after_failure: false,
            id: format!("s{number:04}"),
            legs: Vec::new(),
            axes: Vec::new(),
            max_parallel: None,
            fail_fast: true,
            steps: Vec::new(),
            needs: Vec::new(),
            condition: None,
            kind: Kind::Entry,
        }
    }

    /// The orch fields it has whose source had no effect in the old engine.
    fn without_old_effect(&self) -> Vec<&'static str> {
        let timeout_enforced = matches!(self.kind, Kind::Item { parallel: true });
        let fields = [
            ("needs", !self.needs.is_empty()),
            ("matrix", !self.legs.is_empty() || !self.axes.is_empty()),
            ("if", self.kind == Kind::V3 && self.condition.is_some()),
            ("timeout", self.timeout_secs.is_some() && !timeout_enforced),
            ("retries", self.retries.is_some()),
            ("continue-on-error", self.continue_on_error),
        ];
        fields
            .into_iter()
            .filter_map(|(field, set)| set.then_some(field))
            .collect()
    }
}

/// A v3 job's `strategy`, as orch's.
struct Strategy {
    axes: Vec<(String, Vec<String>)>,
    max_parallel: Option<i64>,
    fail_fast: bool,
}

struct Importer<'a> {
    source: &'a SourceFile,
    powershell: &'a [Span],
    folder: &'a ScriptsFolder,
    warnings: Vec<Problem>,
    order: Order,
    /// The playbook's vars (those imported), which reach the scripts that declare them.
    globals: Vec<String>,
    /// The vars stages' conditions read.
    condition_vars: Vec<String>,
    /// What the `!` entries of a staged playbook's stages exclude from every stage.
    excluded_by_stages: std::collections::BTreeSet<u16>,
}

/// Reads `root` (the parsed JSON or PSD1) as one of the shapes this importer knows;
/// `powershell`: where a PSD1 has PowerShell the old engine evaluated as it loaded the
/// file (variables, `(…)`, `{ … }`, `"…$x…"`), kept as text by orch's parser.
/// A playbook that yields no job is refused with the warnings that say why.
pub fn import(
    source: &SourceFile,
    (root, powershell): (&Node, &[Span]),
    folder: &ScriptsFolder,
    order: Order,
) -> Result<Imported, LoadError> {
    let mut importer = Importer {
        source,
        powershell,
        folder,
        warnings: Vec::new(),
        order,
        globals: Vec::new(),
        condition_vars: Vec::new(),
        excluded_by_stages: Default::default(),
    };
    let top = entries(root).ok_or_else(|| {
        Problem::at(
            source,
            root.span,
            "a playbook is a map (`@{ … }` or `{ … }`)",
        )
    })?;
    let get = |key: &str| lookup(&top, key);
    let orchestration = get("orchestration").and_then(entries);
    // The playbook's vars reach the scripts that declare them: known before the jobs.
    let vars_node = match &orchestration {
        Some(orch) => lookup(orch, "defaultVariables"),
        None => get("Variables"),
    };
    importer.globals = vars_node
        .and_then(entries)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| importable_var(v, powershell))
        .map(|(k, _)| k)
        .collect();
    // Profiles' vars reach scripts as the playbook's do: each name a var of its own.
    let profiles_node = match &orchestration {
        Some(orch) => lookup(orch, "profiles"),
        None => get("profiles").or_else(|| get("Profiles")),
    };
    let mut profiles = importer.profiles(profiles_node);
    for (_, vars) in &profiles {
        for (name, _) in vars {
            if !importer
                .globals
                .iter()
                .any(|g| g.eq_ignore_ascii_case(name))
            {
                importer.globals.push(name.clone());
            }
        }
    }
    let (name, description, mut jobs, vars) = if let Some(orch) = &orchestration {
        let metadata = get("metadata").and_then(entries).unwrap_or_default();
        if let Some(v3_jobs) = lookup(orch, "jobs") {
            let jobs = importer.v3_jobs(v3_jobs, lookup(orch, "defaults"))?;
            for key in ["env", "concurrency"] {
                if let Some(value) = lookup(orch, key) {
                    importer.warn(
                        value.span,
                        format!(
                            "`orchestration.{key}` was ignored by the old engine; not imported"
                        ),
                    );
                }
            }
            (
                lookup(&metadata, "name").and_then(text),
                lookup(&metadata, "description").and_then(text),
                jobs,
                lookup(orch, "defaultVariables"),
            )
        } else {
            let stages = lookup(orch, "stages")
                .ok_or_else(|| Problem::at(source, root.span, "`orchestration` has no `stages`"))?;
            let jobs = importer.stages(stages, "sequences")?;
            (
                lookup(&metadata, "name").and_then(text),
                lookup(&metadata, "description").and_then(text),
                jobs,
                lookup(orch, "defaultVariables"),
            )
        }
    } else if let Some(sequence) = get("Sequence") {
        let jobs = importer.items(sequence, get("Options"), false)?;
        (
            get("Name").and_then(text),
            get("Description").and_then(text),
            jobs,
            get("Variables"),
        )
    } else if let Some(stages) = get("stages") {
        let jobs = importer.stages(stages, "sequence")?;
        (
            get("name").and_then(text),
            get("description").and_then(text),
            jobs,
            get("variables"),
        )
    } else if let Some(scripts) = get("Scripts") {
        // No engine ran this shape: imported as meant, a sequence (in order when its
        // `Configuration.Mode` says `Sequential`).
        let configuration = get("Configuration").and_then(entries).unwrap_or_default();
        let sequential = lookup(&configuration, "Mode")
            .and_then(text)
            .is_some_and(|m| m.eq_ignore_ascii_case("sequential"));
        importer.warn(
            scripts.span,
            "a top-level `Scripts` list is a shape no engine ran; imported as a `Sequence`",
        );
        let jobs = importer.items(scripts, get("Options"), sequential)?;
        (
            get("Name").and_then(text),
            get("Description").and_then(text),
            jobs,
            get("Variables"),
        )
    } else {
        return Err(Problem::at(
            source,
            root.span,
            "no `Sequence`, `stages` or `orchestration.stages`: not a playbook shape orch knows",
        )
        .into());
    };
    // Every other top-level field is said: none of them had an effect in the old engine.
    const READ: &[&str] = &[
        "name",
        "description",
        "version",
        "metadata",
        "orchestration",
        "sequence",
        "stages",
        "scripts",
        "variables",
        "options",
        "successcriteria",
        "profiles",
        "$schema",
    ];
    for (key, value) in &top {
        let said = match key.to_ascii_lowercase().as_str() {
            known if READ.contains(&known) => continue,
            "validation" => format!(
                "`{key}`: the old engine ran its `preConditions` and `postConditions` as PowerShell; orch runs no PowerShell to decide, not imported (a job can check)"
            ),
            "notifications" => format!(
                "`{key}`: the old engine printed these messages to its console and log; not imported"
            ),
            _ => format!("`{key}` was never read by the old engine; not imported"),
        };
        importer.warn(value.span, said);
    }
    if jobs.is_empty() {
        let nothing = Problem::at(source, root.span, "this playbook runs no script: no entry selects a numbered script of the scripts folder")
            .with_help(format!("the scripts folder is {}; name another with --scripts DIR", folder.path.display()));
        let mut problems = vec![nothing];
        problems.extend(importer.warnings);
        return Err(LoadError { problems });
    }
    if order == Order::Ascending {
        in_ascending_order(&mut jobs);
    }
    let mut vars = importer.vars(vars);
    // `{{name}}` in a var's value: the old engine expanded the merged vars once, as it
    // loaded the playbook; orch's vars are plain text, so it is expanded here.
    let written = vars.clone();
    let value_of = |name: &str| {
        written
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    for (name, value) in &mut vars {
        if let Some(expanded) = condition::substitute(value, &value_of) {
            let span = vars_node
                .and_then(entries)
                .and_then(|e| lookup(&e, name).map(|n| n.span))
                .unwrap_or(root.span);
            importer.warn(span, format!("var `{name}`: `{value}` is expanded at import to `{expanded}`, from the playbook's vars, and in each profile from its own (the old engine expanded it with the caller's too: a `--var` does not change it)"));
            *value = expanded;
        }
    }
    // With a profile, the old engine expanded after merging it: each profile sets the
    // values its own vars give the placeholders (its own values expanded too).
    for (_, profile_vars) in &mut profiles {
        let mut merged = written.clone();
        merged.retain(|(n, _)| !profile_vars.iter().any(|(p, _)| p.eq_ignore_ascii_case(n)));
        merged.extend(profile_vars.iter().cloned());
        let value_in_profile = |name: &str| {
            merged
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        for (name, value) in &merged {
            let Some(expanded) = condition::substitute(value, &value_in_profile) else {
                continue;
            };
            match profile_vars.iter_mut().find(|(n, _)| n == name) {
                Some((_, own)) => *own = expanded,
                None if vars.iter().any(|(n, v)| n == name && *v != expanded) => {
                    profile_vars.push((name.clone(), expanded));
                }
                None => {}
            }
        }
    }
    // orch refuses a var it does not know: a profile-only name, or one only a stage's
    // condition reads, is declared empty, as the old engine read an unset one.
    let unset = profiles
        .iter()
        .flat_map(|(_, profile_vars)| profile_vars.iter().map(|(name, _)| name))
        .chain(&importer.condition_vars);
    for name in unset {
        if !vars.iter().any(|(v, _)| v.eq_ignore_ascii_case(name)) {
            vars.push((name.clone(), String::new()));
        }
    }
    let mut yaml = importer.write(name, description, (&vars, &profiles), &jobs);
    if let Some(criteria) = get("SuccessCriteria") {
        yaml.push_str(&importer.success(criteria, &jobs));
    }
    // A playbook var no job reads (no script declares it, no condition reads it) and no
    // other var's `{{name}}` names: the old engine dropped it silently (§4.4).
    let jobs_text = yaml.find("\njobs:\n").map_or("", |at| &yaml[at..]);
    for (name, node) in vars_node.and_then(entries).unwrap_or_default() {
        let placeholder = format!("{{{{{}", name.to_ascii_lowercase());
        let in_placeholder = written.iter().any(|(_, value)| {
            names(
                &value.to_ascii_lowercase().replace("{{ ", "{{"),
                &placeholder,
            )
        });
        if !names(jobs_text, &format!("vars.{name}")) && !in_placeholder {
            importer.warn(node.span, format!("var `{name}`: no script of this playbook declares `-{name}` and nothing reads it; the old engine dropped it, and orch passes it to none"));
        }
    }
    // Said in the file's order, as a reader goes through it.
    let mut warnings = importer.warnings;
    warnings.sort_by_key(|w| w.span.map_or(0, |s| s.offset));
    Ok(Imported { yaml, warnings })
}

/// `--old-order` for a playbook the old engine ran one script at a time (stages, or a
/// sequence with `Parallel = $false`): by ascending number across the whole playbook,
/// each job after the one before. Jobs that are not one chain keep their order edges.
fn in_ascending_order(jobs: &mut [JobOut]) {
    let chain = jobs
        .iter()
        .skip(1)
        .zip(jobs.iter())
        .all(|(job, before)| job.after == [before.id.clone()]);
    if !chain
        || jobs
            .iter()
            .any(|j| !j.legs.is_empty() || !j.needs.is_empty())
    {
        return;
    }
    let after_failure = jobs.iter().skip(1).any(|j| j.after_failure);
    jobs.sort_by_key(|j| j.number);
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    for (i, job) in jobs.iter_mut().enumerate() {
        job.after = ids[..i].last().cloned().into_iter().collect();
        job.after_failure = after_failure && i > 0;
    }
}

/// A stage's sequence list (`sequences` in v2, `sequence`/`Sequence` in flat JSON), each
/// entry with its place; `None` when it has none.
fn stage_tokens(fields: &[(String, &Node)], sequence_key: &str) -> Option<Vec<(String, Span)>> {
    let sequence = lookup(fields, sequence_key)
        .or_else(|| lookup(fields, "sequence"))
        .or_else(|| lookup(fields, "Sequence"))?;
    match &sequence.value {
        Value::Seq(items) => Some(
            items
                .iter()
                .filter_map(|i| Some((text(i)?, i.span)))
                .collect(),
        ),
        _ => None,
    }
}

/// Whether a sequence names `number` as itself (`"0402"`), not through a range or rule.
fn names_literally(tokens: &[(String, Span)], number: u16) -> bool {
    let written = format!("{number:04}");
    tokens.iter().any(|(token, _)| token.trim() == written)
}

fn entries(node: &Node) -> Option<Vec<(String, &Node)>> {
    match &node.value {
        Value::Map(pairs) => Some(
            pairs
                .iter()
                .filter_map(|(k, v)| Some((k.scalar_text()?, v)))
                .collect(),
        ),
        _ => None,
    }
}

/// A key, any case (PowerShell's hashtables and the old engine's lookups ignore it).
fn lookup<'a>(entries: &[(String, &'a Node)], key: &str) -> Option<&'a Node> {
    entries
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| *v)
}

fn text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Seq(_) | Value::Map(_) | Value::Null => None,
        _ => node.scalar_text(),
    }
}

fn truthy(node: &Node) -> bool {
    match &node.value {
        Value::Bool(b) => *b,
        Value::Str(s) => ["true", "1", "yes"].contains(&s.to_ascii_lowercase().as_str()),
        Value::Int(i) => *i != 0,
        _ => false,
    }
}

/// A var orch can take: a scalar, not PowerShell the old engine evaluated at load.
fn importable_var(value: &Node, powershell: &[Span]) -> bool {
    !matches!(value.value, Value::Seq(_) | Value::Map(_)) && !powershell.contains(&value.span)
}

fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Whether `text` has `word` not followed by more of a name.
fn names(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        !text[at + word.len()..]
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

/// Whether job `from` needs the job `id`, directly or through others.
fn needs_transitively(jobs: &[JobOut], from: usize, id: &str) -> bool {
    let mut seen = vec![false; jobs.len()];
    let mut stack = vec![from];
    while let Some(at) = stack.pop() {
        if std::mem::replace(&mut seen[at], true) {
            continue;
        }
        for need in &jobs[at].needs {
            if need == id {
                return true;
            }
            stack.extend(jobs.iter().position(|j| j.id == *need));
        }
    }
    false
}

/// The first four digits in a row of `written`: the script an item's `Script` names.
fn first_four_digits(written: &str) -> Option<String> {
    written
        .as_bytes()
        .windows(4)
        .position(|w| w.iter().all(u8::is_ascii_digit))
        .map(|at| written[at..at + 4].to_owned())
}

/// An `args` entry: a word, or `{ option, value }` (both left out when the value is empty).
fn yaml_arg(arg: &Arg<String>) -> String {
    match &arg.option {
        None => yaml_string(&arg.value),
        Some(option) => format!(
            "{{ option: {}, value: {} }}",
            yaml_string(option),
            yaml_string(&arg.value)
        ),
    }
}

impl Importer<'_> {
    fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.warnings.push(Problem::at(self.source, span, message));
    }

    /// One sequence's entries, together (an exclusion applies to all of them), each
    /// note at the entry it is about; each number with the entry that selected it.
    fn resolve(&mut self, entries: &[(String, Span)]) -> Vec<(u16, Span)> {
        let texts: Vec<&str> = entries.iter().map(|(entry, _)| entry.as_str()).collect();
        let resolved = sequence::resolve_excluding(
            &texts,
            &self.folder.scripts,
            self.order,
            &self.excluded_by_stages,
        );
        for (index, note) in resolved.notes {
            self.warn(entries[index].1, note.to_string());
        }
        let spans = resolved.entry_of.iter().map(|&index| entries[index].1);
        resolved.numbers.into_iter().zip(spans).collect()
    }

    /// v2 `stages[]` (`sequences`) or flat `stages[]` (`sequence`): every stage runs after
    /// the one before, each of its scripts after the one before (the old engine ran a
    /// staged playbook one script at a time).
    fn stages(&mut self, stages: &Node, sequence_key: &str) -> Result<Vec<JobOut>, Problem> {
        let Value::Seq(list) = &stages.value else {
            return Err(Problem::at(
                self.source,
                stages.span,
                "`stages` as a map of ids is a shape that yields no scripts in the old engine; write it as a list",
            ));
        };
        // The old engine read every stage's sequence as one list: an `!` entry of one
        // stage excludes from all of them.
        let all_tokens: Vec<String> = list
            .iter()
            .filter_map(entries)
            .filter_map(|fields| stage_tokens(&fields, sequence_key))
            .flatten()
            .map(|(token, _)| token)
            .collect();
        let all: Vec<&str> = all_tokens.iter().map(String::as_str).collect();
        self.excluded_by_stages = sequence::exclusions(&all, &self.folder.scripts);
        let mut jobs: Vec<JobOut> = Vec::new();
        // The jobs the next stage runs after: the last one, or a parallel group's all.
        let mut frontier: Vec<String> = Vec::new();
        for stage in list {
            let fields = entries(stage)
                .ok_or_else(|| Problem::at(self.source, stage.span, "a stage is a map"))?;
            let name = lookup(&fields, "name").and_then(text).unwrap_or_default();
            if let Some(kind) = lookup(&fields, "type").and_then(text)
                && kind == "parallel-group"
            {
                frontier = self.parallel_group(&fields, stage, &name, (&mut jobs, frontier))?;
                continue;
            }
            let tokens: Vec<(String, Span)> = match stage_tokens(&fields, sequence_key) {
                Some(tokens) => tokens,
                None => {
                    self.warn(
                        stage.span,
                        format!("stage `{name}` has no sequence list: nothing to run"),
                    );
                    Vec::new()
                }
            };
            let continue_on_error = lookup(&fields, "continueOnError").is_some_and(truthy);
            let timeout = self.positive(lookup(&fields, "timeout"), "`timeout`");
            let variables = lookup(&fields, "variables")
                .and_then(entries)
                .unwrap_or_default();
            let mut condition = None;
            if let Some(value) = lookup(&fields, "condition") {
                let said = match text(value)
                    .ok_or_else(|| "not a text".to_owned())
                    .and_then(|c| condition::translate(&c))
                {
                    Ok((expression, var)) => {
                        // Its outer parentheses go: the `if` is the comparison alone.
                        let full = expression.to_string();
                        let bare = full
                            .strip_prefix('(')
                            .and_then(|e| e.strip_suffix(')'))
                            .unwrap_or(&full);
                        self.condition_vars.push(var);
                        condition = Some(bare.to_owned());
                        format!("imported as `if: ${{{{ {bare} }}}}`")
                    }
                    Err(why) => format!("not imported ({why})"),
                };
                self.warn(
                    value.span,
                    format!("stage `{name}`: `condition` was ignored by the old engine; {said}"),
                );
            }
            for key in ["retries", "parallel"] {
                if let Some(value) = lookup(&fields, key) {
                    let honoured = if key == "retries" {
                        "imported as `retries`"
                    } else {
                        "not imported"
                    };
                    self.warn(
                        value.span,
                        format!(
                            "stage `{name}`: `{key}` was ignored by the old engine; {honoured}"
                        ),
                    );
                }
            }
            let retries = self.positive(lookup(&fields, "retries"), "`retries`");
            // The old engine gave a script its stage's variables *instead of* the
            // playbook's when the stage has them (even `{}`) and names it by number.
            let own_variables =
                lookup(&fields, "variables").is_some_and(|v| matches!(v.value, Value::Map(_)));
            for (number, at) in self.resolve(&tokens) {
                let globals = !(own_variables && names_literally(&tokens, number));
                let args = self.args_from_variables(number, &variables, (globals, &[]));
                let job = JobOut {
                    description: lookup(&fields, "description").and_then(text),
                    args,
                    timeout_secs: timeout,
                    retries,
                    continue_on_error,
                    // A number without a script writes no job: the next one keeps
                    // the order.
                    after: frontier.clone(),
                    condition: condition.clone(),
                    kind: Kind::Stage,
                    ..JobOut::new(number, format!("stage \"{name}\""))
                };
                let id = job.id.clone();
                if self.push(&mut jobs, job, at) {
                    frontier = vec![id];
                }
            }
        }
        Ok(jobs)
    }

    /// v3 `orchestration.jobs{id: {name, description, needs, if, env, continueOnError,
    /// timeout, steps[{name, run: "NNNN"}]}}` with `defaults{continueOnError, timeout,
    /// retries}`: a job each, its `run` numbers its steps, its `env` their parameters (as
    /// the old engine passed it). Steps that are inline `script`s or `uses` actions
    /// cannot be imported: the file is refused at the step.
    fn v3_jobs(&mut self, node: &Node, defaults: Option<&Node>) -> Result<Vec<JobOut>, Problem> {
        let listed = entries(node).ok_or_else(|| {
            Problem::at(
                self.source,
                node.span,
                "`orchestration.jobs` is a map of job ids",
            )
        })?;
        let defaults = defaults.and_then(entries).unwrap_or_default();
        let mut jobs = Vec::new();
        // Each job's needs as written (its index, the name, where): checked once all are read.
        let mut needs_written: Vec<(usize, String, Span)> = Vec::new();
        for (id, job) in &listed {
            if !crate::load::decode::is_job_id(id) {
                return Err(Problem::at(
                    self.source,
                    job.span,
                    format!(
                        "`{id}` is not a job id orch takes (letters, digits, `_`, `-`, a letter first)"
                    ),
                ));
            }
            let fields =
                entries(job).ok_or_else(|| Problem::at(self.source, job.span, "a job is a map"))?;
            let Strategy {
                axes,
                max_parallel,
                fail_fast,
            } = self.v3_strategy(id, lookup(&fields, "strategy"));
            // The matrix values reach the scripts as variables (the old engine's
            // `-Matrix` added them so), over the job's `env`.
            let matrix_values: Vec<(String, Node)> = axes
                .iter()
                .map(|(axis, _)| {
                    let value = Value::Str(format!("${{{{ matrix.{axis} }}}}"));
                    (
                        axis.clone(),
                        Node {
                            value,
                            span: job.span,
                        },
                    )
                })
                .collect();
            let own_env = lookup(&fields, "env").is_some_and(|v| matches!(v.value, Value::Map(_)));
            let env: Vec<(String, &Node)> = lookup(&fields, "env")
                .and_then(entries)
                .unwrap_or_default()
                .into_iter()
                .filter(|(name, _)| !axes.iter().any(|(a, _)| a.eq_ignore_ascii_case(name)))
                .chain(matrix_values.iter().map(|(k, n)| (k.clone(), n)))
                .collect();
            let mut steps = Vec::new();
            let step_list = match lookup(&fields, "steps").map(|s| &s.value) {
                Some(Value::Seq(items)) => items.iter().collect::<Vec<_>>(),
                _ => Vec::new(),
            };
            for step in step_list {
                let step_fields = entries(step)
                    .ok_or_else(|| Problem::at(self.source, step.span, "a step is a map"))?;
                let Some(run) = lookup(&step_fields, "run").and_then(text) else {
                    let kind = if lookup(&step_fields, "uses").is_some() {
                        "`uses`"
                    } else {
                        "an inline `script`"
                    };
                    return Err(Problem::at(
                        self.source,
                        step.span,
                        format!("job `{id}`: a step with {kind} runs no numbered script; orch cannot import it"),
                    )
                    .with_help("the old engine ran only `run: \"NNNN\"` steps; write this job as an orch job by hand"));
                };
                let tokens: Vec<(String, Span)> = run
                    .split(',')
                    .map(|t| (t.trim().to_owned(), step.span))
                    .collect();
                let name = lookup(&step_fields, "name").and_then(text);
                for (number, _) in self.resolve(&tokens) {
                    if self.folder.scripts.iter().any(|s| s.number == number) {
                        // As a stage's variables: instead of the playbook's (above).
                        let globals = !(own_env && names_literally(&tokens, number));
                        let args = self.args_from_variables(number, &env, (globals, &[]));
                        steps.push((number, args, name.clone()));
                    }
                }
            }
            if steps.is_empty() {
                self.warn(job.span, format!("job `{id}` runs no script: not imported"));
                continue;
            }
            if let Some(value) = lookup(&fields, "outputs") {
                self.warn(
                    value.span,
                    format!(
                        "job `{id}`: `outputs` was ignored by the old engine and is not imported"
                    ),
                );
            }
            let needs_node = lookup(&fields, "needs");
            let written: Vec<&Node> = match needs_node.map(|n| &n.value) {
                Some(Value::Seq(items)) => items.iter().collect(),
                Some(_) => needs_node.into_iter().collect(),
                None => Vec::new(),
            };
            for need in written {
                if let Some(name) = text(need) {
                    needs_written.push((jobs.len(), name, need.span));
                }
            }
            let continue_on_error = lookup(&fields, "continueOnError")
                .or_else(|| lookup(&defaults, "continueOnError"))
                .is_some_and(truthy);
            jobs.push(JobOut {
                id: id.clone(),
                description: lookup(&fields, "name")
                    .or_else(|| lookup(&fields, "description"))
                    .and_then(text),
                timeout_secs: self
                    .positive(lookup(&fields, "timeout"), "`timeout`")
                    .or_else(|| self.positive(lookup(&defaults, "timeout"), "`timeout`")),
                retries: self
                    .positive(lookup(&fields, "retries"), "`retries`")
                    .or_else(|| self.positive(lookup(&defaults, "retries"), "`retries`")),
                continue_on_error,
                steps,
                axes,
                max_parallel,
                fail_fast,
                condition: lookup(&fields, "if").and_then(|c| self.v3_condition(id, c)),
                kind: Kind::V3,
                ..JobOut::new(0, format!("job \"{id}\""))
            });
        }
        // A need names another job of the file, and closes no cycle (the old engine ran
        // the jobs one after another whatever they needed); one on a job that was not
        // imported (said above) is dropped.
        for (index, need, span) in needs_written {
            let id = jobs[index].id.clone();
            let Some(needed) = jobs.iter().position(|j| j.id == need) else {
                if !listed.iter().any(|(listed, _)| *listed == need) {
                    self.warn(span, format!("job `{id}`: `needs` names `{need}`, which is not a job of this playbook; dropped"));
                }
                continue;
            };
            if jobs[index].needs.contains(&need) {
                continue;
            }
            if needed == index || needs_transitively(&jobs, needed, &id) {
                self.warn(span, format!("job `{id}`: needing `{need}` closes a cycle (the old engine ignored `needs`); dropped"));
                continue;
            }
            jobs[index].needs.push(need);
        }
        Ok(jobs)
    }

    /// A count (seconds of a timeout, retries) the playbook gives: a whole number above
    /// zero, or its digits as text. Anything else is said and not imported (a timeout of
    /// zero or less was the old engine's default, 3600 s: here no limit).
    fn positive(&mut self, node: Option<&Node>, what: &str) -> Option<i64> {
        let node = node?;
        // As PowerShell's `[int]` cast read it: a fraction rounds half to even.
        let whole = |f: f64| {
            let rounded = f.round_ties_even();
            (rounded.abs() < i64::MAX as f64).then_some(rounded as i64)
        };
        let read = match &node.value {
            Value::Int(i) => Some(*i),
            Value::Float(f) => whole(*f),
            Value::Str(text) => {
                let text = text.trim();
                text.parse::<i64>().ok().or_else(|| {
                    text.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .and_then(whole)
                })
            }
            Value::Null => return None,
            _ => None,
        };
        match read {
            Some(n) if n > 0 => Some(n),
            Some(_) if what.eq_ignore_ascii_case("`timeout`") => {
                self.warn(node.span, format!("{what} of zero or less: the old engine used its default (3600 s); not imported, the job has no time limit"));
                None
            }
            Some(0) => None,
            Some(n) => {
                self.warn(
                    node.span,
                    format!("{what} of {n}: below zero; not imported"),
                );
                None
            }
            None => {
                let written = node.scalar_text().unwrap_or_default();
                self.warn(
                    node.span,
                    format!("{what} `{written}` is not a number; not imported"),
                );
                None
            }
        }
    }

    /// A PSD1 item's or group's `Timeout`, capped at the old engine's `MaxTimeout`
    /// (7200 s) as it did, said when it is.
    fn capped_timeout(&mut self, node: Option<&Node>) -> Option<i64> {
        const MAX_TIMEOUT: i64 = 7200;
        let timeout = self.positive(node, "`Timeout`")?;
        if timeout > MAX_TIMEOUT
            && let Some(node) = node
        {
            self.warn(node.span, format!("`Timeout` of {timeout} s: capped at {MAX_TIMEOUT} s, as the old engine capped it"));
        }
        Some(timeout.min(MAX_TIMEOUT))
    }

    /// A v3 job's `if` (which the old engine ignored) as orch's, when it is an
    /// expression orch reads about what a playbook has: a var it names that the playbook
    /// lacks is declared empty (as the old engine read an unset one), said; anything else
    /// (`github.*`, `steps.*`, a syntax orch does not read) leaves the job unconditional.
    fn v3_condition(&mut self, id: &str, node: &Node) -> Option<String> {
        use crate::compile::expr;
        let written = text(node)?;
        let parsed = match expr::parse_condition(&written) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.warn(node.span, format!("job `{id}`: `if` is not an expression orch reads ({}); not imported, the job always runs (as in the old engine)", e.message));
                return None;
            }
        };
        let mut unknown_context = None;
        let mut unset = Vec::new();
        expr::visit(&parsed, &mut |e| {
            let Some((path, _)) = expr::path_of(e) else {
                return;
            };
            match path.as_slice() {
                ["vars", name, ..] => {
                    if !self.globals.iter().any(|g| g.eq_ignore_ascii_case(name)) {
                        unset.push((*name).to_owned());
                    }
                }
                [root, ..] if ["vars", "env", "matrix", "needs", "orch"].contains(root) => {}
                [root, ..] => unknown_context = Some((*root).to_owned()),
                [] => {}
            }
        });
        if let Some(root) = unknown_context {
            self.warn(node.span, format!("job `{id}`: `if` reads `{root}`, which an orch playbook has not; not imported, the job always runs (as in the old engine)"));
            return None;
        }
        for name in unset {
            let said = format!(
                "job `{id}`: `if` reads `vars.{name}`, which the playbook does not set; declared empty"
            );
            self.declare_read_var(&name, node.span, said);
        }
        self.warn(
            node.span,
            format!("job `{id}`: `if` was ignored by the old engine; imported"),
        );
        Some(written)
    }

    /// An item's `Condition` (a script block the old engine never ran): the platform
    /// tests `{ $IsWindows }`, `{ $IsLinux }`, `{ $IsMacOS }` and their negations as
    /// `orch.os`; any other PowerShell is not imported, said.
    fn item_condition(&mut self, node: &Node) -> Option<String> {
        let written = text(node)?;
        let inner = written.trim();
        let inner = inner
            .strip_prefix('{')
            .and_then(|i| i.strip_suffix('}'))
            .unwrap_or(inner)
            .trim()
            .to_ascii_lowercase();
        let (negated, variable) = match inner.strip_prefix("-not ").or(inner.strip_prefix('!')) {
            Some(rest) => (true, rest.trim()),
            None => (false, inner.as_str()),
        };
        let os = match variable {
            "$iswindows" => Some("windows"),
            "$islinux" => Some("linux"),
            "$ismacos" => Some("macos"),
            _ => None,
        };
        let Some(os) = os else {
            self.warn(node.span, format!("`Condition` `{written}` was never run by the old engine and is PowerShell orch does not read; not imported"));
            return None;
        };
        let condition = format!("orch.os {} '{os}'", if negated { "!=" } else { "==" });
        self.warn(
            node.span,
            format!("`Condition` was never run by the old engine; imported as `if: ${{{{ {condition} }}}}`"),
        );
        Some(condition)
    }

    /// PSD1 `Sequence = @( @{ Script; Parameters; Timeout; ContinueOnError; … } )`.
    fn items(
        &mut self,
        sequence: &Node,
        options: Option<&Node>,
        sequential: bool,
    ) -> Result<Vec<JobOut>, Problem> {
        let Value::Seq(items) = &sequence.value else {
            return Err(Problem::at(
                self.source,
                sequence.span,
                "`Sequence` is a list",
            ));
        };
        let options = options.and_then(entries).unwrap_or_default();
        for (key, value) in &options {
            let said = match key.to_ascii_lowercase().as_str() {
                "parallel" | "stoponerror" => continue,
                "maxconcurrency" => format!(
                    "`Options.MaxConcurrency`: orch has no limit in the playbook; run it with `-j {}`",
                    value.scalar_text().unwrap_or_default()
                ),
                _ => format!("`Options.{key}` was ignored by the old engine; not imported"),
            };
            self.warn(value.span, said);
        }
        let parallel = !sequential && lookup(&options, "Parallel").is_none_or(truthy);
        let stop_on_error = lookup(&options, "StopOnError").is_none_or(truthy);
        let mut jobs: Vec<JobOut> = Vec::new();
        // The jobs of the group before (`Scripts = @(…)` items): what a group runs after.
        let mut group_frontier: Vec<String> = Vec::new();
        // The old engine chose the form from the first item: strings are one sequence
        // (resolved together, so an `!` entry applies to all), read where the first is.
        let strings: Vec<(String, Span)> = items
            .iter()
            .filter(|i| entries(i).is_none())
            .filter_map(|i| Some((text(i)?, i.span)))
            .collect();
        let strings_first = items.first().is_some_and(|i| entries(i).is_none());
        let resolved_strings = if strings.is_empty() {
            Vec::new()
        } else {
            self.resolve(&strings)
        };
        for item in items {
            let Some(fields) = entries(item) else {
                // The old engine read it as an item's `Script`: by its first four digits.
                let written = text(item).unwrap_or_default();
                if !strings_first && first_four_digits(&written).as_deref() != Some(written.trim())
                {
                    let old = first_four_digits(&written).map_or_else(
                        || "nothing (it has no four digits)".to_owned(),
                        |n| format!("only {n}"),
                    );
                    self.warn(item.span, format!("`{written}` in a `Sequence` of items: the old engine read it as an item's `Script` and ran {old}; imported as a sequence entry"));
                }
                // Where it is written: the numbers this entry selected.
                for &(number, at) in resolved_strings.iter().filter(|(_, at)| *at == item.span) {
                    let previous = (!parallel)
                        .then(|| jobs.last().map(|j| j.id.clone()))
                        .flatten();
                    let after_failure = !stop_on_error && !jobs.is_empty();
                    let job = JobOut {
                        after: previous.into_iter().collect(),
                        after_failure,
                        ..JobOut::new(number, "Sequence".into())
                    };
                    self.push(&mut jobs, job, at);
                }
                continue;
            };
            if strings_first {
                self.warn(item.span, "an item in a `Sequence` of strings: the old engine read every entry as a string (from the first) and dropped it; imported as an item");
            }
            if let Some(scripts) = lookup(&fields, "Scripts") {
                self.group(&fields, scripts, item, (&mut jobs, &mut group_frontier))?;
                continue;
            }
            let Some(script) = ["Script", "ScriptPath", "Number"]
                .iter()
                .find_map(|k| lookup(&fields, k))
            else {
                return Err(Problem::at(
                    self.source,
                    item.span,
                    "this item names no `Script`",
                ));
            };
            let written = text(script).unwrap_or_default();
            let Some(token) = first_four_digits(&written) else {
                return Err(Problem::at(
                    self.source,
                    script.span,
                    format!("`{written}` has no script number (four digits)"),
                ));
            };
            let numbers = self.resolve(&[(token, script.span)]);
            let timeout = self.capped_timeout(
                ["Timeout", "TimeoutSeconds"]
                    .iter()
                    .find_map(|k| lookup(&fields, k)),
            );
            let retries = self.positive(lookup(&fields, "RetryCount"), "`RetryCount`");
            if retries.is_some() {
                self.warn(
                    item.span,
                    "`RetryCount` was ignored by the old engine; imported as `retries`",
                );
            }
            let condition = lookup(&fields, "Condition").and_then(|c| self.item_condition(c));
            // `Name` (which the old engine ignored) describes the job when nothing else does.
            let description = lookup(&fields, "Description").and_then(text);
            if let (Some(name), Some(_)) = (lookup(&fields, "Name"), &description) {
                self.warn(
                    name.span,
                    "`Name` was ignored by the old engine; not imported (the item has a `Description`)",
                );
            }
            let description = description.or_else(|| lookup(&fields, "Name").and_then(text));
            for key in [
                "Phase",
                "Parallel",
                "Group",
                "SkipIfExists",
                "RequireAdmin",
                "SkipInCI",
                "Required",
                "Stage",
            ] {
                if let Some(value) = lookup(&fields, key) {
                    self.warn(
                        value.span,
                        format!("`{key}` was ignored by the old engine; not imported"),
                    );
                }
            }
            let parameters = ["Parameters", "Params"]
                .iter()
                .find_map(|k| lookup(&fields, k));
            let from_parameters = self.args_from_parameters(parameters);
            let named: Vec<String> = parameters
                .and_then(entries)
                .unwrap_or_default()
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            for (number, at) in numbers {
                let mut args = from_parameters.clone();
                args.extend(self.args_from_variables(number, &[], (true, &named)));
                let previous = (!parallel)
                    .then(|| jobs.last().map(|j| j.id.clone()))
                    .flatten();
                let after_failure = !stop_on_error && !jobs.is_empty();
                self.push(
                    &mut jobs,
                    JobOut {
                        description: description.clone(),
                        args,
                        timeout_secs: timeout,
                        retries,
                        continue_on_error: ["ContinueOnError", "continue_on_error"]
                            .iter()
                            .find_map(|k| lookup(&fields, k))
                            .is_some_and(truthy),
                        after: previous.into_iter().collect(),
                        after_failure,
                        condition: condition.clone(),
                        kind: Kind::Item { parallel },
                        ..JobOut::new(number, format!("Sequence item {written}"))
                    },
                    at,
                );
            }
        }
        if parallel {
            self.order_by_headers(&mut jobs, sequence.span);
        }
        Ok(jobs)
    }

    /// A group item `@{ Name; Scripts = @('0207', …); Required; Timeout; Description }`:
    /// the old engine skipped each as "missing Script" and ran nothing; imported as
    /// meant, a phase: its scripts, each after every job of the group before, with the
    /// group's timeout, and `continue-on-error` where `Required = $false`.
    fn group(
        &mut self,
        fields: &[(String, &Node)],
        scripts: &Node,
        item: &Node,
        (jobs, frontier): (&mut Vec<JobOut>, &mut Vec<String>),
    ) -> Result<(), Problem> {
        let name = lookup(fields, "Name").and_then(text).unwrap_or_default();
        self.warn(
            item.span,
            format!("group `{name}`: the old engine skipped its scripts (\"missing Script\") and ran nothing; imported as its scripts, after the group before"),
        );
        let tokens: Vec<(String, Span)> = match &scripts.value {
            Value::Seq(list) => list
                .iter()
                .filter_map(|i| Some((text(i)?, i.span)))
                .collect(),
            _ => text(scripts)
                .map(|t| (t, scripts.span))
                .into_iter()
                .collect(),
        };
        let timeout = self.capped_timeout(lookup(fields, "Timeout"));
        let optional = lookup(fields, "Required").is_some_and(|r| !truthy(r));
        if let Some(value) = lookup(fields, "SkipIfExists") {
            self.warn(
                value.span,
                format!("group `{name}`: `SkipIfExists` is not imported"),
            );
        }
        let mut kept = Vec::new();
        for (number, at) in self.resolve(&tokens) {
            let job = JobOut {
                description: lookup(fields, "Description").and_then(text),
                args: self.args_from_variables(number, &[], (true, &[])),
                timeout_secs: timeout,
                continue_on_error: optional,
                after: frontier.clone(),
                kind: Kind::NotRun,
                ..JobOut::new(number, format!("group \"{name}\""))
            };
            let id = job.id.clone();
            if self.push(jobs, job, at) {
                kept.push(id);
            }
        }
        if !kept.is_empty() {
            *frontier = kept;
        }
        Ok(())
    }

    /// In parallel mode the old engine ran first, one by one, the scripts whose header
    /// says `AllowParallel: false`, then the rest at once, each after the scripts its
    /// `Dependencies:` header names among those of the run: order only, as `after`.
    fn order_by_headers(&mut self, jobs: &mut [JobOut], span: Span) {
        let script = |number: u16| self.folder.scripts.iter().find(|s| s.number == number);
        let serial: Vec<usize> = (0..jobs.len())
            .filter(|&i| script(jobs[i].number).and_then(|s| s.allow_parallel) == Some(false))
            .collect();
        let mut notes = Vec::new();
        for (k, &i) in serial.iter().enumerate().skip(1) {
            let before = jobs[serial[k - 1]].id.clone();
            jobs[i].after.push(before);
        }
        if let Some(&last) = serial.last() {
            let last_id = jobs[last].id.clone();
            for (i, job) in jobs.iter_mut().enumerate() {
                if !serial.contains(&i) && !job.after.contains(&last_id) {
                    job.after.push(last_id.clone());
                }
            }
        }
        // Each job of the run: its number, id, script file (lowercase, for names) and
        // whether it runs serially.
        let run: Vec<(u16, String, String, bool)> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let file = script(j.number).map(|s| s.file.to_lowercase());
                (
                    j.number,
                    j.id.clone(),
                    file.unwrap_or_default(),
                    serial.contains(&i),
                )
            })
            .collect();
        for (i, job) in jobs.iter_mut().enumerate() {
            let Some(script) = script(job.number) else {
                continue;
            };
            // A number names its script; a name, as the old engine matched it, every
            // script of the run whose file name contains it (any case).
            let mut depended = Vec::new();
            for dependency in &script.dependencies {
                depended.extend(run.iter().filter(|(n, ..)| n == dependency));
            }
            for name in &script.named_dependencies {
                let lower = name.to_lowercase();
                let before = depended.len();
                depended.extend(
                    run.iter()
                        .filter(|(n, _, file, _)| *n != job.number && file.contains(&lower)),
                );
                if depended.len() == before {
                    notes.push(format!(
                        "{}: dependency `{name}` names no script of this playbook; not imported",
                        script.file
                    ));
                }
            }
            for (number, id, _, dependency_serial) in depended {
                if serial.contains(&i) && !dependency_serial {
                    notes.push(format!(
                        "{}: depends on {number:04}, which runs after it (`AllowParallel: false` scripts run first); not imported",
                        script.file
                    ));
                    continue;
                }
                if *id != job.id && !job.after.contains(id) {
                    job.after.push(id.clone());
                }
            }
        }
        for note in notes {
            self.warn(span, note);
        }
    }

    /// `SuccessCriteria` (which no engine read) as orch's `success:` gate: the rules it
    /// names, its scripts (by number or file name) as the jobs that run them.
    fn success(&mut self, node: &Node, jobs: &[JobOut]) -> String {
        use std::fmt::Write as _;
        let fields = entries(node).unwrap_or_default();
        let mut y = String::from(
            "# From `SuccessCriteria`, which the old engine never read: now the run's gate.\nsuccess:\n",
        );
        if let Some(all) = lookup(&fields, "RequireAllSuccess") {
            let _ = writeln!(y, "  require-all: {}", truthy(all));
        }
        if let Some(count) = lookup(&fields, "MinimumSuccessCount").and_then(|c| match c.value {
            Value::Int(i) if i >= 0 => Some(i),
            _ => None,
        }) {
            let _ = writeln!(y, "  minimum-count: {count}");
        }
        if let Some(rate) = lookup(&fields, "MinimumSuccessRate").and_then(|r| match r.value {
            Value::Float(f) if (0.0..=1.0).contains(&f) => Some(f),
            Value::Int(i) if (0..=1).contains(&i) => Some(i as f64),
            _ => None,
        }) {
            let _ = writeln!(y, "  minimum-rate: {rate}");
        }
        for (key, orch) in [
            ("CriticalScripts", "critical"),
            ("AllowedFailures", "allowed-failures"),
        ] {
            let Some(list) = lookup(&fields, key) else {
                continue;
            };
            let mut ids = Vec::new();
            let names: Vec<&Node> = match &list.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![list],
            };
            for name in names {
                let written = text(name).unwrap_or_default();
                let number = written
                    .get(..4)
                    .filter(|d| d.chars().all(|c| c.is_ascii_digit()))
                    .and_then(|d| d.parse::<u16>().ok());
                match number.and_then(|n| jobs.iter().find(|j| j.number == n)) {
                    Some(job) => ids.push(job.id.clone()),
                    None => self.warn(
                        name.span,
                        format!("`{key}` names `{written}`, which no job of the playbook runs; not imported"),
                    ),
                }
            }
            if !ids.is_empty() {
                let _ = writeln!(y, "  {orch}: [{}]", ids.join(", "));
            }
        }
        for (key, _) in &fields {
            if ![
                "RequireAllSuccess",
                "MinimumSuccessCount",
                "MinimumSuccessRate",
                "CriticalScripts",
                "AllowedFailures",
            ]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
            {
                self.warn(
                    node.span,
                    format!("`SuccessCriteria.{key}` is not imported"),
                );
            }
        }
        y
    }

    /// A number runs once, where it is first written (the old engine kept the last
    /// definition silently): a later one is a warning. Whether it was kept (neither a
    /// repeat nor a number without a script, which was warned of, is).
    fn push(&mut self, jobs: &mut Vec<JobOut>, job: JobOut, span: Span) -> bool {
        if let Some(first) = jobs.iter().find(|j| j.id == job.id) {
            let message = format!(
                "{:04} is in the playbook twice (first in {}); it runs once, as the first says (the old engine kept the last one silently)",
                job.number, first.from
            );
            self.warn(span, message);
            return false;
        }
        let Some(script) = self.folder.scripts.iter().find(|s| s.number == job.number) else {
            return false;
        };
        if let Some(others) = self.folder.also_numbered.get(&job.number)
            && !jobs.iter().any(|j| j.number == job.number)
        {
            let message = format!(
                "{:04} names more than one script ({}, {}): the first by name runs, as in the old engine",
                job.number,
                script.file,
                others.join(", ")
            );
            self.warn(span, message);
        }
        jobs.push(job);
        true
    }

    /// A v2 stage `type: parallel-group`: its `jobs[]` run at once, each script once per
    /// group job that names it (`matrix.include` of their `variables`), within the
    /// stage's `maxConcurrency` and `failFast`, after `frontier`. Returns the group's jobs:
    /// what the next stage runs after.
    fn parallel_group(
        &mut self,
        fields: &[(String, &Node)],
        stage: &Node,
        name: &str,
        (jobs, frontier): (&mut Vec<JobOut>, Vec<String>),
    ) -> Result<Vec<String>, Problem> {
        // Each script the group runs, with the variables of each group job naming it.
        let mut by_number: Vec<(u16, Vec<Entries>)> = Vec::new();
        let group_jobs = match lookup(fields, "jobs").map(|j| &j.value) {
            Some(Value::Seq(list)) => list.as_slice(),
            _ => {
                self.warn(
                    stage.span,
                    format!("parallel group `{name}` has no `jobs` list: nothing to run"),
                );
                &[]
            }
        };
        for group_job in group_jobs {
            let job_fields = entries(group_job).unwrap_or_default();
            let tokens: Vec<(String, Span)> =
                match lookup(&job_fields, "sequence").map(|s| &s.value) {
                    Some(Value::Seq(items)) => items
                        .iter()
                        .filter_map(|i| Some((text(i)?, i.span)))
                        .collect(),
                    _ => Vec::new(),
                };
            let variables = lookup(&job_fields, "variables")
                .and_then(entries)
                .unwrap_or_default();
            for (number, _) in self.resolve(&tokens) {
                match by_number.iter_mut().find(|(n, _)| *n == number) {
                    Some((_, legs)) => legs.push(variables.clone()),
                    None => by_number.push((number, vec![variables.clone()])),
                }
            }
        }
        let continue_on_error = lookup(fields, "continueOnError").is_some_and(truthy);
        let timeout = self.positive(lookup(fields, "timeout"), "`timeout`");
        let max_parallel = lookup(fields, "maxConcurrency").and_then(|t| match t.value {
            Value::Int(i) if i > 0 => Some(i),
            _ => None,
        });
        let fail_fast = lookup(fields, "failFast").is_none_or(truthy);
        let mut group = Vec::new();
        for (number, legs) in by_number {
            // Again in a later group (0402 for unit tests, then for domain tests): `-2`, …
            let base = format!("s{number:04}");
            let id = (1..)
                .map(|k| {
                    if k == 1 {
                        base.clone()
                    } else {
                        format!("{base}-{k}")
                    }
                })
                .find(|id| !jobs.iter().any(|j| &j.id == id))
                .unwrap_or(base);
            let mut job = JobOut {
                description: lookup(fields, "description").and_then(text),
                timeout_secs: timeout,
                continue_on_error,
                after: frontier.clone(),
                id: id.clone(),
                max_parallel,
                fail_fast,
                kind: Kind::NotRun,
                ..JobOut::new(number, format!("parallel group \"{name}\""))
            };
            if let [only] = legs.as_slice() {
                job.args = self.args_from_variables(number, only, (true, &[]));
            } else {
                // Each leg's variables as matrix values, every leg with every key.
                let mut keys: Vec<String> = Vec::new();
                for leg in &legs {
                    for (k, _) in leg {
                        if !keys.contains(k) {
                            keys.push(k.clone());
                        }
                    }
                }
                let as_matrix: Vec<(String, Node)> = keys
                    .iter()
                    .map(|k| {
                        (
                            k.clone(),
                            Node {
                                value: Value::Str(format!("${{{{ matrix.{k} }}}}")),
                                span: stage.span,
                            },
                        )
                    })
                    .collect();
                let refs: Vec<(String, &Node)> =
                    as_matrix.iter().map(|(k, n)| (k.clone(), n)).collect();
                job.args = self.args_from_variables(number, &refs, (true, &[]));
                for leg in &legs {
                    let values = keys
                        .iter()
                        .map(|k| {
                            let value = leg.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
                            if let Some(v) = value.filter(|v| matches!(v.value, Value::Seq(_) | Value::Map(_))) {
                                self.warn(v.span, format!("variable `{k}`: a list or table cannot pass through `pwsh -File`; not imported"));
                            }
                            (k.clone(), value.and_then(Node::scalar_text).unwrap_or_default())
                        })
                        .collect();
                    job.legs.push(values);
                }
            }
            if self.push(jobs, job, stage.span) {
                group.push(id);
            }
        }
        Ok(group)
    }

    /// A v3 job's `strategy{matrix{axis: [values]}, failFast, maxParallel}` (which the
    /// old engine ignored): the axes, `max-parallel` and `fail-fast`.
    fn v3_strategy(&mut self, id: &str, strategy: Option<&Node>) -> Strategy {
        let fields = strategy.and_then(entries).unwrap_or_default();
        if let Some(strategy) = strategy {
            self.warn(
                strategy.span,
                format!("job `{id}`: `strategy` was ignored by the old engine; imported as orch's matrix and strategy"),
            );
        }
        let mut axes = Vec::new();
        for (axis, values) in lookup(&fields, "matrix")
            .and_then(entries)
            .unwrap_or_default()
        {
            let scalars: Option<Vec<String>> = match &values.value {
                Value::Seq(items) => items
                    .iter()
                    .map(|i| match i.value {
                        Value::Seq(_) | Value::Map(_) => None,
                        _ => i.scalar_text(),
                    })
                    .collect(),
                _ => None,
            };
            match scalars {
                Some(list) if !list.is_empty() && crate::load::decode::is_job_id(&axis) => {
                    axes.push((axis, list))
                }
                _ => self.warn(
                    values.span,
                    format!("job `{id}`: matrix `{axis}` is not a name with a list of values; not imported"),
                ),
            }
        }
        let max_parallel = lookup(&fields, "maxParallel").and_then(|m| match m.value {
            Value::Int(i) if i > 0 => Some(i),
            _ => None,
        });
        let fail_fast = lookup(&fields, "failFast").is_none_or(truthy);
        Strategy {
            axes,
            max_parallel,
            fail_fast,
        }
    }

    /// `Parameters = @{ Name = value }` as pwsh `-File` arguments.
    fn args_from_parameters(&mut self, parameters: Option<&Node>) -> Vec<Arg<String>> {
        let mut args = Vec::new();
        for (name, value) in parameters.and_then(entries).unwrap_or_default() {
            match &value.value {
                Value::Bool(true) => args.push(Arg::word(format!("-{name}"))),
                Value::Bool(false) => args.push(Arg::word(format!("-{name}:$false"))),
                Value::Seq(_) | Value::Map(_) => self.warn(value.span, format!("parameter `{name}`: a list or table cannot pass through `pwsh -File`; not imported")),
                Value::Null => {}
                Value::Str(s) if self.powershell.contains(&value.span) => self.warn(value.span, format!("parameter `{name}`: `{s}` is PowerShell, evaluated when the old engine loaded the file; not imported (the script's default applies)")),
                _ => {
                    args.push(Arg::word(format!("-{name}")));
                    args.push(Arg::word(value.scalar_text().unwrap_or_default()));
                }
            }
        }
        args
    }

    /// Variables reach a script only as the parameters it declares (§4.4): `variables`,
    /// then, with `globals`, the playbook's; none a name `taken` already has (an item's
    /// `Parameters` win over variables of the same name).
    fn args_from_variables(
        &mut self,
        number: u16,
        variables: &[(String, &Node)],
        (globals, taken): (bool, &[String]),
    ) -> Vec<Arg<String>> {
        let declared = self.folder.params.get(&number).cloned().unwrap_or_default();
        // Whether the script declares `name`, and whether as a switch.
        let declares = |name: &str| {
            declared
                .iter()
                .find(|d| d.trim_start_matches('-').eq_ignore_ascii_case(name))
                .map(|d| d.starts_with('-'))
        };
        let mut args = Vec::new();
        let mut given: Vec<String> = taken.iter().map(|t| t.to_ascii_lowercase()).collect();
        for (name, value) in variables {
            if given.contains(&name.to_ascii_lowercase()) {
                continue;
            }
            if let Some(switch) = declares(name) {
                given.push(name.to_ascii_lowercase());
                if switch {
                    // A switch is on for true, or the texts true/1/yes (§4.4), else off.
                    if truthy(value) {
                        args.push(Arg::word(format!("-{name}")));
                    }
                    continue;
                }
                // An empty value is not passed (§4.4): the script's default holds.
                match &value.value {
                    Value::Bool(true) => args.push(Arg::word(format!("-{name}"))),
                    Value::Bool(false) | Value::Null => {}
                    Value::Str(text) if text.is_empty() => {}
                    // `{{var}}`, which the old engine expanded: orch's `${{ vars.var }}`,
                    // dropped with its name when it renders empty.
                    Value::Str(text) if let Some((expanded, read)) = condition::expand(text) => {
                        args.push(Arg {
                            option: Some(format!("-{name}")),
                            value: expanded,
                        });
                        for var in read {
                            let said = format!(
                                "`{{{{{var}}}}}` names a var the playbook does not set; declared empty"
                            );
                            self.declare_read_var(&var, value.span, said);
                        }
                    }
                    // A matrix value may be empty in one leg.
                    Value::Str(text) if text.contains("${{") => args.push(Arg {
                        option: Some(format!("-{name}")),
                        value: text.clone(),
                    }),
                    _ => {
                        args.push(Arg::word(format!("-{name}")));
                        args.push(Arg::word(value.scalar_text().unwrap_or_default()));
                    }
                }
            }
        }
        // Then the playbook's vars, as `${{ vars.NAME }}` so `--var` reaches them, left
        // out when empty; a switch as `-Name:$true` or `-Name:$false` (pwsh's `-File`
        // form), on for the texts true/1/yes as the old engine read them.
        for name in self.globals.iter().filter(|_| globals) {
            if given.contains(&name.to_ascii_lowercase()) {
                continue;
            }
            match declares(name) {
                Some(false) => args.push(Arg {
                    option: Some(format!("-{name}")),
                    value: format!("${{{{ vars.{name} }}}}"),
                }),
                Some(true) => args.push(Arg::word(format!(
                    "-{name}:${{{{ (vars.{name} == 'true' || vars.{name} == '1' || vars.{name} == 'yes') && '$true' || '$false' }}}}"
                ))),
                None => {}
            }
        }
        args
    }

    /// A var a placeholder or an `if` reads that the playbook lacks: declared empty (the old
    /// engine expanded an unknown name to nothing), said.
    fn declare_read_var(&mut self, name: &str, span: Span, said: String) {
        let known = self.globals.iter().chain(&self.condition_vars);
        if !known.into_iter().any(|g| g.eq_ignore_ascii_case(name)) {
            self.warn(span, said);
            self.condition_vars.push(name.to_owned());
        }
    }

    /// `profiles.<name>`: its `variables`, then its `overrides` (the old engine applied
    /// both); `excludeStages` and `stages` it ignored are said, not imported.
    fn profiles(&mut self, node: Option<&Node>) -> Vec<ImportedProfile> {
        let mut out = Vec::new();
        for (name, body) in node.and_then(entries).unwrap_or_default() {
            let fields = entries(body).unwrap_or_default();
            let mut vars = self.vars(lookup(&fields, "variables"));
            for (k, v) in self.vars(lookup(&fields, "overrides")) {
                vars.retain(|(n, _)| !n.eq_ignore_ascii_case(&k));
                vars.push((k, v));
            }
            for ignored in ["excludeStages", "stages"] {
                if let Some(value) = lookup(&fields, ignored) {
                    self.warn(
                        value.span,
                        format!("profile `{name}`: `{ignored}` was never read by the old engine; not imported"),
                    );
                }
            }
            out.push((name, vars));
        }
        out
    }

    fn vars(&mut self, vars: Option<&Node>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in vars.and_then(entries).unwrap_or_default() {
            match &value.value {
                Value::Seq(_) | Value::Map(_) => self.warn(
                    value.span,
                    format!("var `{name}`: a list or table is not an orch var; not imported"),
                ),
                Value::Str(s) if self.powershell.contains(&value.span) => {
                    self.warn(value.span, format!("var `{name}`: `{s}` is PowerShell, evaluated when the old engine loaded the file; not imported (jobs inherit the environment: read it in the script)"));
                }
                _ => out.push((name, value.scalar_text().unwrap_or_default())),
            }
        }
        out
    }

    fn write(
        &self,
        name: Option<String>,
        description: Option<String>,
        (vars, profiles): (&[(String, String)], &[ImportedProfile]),
        jobs: &[JobOut],
    ) -> String {
        use std::fmt::Write as _;
        let mut y = String::new();
        let _ = writeln!(
            y,
            "# Imported by `orch import` from {}.",
            self.source.path.display()
        );
        if let Some(name) = name {
            let _ = writeln!(y, "name: {}", yaml_string(&name));
        }
        if let Some(description) = description {
            let _ = writeln!(y, "description: {}", yaml_string(&description));
        }
        let _ = writeln!(
            y,
            "defaults:\n  shell: {} -NoProfile -NonInteractive -File {{0}}",
            self.folder.interpreter
        );
        if !vars.is_empty() {
            let _ = writeln!(y, "vars:");
            for (k, v) in vars {
                let _ = writeln!(y, "  {}: {}", yaml_string(k), yaml_string(v));
            }
        }
        if !profiles.is_empty() {
            let _ = writeln!(
                y,
                "# `--profile NAME` sets these vars; a `--var` given beside it wins (the old\n# engine let the profile win)."
            );
            let _ = writeln!(y, "profiles:");
            for (name, profile_vars) in profiles {
                let _ = writeln!(y, "  {}:", yaml_string(name));
                let _ = writeln!(
                    y,
                    "    vars:{}",
                    if profile_vars.is_empty() { " {}" } else { "" }
                );
                for (k, v) in profile_vars {
                    let _ = writeln!(y, "      {}: {}", yaml_string(k), yaml_string(v));
                }
            }
        }
        let _ = writeln!(y, "jobs:");
        for job in jobs {
            if !job.steps.is_empty() {
                self.write_v3_job(&mut y, job);
                continue;
            }
            let Some(script) = self.folder.scripts.iter().find(|s| s.number == job.number) else {
                continue;
            };
            let _ = writeln!(y, "  {}:", job.id);
            let _ = writeln!(y, "    # from {}", job.from);
            write_without_old_effect(&mut y, job);
            if let Some(d) = &job.description {
                let _ = writeln!(y, "    description: {}", yaml_string(d));
            }
            let path = self.folder.path.join(&script.file);
            let _ = writeln!(y, "    script: {}", yaml_string(&path.to_string_lossy()));
            if !job.args.is_empty() {
                let args: Vec<String> = job.args.iter().map(yaml_arg).collect();
                let _ = writeln!(y, "    args: [{}]", args.join(", "));
            }
            if !job.after.is_empty() {
                let _ = writeln!(y, "    after: [{}]", job.after.join(", "));
            }
            write_matrix(&mut y, job);
            match (&job.condition, job.after_failure) {
                (Some(condition), after_failure) => {
                    let _ = writeln!(y, "    # from a condition the old engine never evaluated");
                    let status = if after_failure {
                        "!cancelled() && "
                    } else {
                        ""
                    };
                    let _ = writeln!(y, "    if: ${{{{ {status}{condition} }}}}");
                }
                (None, true) => {
                    let _ = writeln!(
                        y,
                        "    # the old engine went on after a failure (StopOnError = $false)\n    if: ${{{{ !cancelled() }}}}"
                    );
                }
                (None, false) => {}
            }
            if let Some(t) = job.timeout_secs {
                let _ = writeln!(y, "    timeout: {t}s");
            }
            if let Some(r) = job.retries {
                let _ = writeln!(y, "    retries: {r}");
            }
            if job.continue_on_error {
                let _ = writeln!(y, "    continue-on-error: true");
            }
        }
        y
    }
}

/// The comment that says which of a job's fields the old engine did not act on.
fn write_without_old_effect(y: &mut String, job: &JobOut) {
    use std::fmt::Write as _;
    let fields = job.without_old_effect().join(", ");
    let _ = match (job.kind == Kind::NotRun, fields.is_empty()) {
        (true, true) => writeln!(y, "    # the old engine never ran this; orch does"),
        (true, false) => writeln!(
            y,
            "    # the old engine never ran this; orch does, with its {fields}"
        ),
        (false, false) => writeln!(
            y,
            "    # no effect in the old engine, honoured here: {fields}"
        ),
        (false, true) => Ok(()),
    };
}

/// A job's legs (`matrix.include`) or axes, and its `strategy`.
fn write_matrix(y: &mut String, job: &JobOut) {
    use std::fmt::Write as _;
    if !job.legs.is_empty() {
        let _ = writeln!(y, "    matrix:\n      include:");
        for leg in &job.legs {
            let values: Vec<String> = leg
                .iter()
                .map(|(k, v)| format!("{}: {}", yaml_string(k), yaml_string(v)))
                .collect();
            let _ = writeln!(y, "        - {{ {} }}", values.join(", "));
        }
    }
    if !job.axes.is_empty() {
        let _ = writeln!(y, "    matrix:");
        for (axis, values) in &job.axes {
            let values: Vec<String> = values.iter().map(|v| yaml_string(v)).collect();
            let _ = writeln!(y, "      {axis}: [{}]", values.join(", "));
        }
    }
    if job.max_parallel.is_some() || !job.fail_fast {
        let mut strategy = Vec::new();
        if let Some(n) = job.max_parallel {
            strategy.push(format!("max-parallel: {n}"));
        }
        if !job.fail_fast {
            strategy.push("fail-fast: false".to_owned());
        }
        let _ = writeln!(y, "    strategy: {{ {} }}", strategy.join(", "));
    }
}

impl Importer<'_> {
    /// A v3 job: its needs, its condition, a step per script.
    fn write_v3_job(&self, y: &mut String, job: &JobOut) {
        use std::fmt::Write as _;
        let _ = writeln!(y, "  {}:", job.id);
        let _ = writeln!(y, "    # from {}", job.from);
        write_without_old_effect(y, job);
        if let Some(d) = &job.description {
            let _ = writeln!(y, "    description: {}", yaml_string(d));
        }
        if !job.needs.is_empty() {
            let _ = writeln!(y, "    needs: [{}]", job.needs.join(", "));
        }
        write_matrix(y, job);
        if let Some(condition) = &job.condition {
            let expression = condition
                .trim()
                .strip_prefix("${{")
                .and_then(|c| c.strip_suffix("}}"))
                .unwrap_or(condition)
                .trim();
            let _ = writeln!(
                y,
                "    if: {}",
                yaml_string(&format!("${{{{ {expression} }}}}"))
            );
        }
        if let Some(t) = job.timeout_secs {
            let _ = writeln!(y, "    timeout: {t}s");
        }
        if let Some(r) = job.retries {
            let _ = writeln!(y, "    retries: {r}");
        }
        if job.continue_on_error {
            let _ = writeln!(y, "    continue-on-error: true");
        }
        let _ = writeln!(y, "    steps:");
        for (number, args, name) in &job.steps {
            let Some(script) = self.folder.scripts.iter().find(|s| s.number == *number) else {
                continue;
            };
            let path = self.folder.path.join(&script.file);
            match name {
                Some(name) => {
                    let _ = writeln!(y, "      - name: {}", yaml_string(name));
                    let _ = writeln!(
                        y,
                        "        script: {}",
                        yaml_string(&path.to_string_lossy())
                    );
                }
                None => {
                    let _ = writeln!(
                        y,
                        "      - script: {}",
                        yaml_string(&path.to_string_lossy())
                    );
                }
            }
            if !args.is_empty() {
                let args: Vec<String> = args.iter().map(yaml_arg).collect();
                let _ = writeln!(y, "        args: [{}]", args.join(", "));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> ScriptsFolder {
        let scripts: Vec<Script> = [
            "0402_Run-UnitTests.ps1",
            "0404_Run-PSScriptAnalyzer.ps1",
            "0407_Validate-Syntax.ps1",
        ]
        .iter()
        .filter_map(|f| Script::from_file(f, ""))
        .collect();
        ScriptsFolder {
            path: "automation-scripts".into(),
            params: [
                (407, vec!["All".to_owned()]),
                (402, vec!["-Fast".to_owned(), "Level".to_owned()]),
            ]
            .into(),
            scripts,
            ..ScriptsFolder::default()
        }
    }

    fn import_text(path: &str, text: &str) -> Result<Imported, Problem> {
        let source = SourceFile {
            path: path.into(),
            text: text.into(),
        };
        let (root, powershell) = if path.ends_with(".psd1") {
            let psd1 = crate::load::psd1::parse(&source)?;
            (psd1.root, psd1.opaque.iter().map(|o| o.span).collect())
        } else {
            (crate::load::tree::parse(&source)?, Vec::new())
        };
        import(&source, (&root, &powershell), &folder(), Order::Declared)
            .map_err(|mut e| e.problems.remove(0))
    }

    #[test]
    fn v3_jobs_keep_their_needs_steps_and_defaults() {
        let imported = import_text(
            "v3.json",
            r#"{ "metadata": { "name": "v3" }, "orchestration": {
              "defaults": { "timeout": 90, "continueOnError": true },
              "jobs": {
                "lint": { "name": "Lint", "steps": [ { "name": "Syntax", "run": "0407" } ] },
                "test": { "needs": ["lint", "gone"], "if": "${{ vars.full }}", "timeout": 30,
                  "env": { "Level": "deep" },
                  "strategy": { "matrix": { "Level": ["unit", "deep"], "os": ["a"], "bad": "x" },
                    "maxParallel": 2, "failFast": false },
                  "steps": [ { "run": "0402, 0404" } ] },
                "empty": { "steps": [ { "run": "0999" } ] },
                "pr": { "if": "github.event_name == 'pull_request'", "steps": [ { "run": "0404" } ] } } } }"#,
        )
        .expect("imports");
        // `vars.full` is not set by the playbook: declared empty, so the file loads.
        assert!(
            imported.yaml.contains("vars:\n  \"full\": \"\"\n"),
            "{}",
            imported.yaml
        );
        assert!(
            imported.warnings.iter().any(|w| w.message.contains(
                "`if` reads `vars.full`, which the playbook does not set; declared empty"
            ))
        );
        // `github.*` is not a context of a playbook: the job runs always, as it did.
        assert!(
            !imported.yaml.contains("github.event_name"),
            "{}",
            imported.yaml
        );
        assert!(
            imported
                .warnings
                .iter()
                .any(|w| w.message.contains("job `pr`: `if` reads `github`"))
        );
        let y = imported.yaml.clone();
        let expected = [
            "  lint:\n    # from job \"lint\"\n    # no effect in the old engine, honoured here: timeout, continue-on-error\n    description: \"Lint\"\n    timeout: 90s\n    continue-on-error: true\n    steps:\n      - name: \"Syntax\"\n        script: \"automation-scripts/0407_Validate-Syntax.ps1\"\n",
            // A need on a job that imports nothing is dropped; the condition is an expression.
            // The matrix, its values the scripts' parameters over `env`.
            "    needs: [lint]\n    matrix:\n      Level: [\"unit\", \"deep\"]\n      os: [\"a\"]\n    strategy: { max-parallel: 2, fail-fast: false }\n    if: \"${{ vars.full }}\"\n    timeout: 30s\n",
            "      - script: \"automation-scripts/0402_Run-UnitTests.ps1\"\n        args: [{ option: \"-Level\", value: \"${{ matrix.Level }}\" }]\n      - script: \"automation-scripts/0404_Run-PSScriptAnalyzer.ps1\"\n",
        ];
        for part in expected {
            assert!(y.contains(part), "{part}\n---\n{y}");
        }
        assert!(!y.contains("  empty:"), "{y}");
        assert!(
            imported
                .warnings
                .iter()
                .any(|w| w.message.contains("job `empty` runs no script"))
        );
        assert!(imported.warnings.iter().any(|w| {
            w.message
                .contains("job `test`: matrix `bad` is not a name with a list of values")
        }));
        // `gone` is no job of the file at all (`empty` is one, which imports nothing),
        // said where it is written.
        let said = said(&imported);
        assert!(
            said.iter().any(|w| w.starts_with("v3.json:5:")
                && w.contains(
                    "job `test`: `needs` names `gone`, which is not a job of this playbook; dropped"
                )),
            "{said:?}"
        );
        let refused = import_text(
            "v3.json",
            "{ \"orchestration\": { \"jobs\": { \"a\": { \"steps\": [\n { \"uses\": \"actions/checkout@v4\" } ] } } } }",
        )
        .map(|_| ())
        .expect_err("refused");
        assert!(
            refused.message.contains("job `a`: a step with `uses`"),
            "{}",
            refused.message
        );
        // The step's own line: the old file's second.
        let text = "{ \"orchestration\": { \"jobs\": { \"a\": { \"steps\": [\n { \"uses\": \"actions/checkout@v4\" } ] } } } }";
        let offset = refused.span.map(|s| s.offset).expect("a place");
        assert_eq!(text[..offset].matches('\n').count() + 1, 2);
    }

    #[test]
    fn a_parallel_group_is_a_matrix_after_the_stage_before() {
        let imported = import_text(
            "p.json",
            r#"{ "metadata": {}, "orchestration": { "stages": [
              { "name": "First", "sequences": ["0407"] },
              { "name": "Tests", "type": "parallel-group", "maxConcurrency": 3, "failFast": false,
                "continueOnError": true, "jobs": [
                { "name": "a", "sequence": ["0402"], "variables": { "Level": "one" } },
                { "name": "b", "sequence": ["0402", "0404"], "variables": { "Level": "two" } } ] },
              { "name": "Again", "type": "parallel-group", "jobs": [
                { "name": "c", "sequence": ["0402"], "variables": { "Level": "three" } } ] } ] } }"#,
        );
        let y = imported.map(|i| i.yaml).unwrap_or_else(|e| e.message);
        let expected = [
            "  s0402:\n",
            "    args: [{ option: \"-Level\", value: \"${{ matrix.Level }}\" }]\n    after: [s0407]\n",
            "        - { \"Level\": \"one\" }\n        - { \"Level\": \"two\" }\n",
            "    strategy: { max-parallel: 3, fail-fast: false }\n",
            "  s0404:\n",
            // The same script in a later group is a job of its own, after the whole group.
            "  s0402-2:\n",
            "    args: [\"-Level\", \"three\"]\n    after: [s0402, s0404]\n",
        ];
        for part in expected {
            assert!(y.contains(part), "{part}\n---\n{y}");
        }
    }

    #[test]
    fn groups_and_a_top_level_scripts_list_import_as_meant() {
        let imported = import_text(
            "g.psd1",
            "@{ Sequence = @(\n  @{ Name = 'One'; Scripts = @('0407', '0404'); Timeout = 30 },\n  @{ Name = 'Two'; Scripts = @('0402'); Required = $false }\n) }\n",
        )
        .expect("imports");
        let y = &imported.yaml;
        for part in [
            "  s0407:\n    # from group \"One\"\n",
            "    timeout: 30s\n",
            "  s0402:\n    # from group \"Two\"\n",
            "    after: [s0407, s0404]\n",
            "    continue-on-error: true\n",
        ] {
            assert!(y.contains(part), "{part}\n---\n{y}");
        }
        assert!(imported.warnings.iter().any(|w| {
            w.message
                .contains("group `One`: the old engine skipped its scripts")
        }));
        let imported = import_text(
            "s.psd1",
            "@{ Configuration = @{ Mode = 'Sequential' }\n  Scripts = @( @{ Number = '0407'; Parameters = @{ All = $true } }, @{ Number = '0402' } ) }\n",
        )
        .expect("imports");
        let y = &imported.yaml;
        assert!(
            y.contains("  s0407:\n    # from Sequence item 0407\n"),
            "{y}"
        );
        assert!(y.contains("args: [\"-All\"]"), "{y}");
        assert!(y.contains("  s0402:\n    # from Sequence item 0402\n    script: \"automation-scripts/0402_Run-UnitTests.ps1\"\n    after: [s0407]\n"), "{y}");
    }

    #[test]
    fn headers_order_a_parallel_sequence() {
        let scripts = [
            ("0402_Run-UnitTests.ps1", "param()\n"),
            (
                "0404_Run-PSScriptAnalyzer.ps1",
                "<#\n.SYNOPSIS\n  Lint\n.NOTES\n  Dependencies: 0402, Setup-Tools\n#>\n",
            ),
            (
                "0407_Validate-Syntax.ps1",
                "# Stage: Validation\n# AllowParallel: false\n",
            ),
            (
                "0409_Other.ps1",
                "# AllowParallel: false\n# Dependencies: 0402\n",
            ),
            // Named, in another case: after 0402.
            ("0410_Report.ps1", "# Dependencies: run-unittests\n"),
            // Not in the playbook: a name that matches only it matches nothing.
            ("0001_Setup-Tools.ps1", "param()\n"),
        ];
        let folder = ScriptsFolder {
            path: "automation-scripts".into(),
            params: BTreeMap::new(),
            scripts: scripts
                .iter()
                .filter_map(|(f, t)| Script::from_file(f, t))
                .collect(),
            ..ScriptsFolder::default()
        };
        let source = SourceFile {
            path: "p.psd1".into(),
            text: "@{ Sequence = @('0402', '0404', '0407', '0409', '0410') }\n".into(),
        };
        let root = crate::load::psd1::parse(&source).unwrap().root;
        let imported = import(&source, (&root, &[]), &folder, Order::Declared).unwrap();
        let y = &imported.yaml;
        // The serial scripts first, one by one; the rest after them, and after their
        // dependencies.
        for part in [
            "  s0402:\n    # from Sequence\n    script: \"automation-scripts/0402_Run-UnitTests.ps1\"\n    after: [s0409]\n",
            "  s0404:\n    # from Sequence\n    script: \"automation-scripts/0404_Run-PSScriptAnalyzer.ps1\"\n    after: [s0409, s0402]\n",
            "  s0407:\n    # from Sequence\n    script: \"automation-scripts/0407_Validate-Syntax.ps1\"\n  s0409",
            "    after: [s0407]\n",
            "  s0410:\n    # from Sequence\n    script: \"automation-scripts/0410_Report.ps1\"\n    after: [s0409, s0402]\n",
        ] {
            assert!(y.contains(part), "{part}\n---\n{y}");
        }
        let said: Vec<&str> = imported
            .warnings
            .iter()
            .map(|w| w.message.as_str())
            .collect();
        assert!(
            said.iter()
                .any(|w| w.contains("`Setup-Tools` names no script of this playbook")),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|w| w.contains("0409_Other.ps1: depends on 0402, which runs after it")),
            "{said:?}"
        );
    }

    #[test]
    fn a_psd1_sequence_becomes_jobs() {
        let imported = import_text(
            "p.psd1",
            "@{\n  Name = 'pr'\n  Variables = @{ CI = $env:CI; Level = 2 }\n  Options = @{ Parallel = $false; StopOnError = $false }\n  SuccessCriteria = @{ RequireAllSuccess = $true }\n  Sequence = @(\n    @{ Script = '0407'; Parameters = @{ All = $true; Path = './x' }; Timeout = 60 },\n    @{ Script = '0402_Run-UnitTests.ps1'; ContinueOnError = $true; RetryCount = 1 }\n  )\n}\n",
        )
        .unwrap();
        let y = &imported.yaml;
        assert!(y.contains("  s0407:\n"), "{y}");
        assert!(
            y.contains("script: \"automation-scripts/0407_Validate-Syntax.ps1\""),
            "{y}"
        );
        assert!(y.contains("args: [\"-All\", \"-Path\", \"./x\"]"), "{y}");
        assert!(y.contains("timeout: 60s"), "{y}");
        // Parallel = $false: the old engine enforced no item's timeout, read no retries
        // and consulted no item's ContinueOnError; the job says so.
        assert!(
            y.contains("  s0407:\n    # from Sequence item 0407\n    # no effect in the old engine, honoured here: timeout\n"),
            "{y}"
        );
        assert!(
            y.contains(
                "    # no effect in the old engine, honoured here: retries, continue-on-error\n"
            ),
            "{y}"
        );
        assert!(
            y.contains("after: [s0407]"),
            "Parallel = $false: in order: {y}"
        );
        assert!(y.contains("if: ${{ !cancelled() }}"), "{y}");
        assert!(
            y.contains("continue-on-error: true") && y.contains("retries: 1"),
            "{y}"
        );
        assert!(y.contains("\"Level\": \"2\""), "{y}");
        // A var reaches the script that declares it, through `${{ vars }}`.
        assert!(
            y.contains("args: [{ option: \"-Level\", value: \"${{ vars.Level }}\" }]"),
            "{y}"
        );
        let said: Vec<String> = imported
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.location().unwrap_or_default(), w.message))
            .collect();
        assert!(
            said.iter()
                .any(|w| w.starts_with("p.psd1:3:") && w.contains("$env:CI")),
            "{said:?}"
        );
        // The criteria no engine read are the run's gate now.
        assert!(y.contains("success:\n  require-all: true\n"), "{y}");
        assert!(
            said.iter().any(|w| w.contains("`RetryCount` was ignored")),
            "{said:?}"
        );
    }

    #[test]
    fn v2_stages_run_in_order_and_say_what_they_drop() {
        let imported = import_text(
            "p.json",
            r#"{"metadata": {"name": "quick"}, "orchestration": {"defaultVariables": {"All": true},
                "stages": [
                  {"name": "Syntax", "sequences": ["0407"], "variables": {"All": true}, "timeout": 180},
                  {"name": "Tests", "sequences": ["0499", "0402, 0404"], "condition": "{{skip}} == false"}
                ]}}"#,
        )
        .unwrap();
        let y = &imported.yaml;
        assert!(
            y.contains("  s0407:\n") && y.contains("args: [\"-All\"]"),
            "a declared parameter: {y}"
        );
        assert!(y.contains("timeout: 180s"), "{y}");
        let order: Vec<&str> = y.lines().filter(|l| l.starts_with("  s0")).collect();
        assert_eq!(order, ["  s0407:", "  s0402:", "  s0404:"], "{y}");
        assert!(y.contains("after: [s0402]"), "{y}");
        let said: Vec<String> = imported
            .warnings
            .iter()
            .map(|w| w.message.clone())
            .collect();
        assert!(
            said.iter().any(|w| w.contains("space beside a comma")),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|w| w.contains("no script has the number 0499")),
            "{said:?}"
        );
        assert!(
            said.iter().any(|w| w.contains("`condition` was ignored")),
            "{said:?}"
        );
        // The condition is the jobs' `if`, its var declared (empty, as the old engine
        // read an unset one).
        assert!(
            y.contains("  s0402:\n    # from stage \"Tests\"\n    script: \"automation-scripts/0402_Run-UnitTests.ps1\"\n    after: [s0407]\n    # from a condition the old engine never evaluated\n    if: ${{ vars.skip != 'true' }}\n"),
            "{y}"
        );
        assert!(y.contains("  \"skip\": \"\"\n"), "{y}");
        assert!(!y.contains("s0407:\n    # from stage \"Syntax\"\n    script: \"automation-scripts/0407_Validate-Syntax.ps1\"\n    args: [\"-All\"]\n    if:"), "{y}");
    }

    fn said(imported: &Imported) -> Vec<String> {
        imported
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.location().unwrap_or_default(), w.message))
            .collect()
    }

    #[test]
    fn a_duplicate_number_runs_once_and_is_a_warning_at_the_later_entry() {
        let imported = import_text(
            "p.json",
            "{\"stages\": [{\"name\": \"a\", \"sequence\": [\"0402\"]},\n {\"name\": \"b\", \"sequence\": [\"0407\", \"0402\"]}]}",
        )
        .unwrap();
        assert_eq!(
            imported.yaml.matches("  s0402:\n").count(),
            1,
            "{}",
            imported.yaml
        );
        let said = said(&imported);
        assert!(
            said.iter().any(|w| w.starts_with("p.json:2:37:")
                && w.contains(
                    "0402 is in the playbook twice (first in stage \"a\"); it runs once"
                )),
            "{said:?}"
        );
    }

    #[test]
    fn an_exclusion_applies_to_the_whole_sequence_it_is_in() {
        // As its own entry, before or after what it excludes (the old engine's reading).
        let imported = import_text(
            "p.json",
            r#"{"stages": [{"name": "a", "sequence": ["!0404", "04*"]}, {"name": "b", "sequence": ["0404"]}]}"#,
        )
        .unwrap();
        let y = &imported.yaml;
        assert!(y.contains("  s0402:\n") && y.contains("  s0407:\n"), "{y}");
        // Nor from another stage: the old engine read all stages as one sequence.
        assert!(!y.contains("  s0404:"), "{y}");
        assert!(
            said(&imported).iter().any(|w| w.starts_with("p.json:1:85:")
                && w.contains("0404 is excluded by an `!` entry of another stage")),
            "{:?}",
            said(&imported)
        );
        // A PSD1 `Sequence` of strings is one sequence too.
        let psd1 = import_text("p.psd1", "@{ Sequence = @('04*', '!0402') }").unwrap();
        assert!(!psd1.yaml.contains("s0402"), "{}", psd1.yaml);
        assert!(
            psd1.yaml.contains("s0404") && psd1.yaml.contains("s0407"),
            "{}",
            psd1.yaml
        );
    }

    #[test]
    fn what_a_psd1_item_or_its_options_hold_is_imported_or_said() {
        let imported = import_text(
            "p.psd1",
            "@{\n  Options = @{ Parallel = $false; MaxConcurrency = 2; CaptureOutput = $true }\n  Sequence = @(\n    @{ Script = '0402'; Name = 'Unit tests'; Condition = { $IsWindows } },\n    @{ Script = '0404'; Condition = { -not $IsLinux }; Parameters = @{ Path = (Join-Path $PSScriptRoot 'x'); Mode = 'fast' } },\n    @{ Script = '0407'; Name = 'n'; Description = 'd'; Condition = { Test-Path ./x } }\n  )\n}\n",
        )
        .unwrap();
        let y = &imported.yaml;
        assert!(
            y.contains(
                "  s0402:\n    # from Sequence item 0402\n    description: \"Unit tests\"\n"
            ),
            "{y}"
        );
        assert!(y.contains("    if: ${{ orch.os == 'windows' }}\n"), "{y}");
        assert!(y.contains("if: ${{ orch.os != 'linux' }}"), "{y}");
        // PowerShell the old engine evaluated at load is not passed as its text.
        assert!(y.contains("args: [\"-Mode\", \"fast\"]"), "{y}");
        assert!(!y.contains("Join-Path"), "{y}");
        let said = said(&imported);
        for (line, what) in [
            (
                2,
                "`Options.MaxConcurrency`: orch has no limit in the playbook; run it with `-j 2`",
            ),
            (2, "`Options.CaptureOutput` was ignored by the old engine"),
            (4, "imported as `if: ${{ orch.os == 'windows' }}`"),
            (
                5,
                "parameter `Path`: `(Join-Path $PSScriptRoot 'x')` is PowerShell",
            ),
            (
                6,
                "`Condition` `{ Test-Path ./x }` was never run by the old engine and is PowerShell orch does not read",
            ),
            (6, "`Name` was ignored by the old engine; not imported"),
        ] {
            assert!(
                said.iter()
                    .any(|w| w.starts_with(&format!("p.psd1:{line}:")) && w.contains(what)),
                "{line}: {what}\n{said:?}"
            );
        }
    }

    #[test]
    fn placeholders_in_stage_variables_read_the_vars() {
        let imported = import_text(
            "p.json",
            "{\"variables\": {\"mode\": \"full\", \"out\": \"{{mode}}/{{kind:=x}}\"}, \"consolidation\": {},\n \"stages\": [{\"name\": \"a\", \"sequence\": [\"0402\"],\n \"variables\": {\"Level\": \"{{depth:=2}}-{{mode}}\"}}]}",
        )
        .unwrap();
        let y = &imported.yaml;
        assert!(
            y.contains("args: [{ option: \"-Level\", value: \"${{ (vars.depth || '2') }}-${{ vars.mode }}\" }]"),
            "{y}"
        );
        assert!(
            y.contains("  \"depth\": \"\"\n"),
            "an unset one is declared: {y}"
        );
        // A var's own placeholders are expanded at import, as the old engine did at load.
        assert!(y.contains("  \"out\": \"full/x\"\n"), "{y}");
        let said = said(&imported);
        assert!(
            said.iter().any(|w| w.starts_with("p.json:3:")
                && w.contains("`{{depth}}` names a var the playbook does not set")),
            "{said:?}"
        );
        assert!(
            !said.iter().any(|w| w.contains("`{{mode}}` names")),
            "{said:?}"
        );
        assert!(
            said.iter().any(|w| w.starts_with("p.json:1:") && w.contains("`consolidation` was never read")),
            "{said:?}"
        );
    }

    #[test]
    fn a_number_two_scripts_have_runs_the_first_by_name_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "0402_Run-UnitTests.ps1",
            "0402_Old-Tests.ps1",
            "0404_Lint.ps1",
        ] {
            std::fs::write(dir.path().join(name), "param($Path)\n").unwrap();
        }
        let folder = ScriptsFolder::read(dir.path(), "automation-scripts".into()).unwrap();
        let source = SourceFile {
            path: "p.json".into(),
            text: r#"{"stages": [{"name": "a", "sequence": ["0404", "0402"]}]}"#.into(),
        };
        let root = crate::load::tree::parse(&source).unwrap();
        let imported = import(&source, (&root, &[]), &folder, Order::Declared).unwrap();
        assert!(
            imported
                .yaml
                .contains("automation-scripts/0402_Old-Tests.ps1"),
            "{}",
            imported.yaml
        );
        let said = said(&imported);
        assert!(
            said.iter().any(|w| w.starts_with("p.json:1:48:")
                && w.contains(
                    "0402 names more than one script (0402_Old-Tests.ps1, 0402_Run-UnitTests.ps1)"
                )),
            "{said:?}"
        );
        assert_eq!(said.len(), 1, "{said:?}");
    }

    #[test]
    fn a_stage_with_variables_gives_a_script_it_names_those_instead_of_the_playbooks() {
        let with = |sequence: &str, stage_variables: &str| {
            import_text(
                "p.json",
                &format!("{{\"variables\": {{\"All\": \"x\"}}, \"stages\": [{{\"name\": \"a\", \"sequence\": [\"{sequence}\"]{stage_variables}}}]}}"),
            )
            .unwrap()
            .yaml
        };
        let playbooks = "args: [{ option: \"-All\", value: \"${{ vars.All }}\" }]";
        // Named by number in a stage with variables (even none): only the stage's.
        assert!(!with("0407", ", \"variables\": {}").contains(playbooks));
        // Through a range, or in a stage without variables: the playbook's too.
        assert!(with("0407-0407", ", \"variables\": {}").contains(playbooks));
        assert!(with("0407", "").contains(playbooks));
        // A switch (0402's `-Fast`) is on for the texts true/1/yes, off otherwise.
        let switch = |value: &str| {
            import_text(
                "p.json",
                &format!("{{\"stages\": [{{\"name\": \"a\", \"sequence\": [\"0402\"], \"variables\": {{\"Fast\": {value}}}}}]}}"),
            )
            .unwrap()
            .yaml
        };
        assert!(
            switch("\"yes\"").contains("args: [\"-Fast\"]"),
            "{}",
            switch("\"yes\"")
        );
        assert!(switch("true").contains("args: [\"-Fast\"]"));
        assert!(!switch("\"no\"").contains("-Fast"), "{}", switch("\"no\""));
    }

    #[test]
    fn an_items_parameters_win_over_vars_and_vars_reach_switches() {
        // 0402 declares `-Fast` (a switch) and `Level`.
        let imported = import_text(
            "p.psd1",
            "@{ Variables = @{ Level = 2; Fast = $true }\n  Sequence = @( @{ Script = '0402'; Parameters = @{ Level = 5 } } ) }",
        )
        .unwrap();
        let y = &imported.yaml;
        assert!(
            y.contains("args: [\"-Level\", \"5\", \"-Fast:${{ (vars.Fast == 'true' || vars.Fast == '1' || vars.Fast == 'yes') && '$true' || '$false' }}\"]"),
            "{y}"
        );
        assert_eq!(y.matches("-Level").count(), 1, "{y}");
    }

    #[test]
    fn counts_that_are_not_whole_numbers_are_said() {
        let imported = import_text(
            "p.psd1",
            "@{ Sequence = @(\n @{ Script = '0402'; Timeout = '30' },\n @{ Script = '0404'; Timeout = 99999 },\n @{ Script = '0407'; Timeout = 0; RetryCount = -1 },\n @{ Script = '0409'; Timeout = 'soon' }\n) }",
        )
        .unwrap();
        let y = &imported.yaml;
        assert!(y.contains("timeout: 30s"), "digits as text are read: {y}");
        assert_eq!(y.matches("timeout:").count(), 2, "{y}");
        assert!(y.contains("timeout: 7200s"), "{y}");
        let said = said(&imported);
        assert!(
            said.iter()
                .any(|w| w.starts_with("p.psd1:5:")
                    && w.contains("`Timeout` `soon` is not a number")),
            "{said:?}"
        );
        // A fraction is rounded as PowerShell's `[int]` rounded it: half to even.
        let rounded = import_text(
            "p.psd1",
            "@{ Sequence = @(\n @{ Script = '0402'; Timeout = 12.5 },\n @{ Script = '0404'; Timeout = '12.7' }\n) }",
        )
        .unwrap();
        assert!(
            rounded.yaml.contains("timeout: 12s") && rounded.yaml.contains("timeout: 13s"),
            "{}",
            rounded.yaml
        );
        assert!(
            said.iter()
                .any(|w| w.starts_with("p.psd1:4:") && w.contains("of zero or less")),
            "{said:?}"
        );
        assert!(
            said.iter().any(|w| w.starts_with("p.psd1:4:")
                && w.contains("`RetryCount` of -1: below zero")),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|w| w.starts_with("p.psd1:3:") && w.contains("capped at 7200 s")),
            "{said:?}"
        );
    }

    #[test]
    fn an_item_takes_the_first_four_digits_of_its_script_path() {
        let imported = import_text(
            "p.psd1",
            "@{ Sequence = @( @{ Script = 'library/automation-scripts/0407.ps1' } ) }",
        )
        .unwrap();
        assert!(imported.yaml.contains("  s0407:\n"), "{}", imported.yaml);
        let none = import_text(
            "p.psd1",
            "@{ Sequence = @( @{ Script = 'Run-Tests.ps1' } ) }",
        )
        .unwrap_err();
        assert!(
            none.message.contains("has no script number"),
            "{}",
            none.message
        );
    }

    #[test]
    fn a_sequence_of_mixed_forms_is_read_by_each_entry_and_said() {
        let imported = import_text(
            "p.psd1",
            "@{ Options = @{ Parallel = $false }; Sequence = @(\n '0402',\n @{ Script = '0407' },\n '0404'\n) }",
        )
        .unwrap();
        // In the order written.
        let y = &imported.yaml;
        let at = |id: &str| y.find(&format!("  {id}:\n")).unwrap_or(usize::MAX);
        assert!(
            at("s0402") < at("s0407") && at("s0407") < at("s0404"),
            "{y}"
        );
        assert!(imported.yaml.contains("s0402") && imported.yaml.contains("s0407"));
        let said = said(&imported);
        assert!(
            said.iter().any(|w| w.starts_with("p.psd1:3:")
                && w.contains("read every entry as a string (from the first)")),
            "{said:?}"
        );
    }

    #[test]
    fn a_string_after_an_item_is_said_as_the_old_engine_read_it() {
        let imported = import_text(
            "p.psd1",
            "@{ Sequence = @(\n @{ Script = '0407' },\n '0404',\n '0400-0403',\n 'x'\n) }",
        )
        .unwrap();
        let said = said(&imported);
        // A plain number reads the same either way: nothing to say.
        assert!(!said.iter().any(|w| w.starts_with("p.psd1:3:")), "{said:?}");
        assert!(
            said.iter().any(|w| w.starts_with("p.psd1:4:")
                && w.contains("read it as an item's `Script` and ran only 0400")),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|w| w.starts_with("p.psd1:5:") && w.contains("ran nothing")),
            "{said:?}"
        );
        assert!(imported.yaml.contains("  s0402:\n"), "{}", imported.yaml);
    }

    #[test]
    fn a_placeholder_in_a_var_is_expanded_in_each_profile_from_its_own_vars() {
        let imported = import_text(
            "p.json",
            r#"{"metadata": {"name": "p"}, "orchestration": {
  "defaultVariables": {"results": "out", "report": "{{results}}/r.xml", "Level": "{{mode:=2}}"},
  "profiles": {"ci": {"variables": {"results": "ci", "mode": "5"}}, "same": {"variables": {"other": "x"}}},
  "stages": [{"name": "t", "sequences": ["0402"]}]}}"#,
        )
        .unwrap();
        let y = &imported.yaml;
        let section = |from: &str, to: &str| {
            let start = y.find(from).unwrap_or(0);
            let end = y[start..].find(to).map_or(y.len(), |e| start + e);
            y[start..end].to_owned()
        };
        assert!(
            section("vars:", "profiles:").contains("\"report\": \"out/r.xml\""),
            "{y}"
        );
        let ci = section("  \"ci\":", "  \"same\":");
        assert!(
            ci.contains("\"report\": \"ci/r.xml\"") && ci.contains("\"Level\": \"5\""),
            "{y}"
        );
        // A profile that changes no placeholder's value gets no copies.
        assert!(!section("  \"same\":", "jobs:").contains("report"), "{y}");
    }

    #[test]
    fn v3_needs_that_close_a_cycle_are_dropped_and_said() {
        let text = r#"{ "orchestration": { "jobs": {
  "a": { "needs": ["a", "b"], "steps": [ { "run": "0402" } ] },
  "b": { "needs": "c", "steps": [ { "run": "0404" } ] },
  "c": { "needs": ["a"], "steps": [ { "run": "0407" } ] } } } }"#;
        let imported = import_text("v3.json", text).expect("imports");
        let said = said(&imported);
        assert!(
            said.iter()
                .any(|w| w.starts_with("v3.json:2:") && w.contains("needing `a` closes a cycle")),
            "{said:?}"
        );
        // a needs b needs c; c's need on a would close the loop.
        assert!(
            said.iter().any(|w| w.starts_with("v3.json:4:")
                && w.contains("job `c`: needing `a` closes a cycle")),
            "{said:?}"
        );
        // What is written compiles: no cycle is left.
        let compiled = crate::compile::build::tests::compile_text(&imported.yaml);
        assert!(compiled.is_ok(), "{}", imported.yaml);
        assert!(
            imported.yaml.contains("needs: [b]") && imported.yaml.contains("needs: [c]"),
            "{}",
            imported.yaml
        );
    }

    #[test]
    fn a_var_nothing_reads_is_said() {
        let imported = import_text(
            "p.json",
            r#"{"name": "p", "variables": {
  "Level": "1",
  "Unused": "x",
  "Base": "b",
  "Derived": "{{ base }}/d"},
  "stages": [{"name": "t", "sequence": ["0402"]}]}"#,
        )
        .unwrap();
        let said = said(&imported);
        let about = |name: &str| {
            said.iter()
                .filter(|w| w.contains(&format!("var `{name}`: no script")))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert!(about("Unused")[0].starts_with("p.json:3:"), "{said:?}");
        // 0402 declares Level; Base is read by Derived's placeholder.
        assert!(
            about("Level").is_empty() && about("Base").is_empty(),
            "{said:?}"
        );
        assert_eq!(about("Derived").len(), 1, "{said:?}");
    }

    #[test]
    fn a_playbook_that_selects_nothing_is_refused_with_the_reasons() {
        let source = SourceFile {
            path: "p.json".into(),
            text: r#"{"stages": [{"name": "a", "sequence": ["402", "0600-0699"]}]}"#.into(),
        };
        let root = crate::load::tree::parse(&source).unwrap();
        let refused = import(&source, (&root, &[]), &folder(), Order::Declared).unwrap_err();
        let messages: Vec<&str> = refused
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert!(messages[0].contains("runs no script"), "{messages:?}");
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`402` is not a sequence entry")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`0600-0699` selects no script")),
            "{messages:?}"
        );
    }

    #[test]
    fn old_order_sorts_a_one_at_a_time_playbook_across_its_stages() {
        let text = r#"{"stages": [{"name": "a", "sequence": ["0407"]}, {"name": "b", "sequence": ["0404", "0402"]}]}"#;
        let source = SourceFile {
            path: "p.json".into(),
            text: text.into(),
        };
        let root = crate::load::tree::parse(&source).unwrap();
        let y = import(&source, (&root, &[]), &folder(), Order::Ascending)
            .unwrap()
            .yaml;
        let at = |id: &str| y.find(&format!("  {id}:\n")).unwrap_or(usize::MAX);
        assert!(
            at("s0402") < at("s0404") && at("s0404") < at("s0407"),
            "{y}"
        );
        assert!(
            y.contains("after: [s0402]") && y.contains("after: [s0404]"),
            "{y}"
        );
        assert!(!y.contains("after: [s0407]"), "{y}");
        let declared = import(&source, (&root, &[]), &folder(), Order::Declared)
            .unwrap()
            .yaml;
        assert!(declared.contains("after: [s0407]"), "{declared}");
    }

    #[test]
    fn params_are_read_from_the_param_block() {
        assert_eq!(
            param_names(
                "# header $not\nparam(\n  [switch]$All,\n  [string]$Path = $env:HOME,\n  $Configuration\n)\n$x = 1"
            ),
            ["-All", "Path", "Configuration"]
        );
    }
}
