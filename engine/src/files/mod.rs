//! Files of the workspace: walking with glob patterns, hashing with blake3.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

/// The characters that make a pattern a glob rather than a literal path.
pub const GLOB_CHARS: [char; 4] = ['*', '?', '[', '{'];

/// A pattern that names one path (a file, or a folder and all under it): no glob
/// characters and no `!`.
pub fn is_literal(pattern: &str) -> bool {
    !pattern.contains(GLOB_CHARS) && !pattern.starts_with('!')
}

/// A relative path already in normal form (`a/b/c`: no `.`, `..`, empty or leading `/`
/// parts), as orch writes paths into keys and records.
pub fn is_plain_relative(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('/')
        && text
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Folders never considered part of the workspace's files.
pub const ALWAYS_SKIPPED: &[&str] = &[".git", ".orch"];

/// Include and exclude (`!`) patterns, compiled.
pub struct Patterns {
    include: GlobSet,
    exclude: GlobSet,
}

impl Patterns {
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        for pattern in patterns {
            let (set, text) = match pattern.strip_prefix('!') {
                Some(rest) => (&mut exclude, rest),
                None => (&mut include, pattern.as_str()),
            };
            let text = text.strip_prefix("./").unwrap_or(text);
            let glob = globset::GlobBuilder::new(text)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("bad pattern `{pattern}`: {e}"))?;
            set.add(glob);
            // `dir/**` should also match the folder's files when written as `dir`.
            if !text.contains(GLOB_CHARS) {
                set.add(Glob::new(&format!("{text}/**")).map_err(|e| e.to_string())?);
            }
        }
        Ok(Self {
            include: include.build().map_err(|e| e.to_string())?,
            exclude: exclude.build().map_err(|e| e.to_string())?,
        })
    }

    /// Patterns that match nothing.
    pub fn none() -> Self {
        Self {
            include: GlobSet::empty(),
            exclude: GlobSet::empty(),
        }
    }

    pub fn matches(&self, relative: &Path) -> bool {
        self.include.is_match(relative) && !self.exclude.is_match(relative)
    }
}

/// Workspace-relative paths of the files that match, sorted.
pub fn matching_files(workspace: &Path, patterns: &Patterns) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ignore::WalkBuilder::new(workspace)
        .standard_filters(false)
        .hidden(false)
        .filter_entry(|e| !ALWAYS_SKIPPED.iter().any(|s| e.file_name() == *s))
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| e.path().strip_prefix(workspace).ok().map(Path::to_path_buf))
        .filter(|p| patterns.matches(p))
        .collect();
    files.sort();
    files
}

/// `hashFiles(...)`: blake3 over the blake3 of each matching file, in path order; the
/// empty string when nothing matches, as GitHub does.
pub fn hash_files(workspace: &Path, patterns: &[String]) -> Result<String, String> {
    let patterns = Patterns::new(patterns)?;
    let files = matching_files(workspace, &patterns);
    if files.is_empty() {
        return Ok(String::new());
    }
    let mut combined = blake3::Hasher::new();
    for file in files {
        let digest = orch_store::hash_file(&workspace.join(&file))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        combined.update(&digest.0);
    }
    Ok(combined.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
