//! The compiled graph remembered between runs (`.orch/state/graph-*`): an unchanged
//! playbook is never parsed twice. Parsing and decoding with spans costs ~20 µs a job,
//! most of a no-op run of separate jobs; reading the graph back costs a few.
//!
//! A remembered graph is used only when everything compiling read is what it was: the
//! root playbook's text and place, the command line's overrides, orch's own build (its
//! version and its executable's size, mtime and inode, so a rebuilt orch never reads a
//! graph an older one wrote), the workspace's path, and the text of every playbook a
//! `uses` reached and every action `action.yml` read, each read again and compared by
//! digest (one that could not be read must still not be). Anything else, a damaged
//! file included (it is sealed), is a miss: the playbook is compiled as if nothing had
//! been remembered. Only graphs that compiled without problems are kept.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use orch_store::Digest;

use crate::compile::graph::{Graph, Overrides};
use crate::load::diag::SourceFile;

const GRAPH_MAGIC: &[u8; 8] = b"ORCHGRv2";

/// Where graphs are remembered (`.orch/state/`), and the key of this compilation.
pub struct GraphMemo {
    file: PathBuf,
    key: Digest,
    workspace: PathBuf,
}

#[derive(serde::Deserialize)]
struct Remembered {
    key: Digest,
    /// Each file compiling looked for, relative to the workspace, and its text's digest
    /// (`None`: it could not be read, and must still not be).
    used: Vec<(PathBuf, Option<Digest>)>,
    graph: Graph,
}

/// [`Remembered`] as written, borrowing the graph (the same bytes).
#[derive(serde::Serialize)]
struct ToRemember<'a> {
    key: Digest,
    used: Vec<(PathBuf, Option<Digest>)>,
    graph: &'a Graph,
}

/// This build of orch: a rebuilt binary is another compiler.
fn build_identity() -> &'static str {
    static IDENTITY: OnceLock<String> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let exe = std::env::current_exe().and_then(std::fs::metadata);
        let stamp = exe.map_or_else(
            |_| "unknown".to_owned(),
            |m| {
                use std::os::unix::fs::MetadataExt;
                format!("{}:{}:{}:{}", m.len(), m.mtime(), m.mtime_nsec(), m.ino())
            },
        );
        format!("{} {stamp}", env!("CARGO_PKG_VERSION"))
    })
}

impl GraphMemo {
    /// The memo of the playbook `root` (at `root_path` in `workspace`) compiled with
    /// `overrides`, kept in `state_dir`.
    pub fn new(
        state_dir: &Path,
        workspace: &Path,
        root: &SourceFile,
        root_path: &Path,
        overrides: &Overrides,
    ) -> Self {
        let mut hasher = blake3::Hasher::new();
        let mut field = |bytes: &[u8]| {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(GRAPH_MAGIC);
        field(build_identity().as_bytes());
        field(workspace.as_os_str().as_encoded_bytes());
        field(root.path.as_os_str().as_encoded_bytes());
        field(root.text.as_bytes());
        field(root_path.as_os_str().as_encoded_bytes());
        field(&postcard::to_allocvec(overrides).unwrap_or_default());
        let key = Digest(*hasher.finalize().as_bytes());
        // One file per playbook place: the last compilation of it is what is kept.
        let place = blake3::hash(root_path.as_os_str().as_encoded_bytes());
        let file = state_dir.join(format!("graph-{}", &place.to_hex()[..16]));
        Self {
            file,
            key,
            workspace: workspace.to_path_buf(),
        }
    }

    /// The remembered graph, when everything it was compiled from is unchanged.
    pub fn recall(&self) -> Option<Graph> {
        let bytes = std::fs::read(&self.file).ok()?;
        let body = orch_store::unseal(&bytes)?.strip_prefix(GRAPH_MAGIC.as_slice())?;
        let remembered: Remembered = postcard::from_bytes(body).ok()?;
        if remembered.key != self.key {
            return None;
        }
        for (path, digest) in &remembered.used {
            let file = crate::load::workspace::read_source(&self.workspace.join(path), path).ok();
            if file.map(|f| Digest::of(f.text.as_bytes())) != *digest {
                return None;
            }
        }
        Some(remembered.graph)
    }

    /// Keeps `graph`, compiled from the root and the `used` files (path, text; `None`
    /// for one not found). A
    /// failure to write costs the next run a compilation, nothing else.
    pub fn keep(&self, graph: &Graph, used: Vec<(PathBuf, Option<SourceFile>)>) {
        let used = used
            .into_iter()
            .map(|(path, file)| (path, file.map(|f| Digest::of(f.text.as_bytes()))))
            .collect();
        let remembered = ToRemember {
            key: self.key,
            used,
            graph,
        };
        let mut bytes = GRAPH_MAGIC.to_vec();
        let Ok(body) = postcard::to_allocvec(&remembered) else {
            return;
        };
        bytes.extend(body);
        orch_store::seal(&mut bytes);
        let _ = orch_store::replace_file(&self.file, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Session;

    const ROOT: &str = "vars: { greeting: hi }
jobs:
  a:
    matrix: { n: [1, 2] }
    run: echo ${{ vars.greeting }} ${{ matrix.n }}
  b:
    needs: a
    uses: lib/used.yml
    with: { what: '${{ vars.greeting }}' }
";
    const USED: &str = "inputs: { what: { required: true } }
jobs:
  inner:
    run: echo ${{ inputs.what }}
";

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir_all(dir.path().join("lib")).expect("mkdir");
            std::fs::create_dir_all(dir.path().join("state")).expect("mkdir");
            std::fs::write(dir.path().join("lib/used.yml"), USED).expect("write");
            Self { dir }
        }
        fn root(&self, text: &str) -> SourceFile {
            SourceFile {
                path: "orch.yml".into(),
                text: text.into(),
            }
        }
        fn session(&self, text: &str) -> Session {
            Session::new(self.root(text), self.dir.path(), Path::new("orch.yml"))
                .remember_graphs_in(self.dir.path().join("state"))
        }
        fn memo(&self, text: &str, overrides: &Overrides) -> GraphMemo {
            let (ws, state) = (self.dir.path(), self.dir.path().join("state"));
            GraphMemo::new(
                &state,
                ws,
                &self.root(text),
                Path::new("orch.yml"),
                overrides,
            )
        }
    }

    #[test]
    fn a_kept_graph_comes_back_equal_while_nothing_it_read_changed() {
        let fx = Fixture::new();
        let none = Overrides::default();
        assert!(fx.memo(ROOT, &none).recall().is_none(), "nothing kept yet");
        let compiled = fx.session(ROOT).graph(none.clone()).expect("compiles");
        assert_eq!(compiled.nodes.len(), 3);
        let recalled = fx.memo(ROOT, &none).recall().expect("kept");
        assert_eq!(recalled, *compiled);
        // A new session answers from the memo with the same graph.
        assert_eq!(*fx.session(ROOT).graph(none).expect("recalled"), *compiled);
    }

    #[test]
    fn any_change_to_what_compiling_read_is_a_miss() {
        let fx = Fixture::new();
        let none = Overrides::default();
        fx.session(ROOT).graph(none.clone()).expect("compiles");
        assert!(fx.memo(ROOT, &none).recall().is_some());

        let other_var = Overrides {
            vars: vec![("greeting".into(), "bye".into())],
            ..Overrides::default()
        };
        assert!(fx.memo(ROOT, &other_var).recall().is_none(), "overrides");
        let edited = ROOT.replace("hi", "hello");
        assert!(fx.memo(&edited, &none).recall().is_none(), "root text");

        // The used playbook edited: a miss, and the session compiles the new text.
        let used = fx.dir.path().join("lib/used.yml");
        std::fs::write(&used, USED.replace("echo", "printf")).expect("write");
        assert!(fx.memo(ROOT, &none).recall().is_none(), "used playbook");
        let graph = fx.session(ROOT).graph(none.clone()).expect("compiles");
        let inner = graph
            .jobs
            .iter()
            .find(|j| j.id == "b/inner")
            .expect("b/inner");
        assert!(
            format!("{:?}", inner.body).contains("printf"),
            "{:?}",
            inner.body
        );
        std::fs::remove_file(&used).expect("rm");
        assert!(
            fx.memo(ROOT, &none).recall().is_none(),
            "used playbook gone"
        );
    }

    #[test]
    fn a_damaged_memo_is_a_miss() {
        let fx = Fixture::new();
        let none = Overrides::default();
        fx.session(ROOT).graph(none.clone()).expect("compiles");
        let memo = fx.memo(ROOT, &none);
        let mut bytes = std::fs::read(&memo.file).expect("kept");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&memo.file, &bytes).expect("write");
        assert!(memo.recall().is_none());
    }

    #[test]
    fn a_playbook_with_problems_is_not_kept() {
        let fx = Fixture::new();
        let broken = "jobs:\n  a: { needs: nothing, run: x }\n";
        assert!(fx.session(broken).graph(Overrides::default()).is_err());
        let memo = fx.memo(broken, &Overrides::default());
        assert!(!memo.file.exists());
    }
}
