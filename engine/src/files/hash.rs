//! `hashFiles(...)` over the workspace.

use std::path::Path;

use super::glob::{PatternError, Patterns};
use super::walk::matching_files;

/// Why `hashFiles` has no answer.
#[derive(Debug, thiserror::Error)]
pub enum HashFilesError {
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("hashFiles is not available here")]
    Unavailable,
}

/// `hashFiles(...)`: blake3 over the blake3 of each matching file, in path order; the
/// empty string when nothing matches, as GitHub does.
pub fn hash_files(workspace: &Path, patterns: &[String]) -> Result<String, HashFilesError> {
    let patterns = Patterns::new(patterns)?;
    let files = matching_files(workspace, &patterns);
    if files.is_empty() {
        return Ok(String::new());
    }
    let mut combined = blake3::Hasher::new();
    for file in files {
        let digest = orch_store::hash_file(&workspace.join(&file)).map_err(|source| {
            HashFilesError::Read {
                path: file.display().to_string(),
                source,
            }
        })?;
        combined.update(&digest.0);
    }
    Ok(combined.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn hash_files_follows_content_and_patterns() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::create_dir_all(ws.join("src/deep")).unwrap();
        std::fs::create_dir_all(ws.join(".orch")).unwrap();
        std::fs::write(ws.join("src/a.rs"), "a").unwrap();
        std::fs::write(ws.join("src/deep/b.rs"), "b").unwrap();
        std::fs::write(ws.join("src/c.txt"), "c").unwrap();
        std::fs::write(ws.join(".orch/x.rs"), "x").unwrap();
        let all = hash_files(ws, &["**/*.rs".into()]).unwrap();
        assert_eq!(all.len(), 64);
        let files = matching_files(ws, &Patterns::new(&["**/*.rs".into()]).unwrap());
        assert_eq!(
            files,
            [PathBuf::from("src/a.rs"), PathBuf::from("src/deep/b.rs")]
        );
        let without = hash_files(ws, &["**/*.rs".into(), "!src/deep/**".into()]).unwrap();
        assert_ne!(all, without);
        assert_eq!(hash_files(ws, &["*.nothing".into()]).unwrap(), "");
        std::fs::write(ws.join("src/a.rs"), "changed").unwrap();
        assert_ne!(hash_files(ws, &["**/*.rs".into()]).unwrap(), all);
        let dir_form = matching_files(ws, &Patterns::new(&["src".into()]).unwrap());
        assert_eq!(dir_form.len(), 3);
    }
}
