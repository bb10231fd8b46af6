//! What orch does in place of a GitHub action a workflow step `uses:`: the well-known
//! ones have built-in equivalents, decided here from the reference alone so that
//! `plan` and the run say the same.

/// A step's `uses:` as orch runs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Builtin {
    /// Nothing to do here, and why (`actions/checkout`: the workspace is the checkout).
    Nothing(std::borrow::Cow<'static, str>),
    /// A setup action: the programs it would install must already be on PATH.
    Tools(Vec<String>),
    /// `actions/upload-artifact`: its `path` kept as artifact `name` of the run.
    UploadArtifact,
    /// `actions/download-artifact`: artifacts of the jobs it needs, into `path`.
    DownloadArtifact,
    /// Not run on a local run: the step is skipped with this said in its log.
    Unsupported(std::borrow::Cow<'static, str>),
    /// An action of the workspace that is not there: the step fails when it runs (an
    /// earlier step may be what was meant to make it, as on GitHub).
    Missing(std::borrow::Cow<'static, str>),
    /// `./path`: an action of the workspace, until compiling reads its `action.yml` and
    /// makes it one of the two below (see `local_action.rs`).
    Local,
    /// A composite action: its steps run in place of the step.
    Composite(Box<CompositeAction>),
    /// A JavaScript action of the workspace: `node` runs its `main`.
    Node(Box<NodeAction>),
}

/// A composite action, compiled: its steps see its `inputs` and their own `steps`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompositeAction {
    /// The action's folder, relative to the workspace (`github.action_path`).
    pub folder: String,
    /// Each declared input and its default (rendered where the `with` gives none).
    pub inputs: Vec<(String, Option<crate::compile::expr::Template>)>,
    pub steps: Vec<crate::compile::graph::CompiledStep>,
    /// `outputs.<name>.value`, over its steps.
    pub outputs: Vec<(String, crate::compile::expr::Template)>,
}

/// A JavaScript action of the workspace: files relative to its folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeAction {
    pub folder: String,
    pub inputs: Vec<(String, Option<crate::compile::expr::Template>)>,
    pub main: String,
    pub pre: Option<String>,
    pub post: Option<String>,
}

/// `owner/repo@ref` (or `owner/repo/path@ref`) without the ref, lower-cased.
fn action_name(reference: &str) -> String {
    reference
        .split('@')
        .next()
        .unwrap_or(reference)
        .to_ascii_lowercase()
}

/// The built-in for `reference`; `with_tool` is the step's `with.tool` (install-action).
pub fn builtin(reference: &str, with_tool: Option<&str>) -> Builtin {
    if reference.starts_with("./") {
        return Builtin::Local;
    }
    if reference.starts_with("docker://") {
        return Builtin::Unsupported("container actions do not run on a local run".into());
    }
    let name = action_name(reference);
    let tools = |names: &[&str]| Builtin::Tools(names.iter().map(|s| (*s).to_owned()).collect());
    match name.as_str() {
        "actions/checkout" => Builtin::Nothing("the workspace is the checkout".into()),
        "actions/cache"
        | "actions/cache/restore"
        | "actions/cache/save"
        | "swatinem/rust-cache" => Builtin::Nothing("orch's cache keeps what the job makes".into()),
        "actions/setup-node" => tools(&["node"]),
        "actions/setup-python" => tools(&["python3"]),
        "actions/setup-go" => tools(&["go"]),
        "actions/setup-java" => tools(&["java"]),
        "actions/setup-dotnet" => tools(&["dotnet"]),
        "astral-sh/setup-uv" => tools(&["uv"]),
        "rui314/setup-mold" => tools(&["mold"]),
        "dtolnay/rust-toolchain"
        | "actions-rs/toolchain"
        | "actions-rust-lang/setup-rust-toolchain" => tools(&["rustc", "cargo"]),
        "taiki-e/install-action" => Builtin::Tools(
            with_tool
                .unwrap_or_default()
                .split([',', '\n'])
                .map(|t| t.trim().split('@').next().unwrap_or_default().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
        ),
        "actions/upload-artifact" => Builtin::UploadArtifact,
        "actions/download-artifact" => Builtin::DownloadArtifact,
        _ => Builtin::Unsupported("a remote action is not run on a local run".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_actions_map() {
        assert!(matches!(
            builtin("actions/checkout@v4", None),
            Builtin::Nothing(_)
        ));
        assert!(matches!(
            builtin("Swatinem/rust-cache@v2", None),
            Builtin::Nothing(_)
        ));
        assert_eq!(
            builtin("dtolnay/rust-toolchain@stable", None),
            Builtin::Tools(vec!["rustc".into(), "cargo".into()])
        );
        assert_eq!(
            builtin(
                "taiki-e/install-action@v2",
                Some("cargo-hack,cargo-nextest@0.9")
            ),
            Builtin::Tools(vec!["cargo-hack".into(), "cargo-nextest".into()])
        );
        assert_eq!(builtin("./.github/actions/x", None), Builtin::Local);
        assert!(matches!(
            builtin("someone/thing@v1", None),
            Builtin::Unsupported(_)
        ));
    }
}
