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
) -> Box<dyn Iterator<Item = (PathBuf, Kind)>> {
    let skip: Vec<PathBuf> = skip.iter().map(|p| dir.join(p)).collect();
    // Without ignore rules a folder is read as it is (the entry's type from the folder
    // itself, no stat): a third of listing a package's 100 files went to the walker's
    // own work per entry.
    if !respect_ignores && std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        let mut found = Vec::new();
        read_folders(dir.to_path_buf(), &skip, false, &mut found);
        return Box::new(found.into_iter().map(|(path, kind, _)| (path, kind)));
    }
    let mut builder = ignore::WalkBuilder::new(dir);
    builder
        .standard_filters(respect_ignores)
        .hidden(false)
        .require_git(false);
    if respect_ignores {
        builder.add_custom_ignore_filename(".orchignore");
    }
    let walk = builder
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
        });
    Box::new(walk)
}

/// One entry of [`read_folders`]: its path, kind, and with `with_stats` its `lstat`.
type Found = (PathBuf, Kind, Option<std::fs::Metadata>);

/// The files and links under a folder, its subfolders read in turn (never through a
/// link); what cannot be read is left out, as the walker leaves it. `with_stats` also
/// `lstat`s each one relative to the folder being read (one path component to look up,
/// not the whole path from the workspace).
fn read_folders(dir: PathBuf, skip: &[PathBuf], with_stats: bool, found: &mut Vec<Found>) {
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            // A `.git` file (a worktree's) is skipped as the folder is.
            let name = entry.file_name();
            if ALWAYS_SKIPPED.iter().any(|s| name == *s) {
                continue;
            }
            let path = entry.path();
            if kind.is_dir() {
                if !skip.contains(&path) {
                    pending.push(path);
                }
            } else if kind.is_file() || kind.is_symlink() {
                let kind = if kind.is_file() {
                    Kind::File
                } else {
                    Kind::Symlink
                };
                let stat = if with_stats {
                    entry.metadata().ok()
                } else {
                    None
                };
                found.push((path, kind, stat));
            }
        }
    }
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
/// sorted; ignore rules not applied), each with its `lstat` taken as the folder was read:
/// what an input glob rooted there can match. The answer is what walking the whole
/// workspace would list under it: nothing through a symbolic link or inside a skipped
/// folder, the link itself when the folder is one. `""` is the whole workspace.
pub fn list_folder(
    workspace: &Path,
    folder: &str,
    skip: &[PathBuf],
) -> Vec<(String, Option<std::fs::Metadata>)> {
    let mut at = workspace.to_path_buf();
    let components: Vec<&str> = folder.split('/').filter(|c| !c.is_empty()).collect();
    for (index, component) in components.iter().enumerate() {
        at.push(component);
        let last = index + 1 == components.len();
        // `.` and `..` name no folder of the listing (`src/../x` never matched `x/a`).
        if ALWAYS_SKIPPED.contains(component)
            || matches!(*component, "." | "..")
            || skip.iter().any(|s| workspace.join(s) == at)
        {
            return Vec::new();
        }
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            // The whole walk lists a file or a link where a folder was named, and never
            // looks through a link.
            Ok(meta) if last && (meta.is_file() || meta.is_symlink()) => {
                return vec![(folder.trim_end_matches('/').to_owned(), Some(meta))];
            }
            _ => return Vec::new(),
        }
    }
    let skip: Vec<PathBuf> = skip.iter().map(|p| workspace.join(p)).collect();
    let mut found = Vec::new();
    // The folder itself is never skipped here: that was checked above.
    read_folders(at, &skip, true, &mut found);
    let mut files: Vec<(String, Option<std::fs::Metadata>)> = found
        .into_iter()
        .filter_map(|(path, _, stat)| {
            Some((
                path.strip_prefix(workspace).ok()?.to_str()?.to_owned(),
                stat,
            ))
        })
        .collect();
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
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
            "sub/.git",
            "sub/ok",
        ] {
            std::fs::create_dir_all(ws.join(f).parent().unwrap()).unwrap();
            std::fs::write(ws.join(f), f).unwrap();
        }
        std::fs::write(ws.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(ws.join(".orchignore"), "gen/\n").unwrap();
        let ignored = list_files(ws, true, &[]);
        assert_eq!(
            ignored,
            [".env", ".gitignore", ".orchignore", "src/a.rs", "sub/ok"]
        );
        let all = list_files(ws, false, &[]);
        assert!(all.contains(&"target/x.o".to_owned()) && all.contains(&"gen/y".to_owned()));
        assert!(
            !all.iter()
                .any(|f| f.starts_with(".git/") || f.starts_with(".orch/") || f == "sub/.git")
        );
        let names = |folder| -> Vec<String> {
            list_folder(ws, folder, &[])
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert_eq!(names("sub"), ["sub/ok"]);
        assert_eq!(names(".git"), Vec::<String>::new());
        let (_, stat) = &list_folder(ws, "src", &[])[0];
        assert_eq!(
            stat.as_ref().map(std::fs::Metadata::len),
            Some(8),
            "src/a.rs"
        );
    }
}
