//! A node's declared outputs: collected into the store after a success, restored into
//! the workspace on a cache hit — never outside it, whatever a record says.

mod collect;
mod restore;

pub use collect::collect;
pub use restore::{CurrentFile, already_in_place, restore};

use std::path::{Path, PathBuf};

use orch_store::StoreError;

use crate::files::glob::PatternError;
use crate::files::paths::normalize;

/// Why a node's outputs could not be collected: the node fails, or its result is not
/// cached.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("output `{0}` is outside the workspace")]
    Outside(String),
    #[error("declared output `{0}` was not produced")]
    NotProduced(String),
    #[error("output {0} lies outside the workspace through a symbolic link")]
    ThroughLink(String),
    #[error("output {path} is a symbolic link out of the workspace ({target})")]
    LinkOut { path: String, target: String },
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a record's files were not restored: the node runs instead.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A path the record names must not be written; nothing was.
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("{0} is a folder in the workspace; it is left as it is")]
    FolderInTheWay(String),
    #[error("the cached content of {0} is missing or corrupt")]
    BlobMissing(String),
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What makes a recorded path one a restore must not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the record names {0} outside the workspace")]
    Outside(String),
    #[error("the record names {0}, inside .git/ or .orch/")]
    Reserved(String),
    #[error("the record names {0}, which the node's outputs do not declare")]
    Undeclared(String),
    #[error("{path} would link out of the workspace ({target})")]
    LinkOut { path: String, target: String },
    #[error("{0} would be written through a link out of the workspace")]
    ThroughLink(String),
}

fn relative_text(workspace: &Path, path: &Path) -> Option<String> {
    path.strip_prefix(workspace)
        .ok()?
        .to_str()
        .map(str::to_owned)
}

/// Every file and symlink under `dir` (not following links), skipping `.git` and `.orch`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    crate::files::walk::entries(dir, false, &[])
        .map(|(path, _)| path)
        .collect()
}

/// A relative link target that, resolved from the link's folder, stays in the workspace.
fn link_stays_inside(link: &Path, target: &str) -> bool {
    let target = Path::new(target);
    !target.is_absolute()
        && normalize(&link.parent().unwrap_or(Path::new("")).join(target)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_store::LocalStore;
    use orch_store::OutputFile;

    /// A first restore with these declared outputs, nothing in place, no other node.
    fn first_restore(
        ws: &Path,
        files: &[OutputFile],
        declared: &[String],
        store: &LocalStore,
    ) -> Result<bool, RestoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(restore(
            ws,
            files,
            declared,
            true,
            &|_| false,
            store,
            &|_| None,
        ))
    }

    /// What a node's outputs become after a success: described, and stored.
    fn collect_into(
        ws: &Path,
        patterns: &[String],
        store: &LocalStore,
    ) -> Result<Vec<OutputFile>, CollectError> {
        let files = collect(ws, patterns)?;
        for file in files.iter().filter(|f| f.symlink.is_none()) {
            store.store_file(&file.blob(), &ws.join(&file.path))?;
        }
        Ok(files)
    }

    #[test]
    fn collect_then_restore() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("out/sub")).unwrap();
        std::fs::write(ws.join("out/a.txt"), "a").unwrap();
        std::fs::write(ws.join("out/sub/b.bin"), "b").unwrap();
        std::fs::write(ws.join("top.log"), "log").unwrap();
        std::os::unix::fs::symlink("a.txt", ws.join("out/link")).unwrap();
        let store = LocalStore::open(&dir.path().join("cache")).unwrap();
        let files = collect_into(&ws, &["out".into(), "*.log".into()], &store).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["out/a.txt", "out/link", "out/sub/b.bin", "top.log"]);
        // A declared output under a folder that links out of the workspace is refused.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(&elsewhere, ws.join("door")).unwrap();
        assert!(
            collect_into(&ws, &["door/secret".into()], &store)
                .unwrap_err()
                .to_string()
                .contains("through a symbolic link")
        );
        assert!(
            collect_into(&ws, &["missing.txt".into()], &store)
                .unwrap_err()
                .to_string()
                .contains("was not produced")
        );

        std::fs::remove_dir_all(ws.join("out")).unwrap();
        assert!(first_restore(&ws, &files, &["out".into(), "*.log".into()], &store).unwrap());
        assert_eq!(
            std::fs::read_to_string(ws.join("out/sub/b.bin")).unwrap(),
            "b"
        );
        assert_eq!(std::fs::read_to_string(ws.join("out/link")).unwrap(), "a");
    }

    #[test]
    fn hostile_records_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        let store = LocalStore::open(&dir.path().join("cache")).unwrap();
        let digest = store.put_bytes(b"evil").unwrap();
        let file = |path: &str, symlink: Option<&str>| OutputFile {
            path: path.into(),
            digest,
            size: 4,
            mode: 0o644,
            symlink: symlink.map(str::to_owned),
        };
        let everything = [
            "**".to_owned(),
            "/tmp/abs.txt".to_owned(),
            "../escape.txt".to_owned(),
        ];
        for bad in [
            file(".git/hooks/pre-commit", None),
            file("sub/.orch/state/keys", None),
            file("../escape.txt", None),
            file("/tmp/abs.txt", None),
            file("link", Some("/etc/passwd")),
            file("sub/link", Some("../../x")),
        ] {
            assert!(
                matches!(
                    first_restore(&ws, std::slice::from_ref(&bad), &everything, &store),
                    Err(RestoreError::Refused(_))
                ),
                "{bad:?}"
            );
        }
        assert!(!dir.path().join("escape.txt").exists());
        // A folder that is a symlink out of the workspace is not written through.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("door")).unwrap();
        assert!(matches!(
            first_restore(&ws, &[file("door/x.txt", None)], &everything, &store),
            Err(RestoreError::Refused(_))
        ));
        assert!(!outside.join("x.txt").exists());
    }
}
