//! The one walker of the workspace's files (the `ignore` crate's), for input listings,
//! output collection and `hashFiles`: `.git` and `.orch` are never entered, symbolic
//! links are listed, never followed.

use std::path::{Path, PathBuf};

use super::glob::Patterns;

/// Folders never considered part of the workspace's files.
pub const ALWAYS_SKIPPED: &[&str] = &[".git", ".orch"];

/// What the walk yields of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink,
}

/// Every regular file and symbolic link under `dir`, unsorted. With `respect_ignores`,
/// `.gitignore` and `.orchignore` rules apply (also outside a git repository); `skip`
/// names folders (relative to `dir`) not to enter.
pub fn entries(
    dir: &Path,
    respect_ignores: bool,
    skip: &[PathBuf],
) -> impl Iterator<Item = (PathBuf, Kind)> {
    let mut builder = ignore::WalkBuilder::new(dir);
    builder
        .standard_filters(respect_ignores)
        .hidden(false)
        .require_git(false);
    if respect_ignores {
        builder.add_custom_ignore_filename(".orchignore");
    }
    let skip: Vec<PathBuf> = skip.iter().map(|p| dir.join(p)).collect();
    builder
        .filter_entry(move |e| {
            !ALWAYS_SKIPPED.iter().any(|s| e.file_name() == *s)
                && !skip.iter().any(|s| e.path() == s)
        })
        .build()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let kind = match e.file_type() {
                Some(t) if t.is_file() => Kind::File,
                Some(t) if t.is_symlink() => Kind::Symlink,
                _ => return None,
            };
            Some((e.into_path(), kind))
        })
}

/// Files of the workspace, relative and `/`-separated, sorted. With `respect_ignores`,
/// `.gitignore` and `.orchignore` rules apply (the default-inputs rule); without, every
/// file is listed (explicit input globs may name ignored files).
pub fn list_files(workspace: &Path, respect_ignores: bool, skip: &[PathBuf]) -> Vec<String> {
    let mut files: Vec<String> = entries(workspace, respect_ignores, skip)
        .filter_map(|(path, _)| Some(path.strip_prefix(workspace).ok()?.to_str()?.to_owned()))
        .collect();
    files.sort();
    files
}

/// Every file under one folder of the workspace (workspace-relative, `/`-separated,
/// sorted; ignore rules not applied): what an input glob rooted there can match. The
/// answer is what walking the whole workspace would list under it: nothing through a
/// symbolic link or inside a skipped folder, the link itself when the folder is one.
/// `""` is the whole workspace.
pub fn list_folder(workspace: &Path, folder: &str, skip: &[PathBuf]) -> Vec<String> {
    let mut at = workspace.to_path_buf();
    let components: Vec<&str> = folder.split('/').filter(|c| !c.is_empty()).collect();
    for (index, component) in components.iter().enumerate() {
        at.push(component);
        let last = index + 1 == components.len();
        if ALWAYS_SKIPPED.contains(component) || skip.iter().any(|s| workspace.join(s) == at) {
            return Vec::new();
        }
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            // The whole walk lists a file or a link where a folder was named, and never
            // looks through a link.
            Ok(meta) if last && (meta.is_file() || meta.is_symlink()) => {
                return vec![folder.trim_end_matches('/').to_owned()];
            }
            _ => return Vec::new(),
        }
    }
    let skip: Vec<PathBuf> = skip.iter().map(|p| workspace.join(p)).collect();
    let mut files: Vec<String> = entries(&at, false, &skip)
        .filter_map(|(path, _)| Some(path.strip_prefix(workspace).ok()?.to_str()?.to_owned()))
        .collect();
    files.sort();
    files
}

/// Workspace-relative paths of the regular files that match, sorted.
pub fn matching_files(workspace: &Path, patterns: &Patterns) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = entries(workspace, false, &[])
        .filter(|(_, kind)| *kind == Kind::File)
        .filter_map(|(path, _)| path.strip_prefix(workspace).ok().map(Path::to_path_buf))
        .filter(|p| patterns.matches(p))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_respects_ignore_files_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        for f in [
            "src/a.rs",
            "target/x.o",
            "gen/y",
            ".env",
            ".git/HEAD",
            ".orch/z",
        ] {
            std::fs::create_dir_all(ws.join(f).parent().unwrap()).unwrap();
            std::fs::write(ws.join(f), f).unwrap();
        }
        std::fs::write(ws.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(ws.join(".orchignore"), "gen/\n").unwrap();
        let ignored = list_files(ws, true, &[]);
        assert_eq!(ignored, [".env", ".gitignore", ".orchignore", "src/a.rs"]);
        let all = list_files(ws, false, &[]);
        assert!(all.contains(&"target/x.o".to_owned()) && all.contains(&"gen/y".to_owned()));
        assert!(
            !all.iter()
                .any(|f| f.starts_with(".git/") || f.starts_with(".orch/"))
        );
    }
}
