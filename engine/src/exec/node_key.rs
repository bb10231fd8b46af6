//! A node's key components as the scheduler builds them: its commands, env, needs'
//! results, tools and platform (the input files join in `cache::queries`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::prepare::{NodeWork, StepCommand};
use super::scheduler::{EVERYTHING, State};
use super::scope::NodeScope;
use crate::cache::key::{KEY_VERSION, KeyComponents, NeedResult, Needs};
use crate::compile::actions::Builtin;
use crate::compile::expr::{self, Expr, Val};
use crate::compile::local_action::{action_folders, composite_exprs};
use crate::db::Db;
use crate::exec::process;
use crate::load::model::Shell;
use crate::report::event::NodeStatus;
use orch_store::Digest;

/// The context values an expression reads (longest paths: `vars.profile`, not `vars`),
/// as text, for keys.
pub(super) fn condition_values(condition: &Expr, scope: &NodeScope) -> Vec<(String, String)> {
    let mut longest: BTreeMap<usize, (Vec<String>, Expr)> = BTreeMap::new();
    expr::visit(condition, &mut |sub| {
        if let Some((path, at)) = expr::path_of(sub)
            && longest.get(&at).is_none_or(|(p, _)| p.len() < path.len())
        {
            longest.insert(
                at,
                (path.into_iter().map(str::to_owned).collect(), sub.clone()),
            );
        }
    });
    longest
        .into_values()
        .map(|(path, sub)| {
            // As JSON, so the type counts (`false` and `'false'` decide differently) and
            // an array or object is its content (as text it would only be `Array`).
            let value = expr::eval(&sub, scope)
                .map(|v| match v {
                    Val::Json(v) => v.to_string(),
                    v => expr::to_text(&v),
                })
                .unwrap_or_else(|e| format!("error: {}", e.message));
            (path.join("."), value)
        })
        .collect()
}

/// A program found for a node's key: (name, the node's PATH, the folder the search
/// depended on, the executable's digest).
pub(super) type FoundTool = (String, Option<String>, Option<PathBuf>, Digest);

impl State<'_> {
    /// Text for a key: each secret's value replaced by a marker naming it, so no key holds
    /// a secret, yet using another secret in a command is still a change.
    pub(super) fn key_text(&self, text: &str) -> String {
        let mut named: Vec<(&String, String)> = self
            .options
            .secrets
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .flat_map(|(name, value)| {
                crate::exec::mask::forms(value)
                    .into_iter()
                    .map(move |form| (name, form))
            })
            .collect();
        named.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        let mut out = text.to_owned();
        for (name, value) in named {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("${{{{ secrets.{name} }}}}"));
            }
        }
        out
    }

    /// Everything that goes into a node's key but its input files (see `key.rs`).
    pub(super) fn partial_components(&self, node: usize, work: &NodeWork) -> KeyComponents {
        let spec = &self.graph.nodes[node];
        let job = &self.graph.jobs[spec.job];
        let mut command = Vec::with_capacity(work.steps.len());
        let mut env: BTreeMap<String, String> = work
            .env
            .iter()
            .filter(|(k, _)| !k.starts_with("ORCH_"))
            .map(|(k, v)| (k.clone(), self.key_text(v)))
            .collect();
        // What `artifacts:` keeps is part of the result.
        for (name, patterns) in &work.artifacts {
            env.insert(format!("artifacts.{name}"), patterns.join("\n"));
        }
        // A workflow job's outputs are its `outputs:` map over the steps' values.
        for (name, template) in &work.output_map {
            env.insert(format!("outputs.{name}"), self.key_text(&template.source()));
        }
        for (index, step) in work.steps.iter().enumerate() {
            let condition = step
                .condition
                .as_ref()
                .map(|c| format!(" if {c}"))
                .unwrap_or_default();
            // A step rendered when it runs (its text reads `steps`) is keyed by its
            // templates and the values they read but `steps` (which the steps before it,
            // in this key, decide); any other by its rendered text.
            let source = |t: &crate::compile::expr::Template| self.key_text(&t.source());
            if let Some(late) = &step.late {
                let exprs = late.templates().flat_map(|t| t.exprs().map(|(e, _)| e));
                for (path, value) in self.keyed_reads(exprs, &work.scope, &["steps"]) {
                    env.insert(format!("step{index}.reads {path}"), value);
                }
            }
            let text = match (&step.command, &step.late) {
                (StepCommand::Inline(_), Some(late)) => {
                    let body = match &late.body {
                        crate::compile::graph::Body::Run(t) => source(t),
                        _ => String::new(),
                    };
                    format!("run when it runs{condition}:{body}")
                }
                (StepCommand::Inline(text), None) => {
                    format!("run{condition}:{}", self.key_text(text))
                }
                // The tools a setup action checks are among the job's tools, keyed by content.
                (
                    StepCommand::Action {
                        reference,
                        with,
                        builtin,
                    },
                    _,
                ) => {
                    let with: Vec<String> = with
                        .iter()
                        .map(|(k, v)| format!("{k}={}", self.key_text(v)))
                        .collect();
                    // An action of the workspace is what its `action.yml` compiled to; a
                    // composite one also by what its expressions read (its files are
                    // among the job's default inputs).
                    // Every file of the action's folder, ignored ones too (a JavaScript
                    // action's `dist/` or `node_modules/`): what it runs. An action at the
                    // workspace's root (`uses: ./`) has the job's default inputs instead.
                    for folder in action_folders(builtin)
                        .into_iter()
                        .filter(|f| !f.is_empty())
                    {
                        let root = self.options.workspace.join(folder);
                        for file in crate::files::walk::list_files(&root, false, &[]) {
                            let path = format!("{folder}/{file}");
                            let digest = self
                                .db
                                .file(&path)
                                .digest(&self.db)
                                .map_or_else(|| "unreadable".to_owned(), |d| d.to_hex());
                            env.insert(format!("step{index}.action file {path}"), digest);
                        }
                    }
                    let compiled = match builtin {
                        Builtin::Composite(composite) => {
                            let exprs = composite_exprs(composite);
                            for (path, value) in
                                self.keyed_reads(exprs, &work.scope, &["steps", "inputs"])
                            {
                                env.insert(format!("step{index}.action reads {path}"), value);
                            }
                            serde_json::to_string(composite).unwrap_or_default()
                        }
                        Builtin::Node(action) => serde_json::to_string(action).unwrap_or_default(),
                        _ => String::new(),
                    };
                    format!(
                        "uses{condition}:{reference}:{}{}",
                        with.join("\0"),
                        self.key_text(&compiled)
                    )
                }
                (StepCommand::Script { path, args }, late) => {
                    let digest = self
                        .db
                        .file(path)
                        .digest(&self.db)
                        .map_or_else(|| "unreadable".to_owned(), |d| d.to_hex());
                    match late.as_ref().map(|l| &l.body) {
                        // Templates, each with the option it may be dropped with.
                        Some(crate::compile::graph::Body::Script { args, .. }) => {
                            let args: Vec<(&Option<String>, String)> =
                                args.iter().map(|a| (&a.option, source(&a.value))).collect();
                            let args = serde_json::to_string(&args).unwrap_or_default();
                            format!("script when it runs{condition}:{path}:{digest}:{args}")
                        }
                        _ => {
                            let args: Vec<String> = args.iter().map(|a| self.key_text(a)).collect();
                            format!("script{condition}:{path}:{digest}:{}", args.join("\0"))
                        }
                    }
                }
            };
            command.push(format!(
                "{}{text}{}",
                if step.continue_on_error {
                    "continue-on-error "
                } else {
                    ""
                },
                step.key_settings(&self.options.workspace)
            ));
            match &step.late {
                Some(late) => {
                    for (k, t) in &late.env {
                        env.insert(format!("step{index}.{k}"), source(t));
                    }
                }
                None => {
                    for (k, v) in &step.env {
                        env.insert(format!("step{index}.{k}"), self.key_text(v));
                    }
                }
            }
            // A step's `if` is decided when it runs: the values it reads are part of the
            // key (its text already is), so `--var` or an input that flips it is a miss.
            if let Some(condition) = &step.condition {
                for (path, value) in condition_values(condition, &work.scope) {
                    env.insert(format!("step{index}.if {path}"), self.key_text(&value));
                }
            }
            // So are those its `continue-on-error` and `timeout-minutes` expressions read
            // (their text is in the step's settings); `steps` the steps before decide.
            let settings = step
                .continue_on_error_expr
                .iter()
                .chain(&step.timeout_minutes);
            let exprs = settings.flat_map(|t| t.exprs().map(|(e, _)| e));
            for (path, value) in self.keyed_reads(exprs, &work.scope, &["steps"]) {
                env.insert(format!("step{index}.setting reads {path}"), value);
            }
        }
        let needs = (*self.job_needs(spec.job)).clone();
        let env_inputs = job
            .env_inputs
            .iter()
            .map(|name| {
                let value = std::env::var_os(name)
                    .map_or_else(|| b"\0unset".to_vec(), |v| v.into_encoded_bytes());
                (name.clone(), Digest::of(&value))
            })
            .collect();
        KeyComponents {
            version: KEY_VERSION,
            node: spec.id.clone(),
            shell: work.shell.name().to_owned(),
            command,
            env,
            matrix: spec
                .matrix
                .iter()
                .map(|(k, v)| (k.clone(), v.key_text()))
                .collect(),
            working_directory: work.cwd.strip_prefix(&self.options.workspace).map_or_else(
                |_| work.cwd.display().to_string(),
                |p| p.display().to_string(),
            ),
            inputs: BTreeMap::new(),
            env_inputs,
            outputs: work.outputs.clone(),
            // A node that runs on a farm is the farm's machine's work: keyed apart from
            // this machine's, by the properties that choose that machine.
            platform: match self.placement(node, work) {
                super::elsewhere::Placement::There(properties) => format!(
                    "{} remote {}",
                    self.platform,
                    serde_json::to_string(&properties).unwrap_or_default()
                ),
                super::elsewhere::Placement::Here(_) => self.platform.clone(),
            },
            tools: self.tool_digests(work, &job.tools),
            needs,
        }
    }

    /// What the keys of a job's nodes hold of their needs: each node of the jobs it needs
    /// directly, by result and by `upstream` (the digest of that node's own needs, so a
    /// change two levels up is in the key). Remembered once every need has ended.
    pub(super) fn job_needs(&self, job: usize) -> Arc<Needs> {
        if let Some(known) = &self.job_needs.borrow()[job] {
            return known.clone();
        }
        let mut complete = true;
        let mut needs = Vec::new();
        // A `uses` job stands for its members (those of nested `uses` too).
        let mut leaves: Vec<usize> = self.graph.jobs[job]
            .needs
            .iter()
            .flat_map(|&need| self.graph.standing_for(need))
            .collect();
        leaves.sort_unstable();
        leaves.dedup();
        for need in leaves {
            let nodes = self.graph.jobs[need].nodes.clone();
            // A need without nodes (a matrix all excluded) still stands for what is above
            // it: an entry by its job's id and upstream.
            if nodes.is_empty() {
                let upstream = self.job_upstream[need].unwrap_or_else(|| {
                    complete = false;
                    Digest::of(b"upstream:not-ended")
                });
                let result = Digest::of(b"status:no-nodes");
                needs.push((
                    self.graph.jobs[need].id.clone(),
                    NeedResult { result, upstream },
                ));
            }
            for n in nodes {
                let result = match &self.results[n] {
                    // A need that failed (and did not stop us: continue-on-error) has no
                    // result to compare: a fresh digest, so this node never hits on it.
                    Some(r) if r.status == NodeStatus::Failure => Digest::of(
                        format!("failed {} {}", self.options.run_id, self.graph.nodes[n].id)
                            .as_bytes(),
                    ),
                    Some(r) => r.result_digest.unwrap_or_else(|| {
                        Digest::of(format!("status:{}", r.status.as_str()).as_bytes())
                    }),
                    None => {
                        complete = false;
                        Digest::of(b"status:not-selected")
                    }
                };
                let upstream = self.job_upstream[self.graph.nodes[n].job].unwrap_or_else(|| {
                    complete = false;
                    Digest::of(b"upstream:not-ended")
                });
                needs.push((
                    self.graph.nodes[n].id.clone(),
                    NeedResult { result, upstream },
                ));
            }
        }
        // Built in one pass (sorted), not inserted one by one.
        let needs: Arc<Needs> = Arc::new(needs.into_iter().collect());
        if complete {
            self.job_needs.borrow_mut()[job] = Some(needs.clone());
        }
        needs
    }

    /// The interpreter that runs the node and each declared tool, by name → blake3 of the
    /// executable the node's PATH finds (a `stat` through the stat cache; remembered for
    /// the run). A program that is not found has a digest of its own, so it appearing later
    /// is a change.
    pub(super) fn tool_digests(
        &self,
        work: &NodeWork,
        tools: &[String],
    ) -> BTreeMap<String, Digest> {
        let path = work
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str());
        // Where the search depends on the working directory (a relative or empty PATH
        // entry, a name with a `/`), that is part of what is remembered.
        let path_is_absolute = path
            .unwrap_or(&self.host_path)
            .split(':')
            .all(|dir| dir.starts_with('/'));
        let mut memo = self.tool_memo.borrow_mut();
        // The job's interpreter, each step's own, and the declared tools.
        std::iter::once(work.shell.program())
            .chain(
                work.steps
                    .iter()
                    .filter_map(|s| s.shell.as_ref().map(Shell::program)),
            )
            .chain(tools.iter().map(String::as_str))
            .map(|name| {
                let cwd = (!path_is_absolute || name.contains('/')).then_some(&work.cwd);
                // A few entries per run: found by comparison, without building a key.
                let known = memo
                    .iter()
                    .find(|(n, p, c, _)| n == name && p.as_deref() == path && c.as_ref() == cwd)
                    .map(|(_, _, _, d)| *d);
                let digest = known.unwrap_or_else(|| {
                    let found = process::locate(name, &work.env, &work.cwd);
                    let real = found.as_ref().and_then(|f| std::fs::canonicalize(f).ok());
                    let digest = real
                        .as_ref()
                        .and_then(|real| self.db.current_digest(&real.to_string_lossy()))
                        .map(|own| match (&found, &real) {
                            (Some(found), Some(real)) if is_rustup_proxy(found, real) => {
                                self.behind_rustup(own, name, &work.env)
                            }
                            _ => own,
                        })
                        .unwrap_or_else(|| Digest::of(format!("not found: {name}").as_bytes()));
                    memo.push((
                        name.to_owned(),
                        path.map(str::to_owned),
                        cwd.cloned(),
                        digest,
                    ));
                    digest
                });
                (name.to_owned(), digest)
            })
            .collect()
    }

    /// A program behind rustup's proxy (`~/.cargo/bin/cargo` is rustup) is whichever
    /// toolchain rustup picks when it runs: the proxy's digest with every installed
    /// toolchain's own `bin/NAME`, so updating or adding a toolchain is a miss.
    fn behind_rustup(&self, proxy: Digest, name: &str, env: &[(String, String)]) -> Digest {
        let home = env
            .iter()
            .rev()
            .find(|(k, _)| k == "RUSTUP_HOME")
            .map(|(_, v)| PathBuf::from(v))
            .or_else(|| std::env::var_os("RUSTUP_HOME").map(PathBuf::from))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
        let mut text = format!("rustup proxy {}", proxy.to_hex());
        let toolchains = home.and_then(|h| std::fs::read_dir(h.join("toolchains")).ok());
        let mut found: Vec<PathBuf> = toolchains
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
            .collect();
        found.sort();
        for binary in found {
            if let Some(digest) = self.db.current_digest(&binary.to_string_lossy()) {
                text.push_str(&format!("\n{} {}", binary.display(), digest.to_hex()));
            }
        }
        Digest::of(text.as_bytes())
    }

    /// The values `exprs` read (as key text), but those of the contexts in `own`, which
    /// the key holds otherwise (`steps`: the steps before, keyed in order).
    fn keyed_reads<'e>(
        &self,
        exprs: impl IntoIterator<Item = &'e Expr>,
        scope: &NodeScope,
        own: &[&str],
    ) -> Vec<(String, String)> {
        let mut reads = Vec::new();
        for e in exprs {
            for (path, value) in condition_values(e, scope) {
                let root = path.split('.').next().unwrap_or_default();
                if !own.contains(&root) {
                    reads.push((path, self.key_text(&value)));
                }
            }
        }
        reads
    }

    /// Whether a node's key covers any of `paths` (an input file or a script). A node
    /// without a key (`cache: false`) is not known to read anything.
    pub(super) fn reads_any(&self, node: usize, paths: &[String]) -> bool {
        let id = &self.graph.nodes[node].id;
        let Some(fresh) = self.fresh_keys.iter().rev().find(|f| f.node == *id) else {
            return false;
        };
        paths.iter().any(|path| {
            path == EVERYTHING
                || fresh.inputs.contains_key(path)
                || fresh
                    .partial
                    .command
                    .iter()
                    .any(|c| c.contains(&format!(":{path}:")))
        })
    }
}

/// Whether `found` (a program on PATH, `real` once links are followed) is one of
/// rustup's proxies: a link to `rustup`, or a hard link or copy of the `rustup` beside it.
fn is_rustup_proxy(found: &std::path::Path, real: &std::path::Path) -> bool {
    if found.file_name().is_some_and(|n| n == "rustup") {
        return false;
    }
    if real.file_name().is_some_and(|n| n == "rustup") {
        return true;
    }
    use std::os::unix::fs::MetadataExt;
    let beside = found.with_file_name("rustup");
    match (std::fs::metadata(real), std::fs::metadata(beside)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}
