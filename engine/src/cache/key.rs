//! What goes into a node's key, as one serde struct, and how two of them differ.
//!
//! | component | what | why it is there |
//! |---|---|---|
//! | `node` | the node id | two nodes never share a result |
//! | `shell`, `command` | the shell and each step's text after substitution (a script: its path, content digest and args) | the work itself |
//! | `env` | playbook, job and step env after substitution | what the work sees |
//! | `matrix` | the node's matrix values | |
//! | `working_directory` | relative to the workspace | |
//! | `inputs` | workspace-relative path → blake3 of the content | the files the work reads |
//! | `env_inputs` | name → blake3 of the host value | declared host variables |
//! | `outputs` | the declared outputs as rendered | a newly declared output is stored and restored, never missed by an old record |
//! | `platform` | OS and architecture (`linux-x86_64`) | a cache shared by Linux and macOS runners never restores one's artifacts on the other |
//! | `tools` | the interpreter that runs the node and each declared `tools:` program → blake3 of the resolved executable | `shell: python` runs whatever `python3` PATH gives |
//! | `needs` | every directly needed node → digest of its *result* (files + outputs) and its `upstream`: the digest of that node's own `needs`, so every node needed through other needs is in the key by its result | early cutoff: a need that re-ran to the same result changes nothing; a change two levels up is never hidden by a need between without outputs; the key grows with the direct needs, not with all that lies above (1,000 jobs with 5,000 needs held ~600 entries a key) |
//!
//! Two rules, as cargo's fingerprints have: no absolute paths (a copy of the workspace
//! elsewhere hits the same cache) and no times. Each secret's value is replaced by a
//! marker naming the secret (`${{ secrets.NAME }}`) before any text is hashed, so no key
//! depends on a secret's plain value, yet switching a command to another secret is a
//! change. A step's `if` adds the values it reads (`step0.if vars.profile`).

use std::collections::BTreeMap;

use orch_store::Digest;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

/// Bumped whenever what a key covers changes: every old key then misses.
pub const KEY_VERSION: u32 = 4;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyComponents {
    pub version: u32,
    pub node: String,
    pub shell: String,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub matrix: BTreeMap<String, String>,
    pub working_directory: String,
    pub inputs: BTreeMap<String, Digest>,
    pub env_inputs: BTreeMap<String, Digest>,
    pub outputs: Vec<String>,
    pub platform: String,
    pub tools: BTreeMap<String, Digest>,
    pub needs: Needs,
}

/// A node's direct needs, by node id.
pub type Needs = BTreeMap<String, NeedResult>;

/// What a key holds of one needed node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedResult {
    /// The digest of its result (files and job outputs), or of how it ended without one.
    pub result: Digest,
    /// [`upstream_digest`] of its own needs: everything above it, by result.
    pub upstream: Digest,
}

/// The digest of a node's needs (every node's result above it, through each need's own
/// `upstream`): what a node needing it holds as its `upstream`.
pub fn upstream_digest(needs: &Needs) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"orch-upstream\0");
    hasher.update(&postcard::to_allocvec(needs).unwrap_or_default());
    hasher.finalize().into()
}

/// Where a change among the needs comes from: the need whose result changed, found by
/// following needs whose own result stayed while their `upstream` changed. `needs_of`
/// gives a need's needs now and in the last run (`None` when either is not known).
pub fn changed_need(
    new: &Needs,
    old: &Needs,
    needs_of: &dyn Fn(&str) -> Option<(Needs, Needs)>,
) -> Option<(String, bool)> {
    let mut pair = (new.clone(), old.clone());
    // Each step goes one need further up a graph without cycles; the bound only guards
    // against a last run's records that say otherwise.
    for _ in 0..=new.len().max(64) * 64 {
        let (new, old) = &pair;
        let name = first_difference(new, old)?.to_owned();
        let result_changed = match (new.get(&name), old.get(&name)) {
            (Some(n), Some(o)) => n.result != o.result,
            _ => true,
        };
        if result_changed {
            return Some((name, true));
        }
        match needs_of(&name) {
            Some(next) if first_difference(&next.0, &next.1).is_some() => pair = next,
            _ => return Some((name, false)),
        }
    }
    None
}

/// The platform a node runs on, as keys name it: `linux-x86_64`, `macos-aarch64`.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

impl KeyComponents {
    pub fn digest(&self) -> Digest {
        KeyView::new(self, &self.inputs).digest()
    }

    /// Why this key differs from `old`, in words that name the changed thing.
    pub fn why_changed(&self, old: &KeyComponents) -> String {
        self.why_changed_through(old, &|_| None)
    }

    /// [`Self::why_changed`], a change among the needs followed up to the need whose
    /// result changed (`needs_of`: see [`changed_need`]).
    pub fn why_changed_through(
        &self,
        old: &KeyComponents,
        needs_of: &dyn Fn(&str) -> Option<(Needs, Needs)>,
    ) -> String {
        if self.version != old.version {
            return "orch's key format changed".into();
        }
        if self.shell != old.shell || self.command != old.command {
            return "script changed".into();
        }
        if self.working_directory != old.working_directory {
            return "working-directory changed".into();
        }
        if let Some(name) = first_difference(&self.env, &old.env) {
            return format!("env {name} changed");
        }
        if self.matrix != old.matrix {
            return "matrix values changed".into();
        }
        for (path, digest) in &self.inputs {
            match old.inputs.get(path) {
                None => return format!("new input {path}"),
                Some(d) if d != digest => return format!("input {path} changed"),
                Some(_) => {}
            }
        }
        if let Some(path) = old.inputs.keys().find(|p| !self.inputs.contains_key(*p)) {
            return format!("input {path} removed");
        }
        if let Some(name) = first_difference(&self.env_inputs, &old.env_inputs) {
            return format!("env {name} changed");
        }
        if self.outputs != old.outputs {
            return "declared outputs changed".into();
        }
        if self.platform != old.platform {
            return format!(
                "last result was produced on another platform ({}, now {})",
                old.platform, self.platform
            );
        }
        if let Some(tool) = first_difference(&self.tools, &old.tools) {
            return format!("{tool} is another program than the one that produced the last result");
        }
        if let Some((need, result_changed)) = changed_need(&self.needs, &old.needs, needs_of) {
            return if result_changed {
                format!("needs {need}, whose result changed")
            } else {
                format!("needs {need}, whose needs' results changed")
            };
        }
        "key changed".into()
    }

    /// Every component that differs from `old`, one line each, for `orch explain`.
    pub fn differences(&self, old: &KeyComponents) -> Vec<String> {
        let mut lines = Vec::new();
        if self.version != old.version {
            lines.push(format!("key format: {} → {}", old.version, self.version));
        }
        if self.shell != old.shell {
            lines.push(format!("shell: {} → {}", old.shell, self.shell));
        }
        if self.command != old.command {
            lines.push("script: changed".into());
        }
        if self.working_directory != old.working_directory {
            lines.push(format!(
                "working-directory: {} → {}",
                old.working_directory, self.working_directory
            ));
        }
        diff_maps(&mut lines, "env", &self.env, &old.env, |_| {
            "(value not shown)".to_owned()
        });
        diff_maps(
            &mut lines,
            "matrix",
            &self.matrix,
            &old.matrix,
            Clone::clone,
        );
        diff_maps(&mut lines, "input", &self.inputs, &old.inputs, short);
        diff_maps(
            &mut lines,
            "env-input",
            &self.env_inputs,
            &old.env_inputs,
            short,
        );
        if self.outputs != old.outputs {
            lines.push(format!(
                "outputs: [{}] → [{}]",
                old.outputs.join(", "),
                self.outputs.join(", ")
            ));
        }
        if self.platform != old.platform {
            lines.push(format!("platform: {} → {}", old.platform, self.platform));
        }
        diff_maps(&mut lines, "tool", &self.tools, &old.tools, short);
        diff_maps(&mut lines, "need", &self.needs, &old.needs, |n| {
            format!(
                "result {}, upstream {}",
                short(&n.result),
                short(&n.upstream)
            )
        });
        lines
    }
}

/// A note, kept in the cache beside each stored result, of the host that produced it: a
/// record (no files; the platform and each tool's digest as outputs) under a key over
/// everything but the host, in a domain of its own so that it never names a node's
/// record. A miss reads it to say when the result it lacks exists for another host.
pub struct HostNote {
    pub key: Digest,
    pub record: orch_store::ActionResult,
}

const HOST_NOTE: &str = "host-note";

impl HostNote {
    pub fn of(partial: &KeyComponents, inputs: &BTreeMap<String, Digest>) -> Self {
        let hostless = KeyComponents {
            platform: String::new(),
            tools: BTreeMap::new(),
            ..partial.clone()
        };
        let mut bytes = b"orch-host-note\0".to_vec();
        bytes.extend_from_slice(&KeyView::new(&hostless, inputs).digest().0);
        let mut outputs = vec![("platform".to_owned(), partial.platform.clone())];
        outputs.extend(
            partial
                .tools
                .iter()
                .map(|(name, digest)| (format!("tool {name}"), digest.to_hex())),
        );
        HostNote {
            key: Digest::of(&bytes),
            record: orch_store::ActionResult {
                orch_version: HOST_NOTE.to_owned(),
                exit_code: 0,
                duration_ms: 0,
                log: None,
                files: Vec::new(),
                outputs,
                summary: String::new(),
                result_digest: Digest::default(),
                artifacts: Vec::new(),
            },
        }
    }

    /// Why `found` (the note in the cache) is not this host, in words; `None` when it is.
    pub fn differs(&self, found: &orch_store::ActionResult) -> Option<String> {
        if found.orch_version != HOST_NOTE {
            return None;
        }
        let value = |record: &orch_store::ActionResult, name: &str| {
            record
                .outputs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let (here, there) = (value(&self.record, "platform"), value(found, "platform"));
        if here != there {
            return Some(format!(
                "the cache holds this node's result from another platform ({}, here {})",
                there.unwrap_or_default(),
                here.unwrap_or_default()
            ));
        }
        self.record
            .outputs
            .iter()
            .chain(&found.outputs)
            .find_map(|(name, _)| {
                let tool = name.strip_prefix("tool ")?;
                (value(&self.record, name) != value(found, name))
                    .then(|| format!("the cache holds this node's result made with another {tool}"))
            })
    }
}

pub fn short(digest: &Digest) -> String {
    digest.to_hex()[..12].to_owned()
}

fn first_difference<'a, V: PartialEq>(
    new: &'a BTreeMap<String, V>,
    old: &'a BTreeMap<String, V>,
) -> Option<&'a str> {
    new.iter()
        .find(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, _)| k.as_str())
        .or_else(|| {
            old.keys()
                .find(|k| !new.contains_key(*k))
                .map(String::as_str)
        })
}

fn diff_maps<V: PartialEq>(
    lines: &mut Vec<String>,
    what: &str,
    new: &BTreeMap<String, V>,
    old: &BTreeMap<String, V>,
    show: impl Fn(&V) -> String,
) {
    for (k, v) in new {
        match old.get(k) {
            None => lines.push(format!("{what} {k}: new ({})", show(v))),
            Some(o) if o != v => lines.push(format!("{what} {k}: {} → {}", show(o), show(v))),
            Some(_) => {}
        }
    }
    for (k, v) in old {
        if !new.contains_key(k) {
            lines.push(format!("{what} {k}: removed (was {})", show(v)));
        }
    }
}

/// The digest of a result: output files (path, content, mode, link) and job outputs.
pub fn result_digest(
    files: &[orch_store::OutputFile],
    outputs: &BTreeMap<String, String>,
    artifacts: &[orch_store::StoredArtifact],
) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"orch-result\0");
    let files: Vec<(&str, &Digest, u32, Option<&str>)> = files
        .iter()
        .map(|f| (f.path.as_str(), &f.digest, f.mode, f.symlink.as_deref()))
        .collect();
    hasher.update(&postcard::to_allocvec(&(files, outputs)).unwrap_or_default());
    // What a job that needs it may fetch: each artifact's name and content.
    for artifact in artifacts {
        hasher.update(artifact.name.as_bytes());
        hasher.update(b"\0");
        hasher.update(&artifact.digest().0);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> KeyComponents {
        KeyComponents {
            version: KEY_VERSION,
            node: "build".into(),
            shell: "bash".into(),
            command: vec!["make".into()],
            inputs: [("src/main.rs".to_owned(), Digest::of(b"main"))].into(),
            needs: [("gen".to_owned(), need(b"r1", b"u1"))].into(),
            env: [("CC".to_owned(), "gcc".to_owned())].into(),
            ..KeyComponents::default()
        }
    }

    /// The view must encode byte for byte as the components do, or every key changes.
    #[test]
    fn a_view_encodes_as_the_components_do() {
        let whole = base();
        let partial = KeyComponents {
            inputs: BTreeMap::new(),
            ..base()
        };
        let view = KeyView::new(&partial, &whole.inputs);
        assert_eq!(view.encode(), postcard::to_allocvec(&whole).unwrap());
        assert_eq!(view.to_components(), whole);
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"orch-node-key\0");
        hasher.update(&postcard::to_allocvec(&whole).unwrap());
        assert_eq!(view.digest(), Digest::from(hasher.finalize()));
        assert_eq!(whole.digest(), view.digest());
    }

    #[test]
    fn reasons_name_the_changed_thing() {
        let old = base();
        let mut new = base();
        assert_eq!(new.digest(), old.digest());
        new.inputs
            .insert("src/main.rs".into(), Digest::of(b"main2"));
        assert_ne!(new.digest(), old.digest());
        assert_eq!(new.why_changed(&old), "input src/main.rs changed");
        let mut new = base();
        new.inputs.insert("src/x.rs".into(), Digest::of(b"x"));
        assert_eq!(new.why_changed(&old), "new input src/x.rs");
        let mut new = base();
        new.inputs.clear();
        assert_eq!(new.why_changed(&old), "input src/main.rs removed");
        let mut new = base();
        new.env.insert("CC".into(), "clang".into());
        assert_eq!(new.why_changed(&old), "env CC changed");
        let mut new = base();
        new.command = vec!["make all".into()];
        assert_eq!(new.why_changed(&old), "script changed");
        let mut new = base();
        new.needs.insert("gen".into(), need(b"r2", b"u1"));
        assert_eq!(new.why_changed(&old), "needs gen, whose result changed");
        let lines = new.differences(&old);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("need gen: "), "{lines:?}");
    }

    fn need(result: &[u8], upstream: &[u8]) -> NeedResult {
        NeedResult {
            result: Digest::of(result),
            upstream: Digest::of(upstream),
        }
    }

    /// A change two levels up is named where it happened, through a need whose own
    /// result stayed the same.
    #[test]
    fn a_change_above_a_need_is_followed_to_its_node() {
        let old = base();
        let mut new = base();
        new.needs.insert("gen".into(), need(b"r1", b"u2"));
        assert_ne!(new.digest(), old.digest(), "upstream is in the key");
        assert_eq!(
            new.why_changed(&old),
            "needs gen, whose needs' results changed"
        );
        let gen_needs = |tool: &[u8]| -> Needs { [("tool".to_owned(), need(tool, b"-"))].into() };
        let lookup = |name: &str| (name == "gen").then(|| (gen_needs(b"t2"), gen_needs(b"t1")));
        assert_eq!(
            new.why_changed_through(&old, &lookup),
            "needs tool, whose result changed"
        );
        assert_ne!(
            upstream_digest(&gen_needs(b"t1")),
            upstream_digest(&gen_needs(b"t2"))
        );
    }

    #[test]
    fn key_digest_is_pinned() {
        // A golden value: when the encoding changes, old caches would read new keys
        // wrongly. Change it only together with KEY_VERSION.
        let digest = KeyComponents {
            platform: "linux-x86_64".into(),
            outputs: vec!["out/app".into()],
            tools: [("bash".to_owned(), Digest::of(b"bash"))].into(),
            ..base()
        }
        .digest();
        assert_eq!(KEY_VERSION, 4);
        assert_eq!(
            digest.to_hex(),
            "1b2fcc69e0e2f1889f8f37a96d08ba7d0b66b72a3ffdc802e67d107fbe86cf65"
        );
    }

    /// `base()` as produced on `platform`.
    fn on(platform: &str) -> KeyComponents {
        KeyComponents {
            platform: platform.into(),
            ..base()
        }
    }

    #[test]
    fn host_notes_name_the_other_host() {
        let (mac, linux) = (on("macos-aarch64"), on("linux-x86_64"));
        let (there, here) = (
            HostNote::of(&mac, &mac.inputs),
            HostNote::of(&linux, &linux.inputs),
        );
        assert_eq!(there.key, here.key, "one note key for every host");
        assert_ne!(here.key, linux.digest(), "never a node's key");
        assert_eq!(
            here.differs(&there.record).as_deref(),
            Some(
                "the cache holds this node's result from another platform (macos-aarch64, here linux-x86_64)"
            )
        );
        assert_eq!(here.differs(&here.record), None);
    }

    #[test]
    fn host_changes_are_named() {
        let (old, new) = (on("macos-aarch64"), on("linux-x86_64"));
        assert_eq!(
            new.why_changed(&old),
            "last result was produced on another platform (macos-aarch64, now linux-x86_64)"
        );
        let old = KeyComponents {
            tools: [("python3".to_owned(), Digest::of(b"3.11"))].into(),
            ..base()
        };
        let new = KeyComponents {
            tools: [("python3".to_owned(), Digest::of(b"3.12"))].into(),
            ..base()
        };
        assert_eq!(
            new.why_changed(&old),
            "python3 is another program than the one that produced the last result"
        );
        let new = KeyComponents {
            outputs: vec!["a".into(), "b".into()],
            ..base()
        };
        assert_eq!(new.why_changed(&base()), "declared outputs changed");
    }
}

/// A node's components as everything but the inputs (`partial`) plus its input files,
/// without copying either into one `KeyComponents`. It encodes exactly as the
/// `KeyComponents` with those inputs would (same fields, same order), so the key is the
/// same whichever is hashed.
#[derive(Clone, Copy)]
pub struct KeyView<'a> {
    partial: &'a KeyComponents,
    inputs: &'a BTreeMap<String, Digest>,
}

impl<'a> KeyView<'a> {
    pub fn new(partial: &'a KeyComponents, inputs: &'a BTreeMap<String, Digest>) -> Self {
        Self { partial, inputs }
    }

    /// The canonical encoding (postcard), as `.orch/state/keys` stores it.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// The node key: blake3 over a domain tag and the encoding. (Encoding into a buffer
    /// first is twice as fast as streaming postcard's many small writes into the hash.)
    pub fn digest(&self) -> Digest {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"orch-node-key\0");
        hasher.update(&self.encode());
        hasher.finalize().into()
    }

    /// The whole components, for explaining a change.
    pub fn to_components(&self) -> KeyComponents {
        KeyComponents {
            inputs: self.inputs.clone(),
            ..self.partial.clone()
        }
    }
}

impl Serialize for KeyView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = self.partial;
        let mut out = serializer.serialize_struct("KeyComponents", 13)?;
        out.serialize_field("version", &p.version)?;
        out.serialize_field("node", &p.node)?;
        out.serialize_field("shell", &p.shell)?;
        out.serialize_field("command", &p.command)?;
        out.serialize_field("env", &p.env)?;
        out.serialize_field("matrix", &p.matrix)?;
        out.serialize_field("working_directory", &p.working_directory)?;
        out.serialize_field("inputs", self.inputs)?;
        out.serialize_field("env_inputs", &p.env_inputs)?;
        out.serialize_field("outputs", &p.outputs)?;
        out.serialize_field("platform", &p.platform)?;
        out.serialize_field("tools", &p.tools)?;
        out.serialize_field("needs", &p.needs)?;
        out.end()
    }
}
