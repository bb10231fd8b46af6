//! A node's declared outputs: collected into the store after a success, restored into
//! the workspace on a cache hit — never outside it, whatever a record says.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use orch_store::{Backend, Digest, OutputFile};

use crate::files::Patterns;
use crate::graph::normalize;

/// Stores the files that `patterns` name (files, folders, globs) and describes them.
/// A literal path that does not exist is an error: the job did not make what it declared.
pub fn collect(
    workspace: &Path,
    patterns: &[String],
    backend: &dyn Backend,
) -> Result<Vec<OutputFile>, String> {
    let mut paths: Vec<String> = Vec::new();
    let mut globs = Vec::new();
    for pattern in patterns {
        if pattern.contains(['*', '?', '[', '{']) || pattern.starts_with('!') {
            globs.push(pattern.clone());
            continue;
        }
        let relative = normalize(Path::new(pattern))
            .ok_or_else(|| format!("output `{pattern}` is outside the workspace"))?;
        let full = workspace.join(&relative);
        let meta = std::fs::symlink_metadata(&full)
            .map_err(|_| format!("declared output `{pattern}` was not produced"))?;
        if meta.is_dir() {
            paths.extend(
                walk(&full)
                    .into_iter()
                    .filter_map(|p| relative_text(workspace, &p)),
            );
        } else {
            paths.push(relative.to_string_lossy().into_owned());
        }
    }
    if globs.iter().any(|g| !g.starts_with('!')) {
        let matcher = Patterns::new(&globs)?;
        paths.extend(
            walk(workspace)
                .into_iter()
                .filter_map(|p| relative_text(workspace, &p))
                .filter(|p| matcher.matches(Path::new(p))),
        );
    }
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let root = std::fs::canonicalize(workspace).map_err(|e| format!("workspace: {e}"))?;
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let full = workspace.join(&path);
        // A folder on the way that is a link out of the workspace would make orch store
        // a file from elsewhere.
        if let Some(parent) = full.parent()
            && !std::fs::canonicalize(parent).is_ok_and(|real| real.starts_with(&root))
        {
            return Err(format!(
                "output {path} lies outside the workspace through a symbolic link"
            ));
        }
        let meta = std::fs::symlink_metadata(&full).map_err(|e| format!("{path}: {e}"))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full).map_err(|e| format!("{path}: {e}"))?;
            let target = target.to_string_lossy().into_owned();
            if !link_stays_inside(Path::new(&path), &target) {
                return Err(format!(
                    "output {path} is a symbolic link out of the workspace ({target})"
                ));
            }
            files.push(OutputFile {
                path,
                digest: Digest::of(target.as_bytes()),
                mode: 0o777,
                symlink: Some(target),
            });
        } else {
            let digest = backend.put_file(&full).map_err(|e| e.to_string())?;
            files.push(OutputFile {
                path,
                digest,
                mode: meta.permissions().mode() & 0o7777,
                symlink: None,
            });
        }
    }
    Ok(files)
}

fn relative_text(workspace: &Path, path: &Path) -> Option<String> {
    path.strip_prefix(workspace)
        .ok()?
        .to_str()
        .map(str::to_owned)
}

/// Every file and symlink under `dir` (not following links), skipping `.git` and `.orch`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .hidden(false)
        .filter_entry(|e| {
            !crate::files::ALWAYS_SKIPPED
                .iter()
                .any(|s| e.file_name() == *s)
        })
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file() || t.is_symlink()))
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// A relative link target that, resolved from the link's folder, stays in the workspace.
fn link_stays_inside(link: &Path, target: &str) -> bool {
    let target = Path::new(target);
    !target.is_absolute()
        && normalize(&link.parent().unwrap_or(Path::new("")).join(target)).is_some()
}

/// A workspace file's digest and permission bits, if it is a regular file (the stat
/// cache answers: a `stat`, a read only when it changed).
pub type CurrentFile<'a> = dyn Fn(&str) -> Option<(Digest, u32)> + 'a;

/// Whether a recorded output already holds the recorded content: a link with the same
/// target, or a regular file with the same mode and digest. Only reads.
fn in_place(workspace: &Path, file: &OutputFile, current: &CurrentFile<'_>) -> bool {
    let Some(relative) = normalize(Path::new(&file.path)).filter(|p| !p.as_os_str().is_empty())
    else {
        return false;
    };
    let dest = workspace.join(&relative);
    match &file.symlink {
        Some(target) => {
            link_stays_inside(&relative, target)
                && std::fs::read_link(&dest).is_ok_and(|t| t == Path::new(target))
        }
        None => current(&relative.to_string_lossy()) == Some((file.digest, file.mode)),
    }
}

/// Puts a cached result's files back. Refuses (and restores nothing more) when a path
/// would leave the workspace — `..`, absolute, through a symlinked folder — or a link
/// would point out of it; fails when a blob is missing or does not verify.
///
/// `current` answers a file's present content: a file that already holds the cached
/// content is left alone. Returns whether anything in the workspace was written.
pub fn restore(
    workspace: &Path,
    files: &[OutputFile],
    backend: &dyn Backend,
    current: &CurrentFile<'_>,
) -> Result<bool, String> {
    // Most hits find their outputs in place (a no-op run): that costs a stat each, and
    // nothing is written, so no path needs checking.
    let stale: Vec<&OutputFile> = files
        .iter()
        .filter(|file| !in_place(workspace, file, current))
        .collect();
    if stale.is_empty() {
        return Ok(false);
    }
    let root = std::fs::canonicalize(workspace).map_err(|e| format!("workspace: {e}"))?;
    let mut wrote = false;
    // Folders already made and checked: outputs share a few folders, and a check is a
    // path walk.
    let mut checked: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for file in stale {
        let relative = normalize(Path::new(&file.path))
            .filter(|p| !p.as_os_str().is_empty())
            .ok_or_else(|| {
                format!(
                    "refused: the record names {} outside the workspace",
                    file.path
                )
            })?;
        let dest = root.join(&relative);
        if let Some(parent) = dest.parent()
            && !checked.contains(parent)
        {
            // Check the nearest folder that exists before creating any: a symlinked folder
            // on the way must not get folders made outside the workspace.
            let existing = parent.ancestors().find(|a| a.exists()).unwrap_or(&root);
            if !std::fs::canonicalize(existing).is_ok_and(|real| real.starts_with(&root)) {
                return Err(format!(
                    "refused: {} would be written through a link out of the workspace",
                    file.path
                ));
            }
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", file.path))?;
            let real = std::fs::canonicalize(parent).map_err(|e| format!("{}: {e}", file.path))?;
            if !real.starts_with(&root) {
                return Err(format!(
                    "refused: {} would be written through a link out of the workspace",
                    file.path
                ));
            }
            checked.insert(parent.to_path_buf());
        }
        match &file.symlink {
            Some(target) => {
                if !link_stays_inside(&relative, target) {
                    return Err(format!(
                        "refused: {} would link out of the workspace ({target})",
                        file.path
                    ));
                }
                if std::fs::symlink_metadata(&dest).is_ok() {
                    let _ = std::fs::remove_file(&dest);
                }
                std::os::unix::fs::symlink(target, &dest)
                    .map_err(|e| format!("{}: {e}", file.path))?;
                wrote = true;
            }
            None => {
                let restored = backend
                    .restore_blob(&file.digest, &dest, file.mode)
                    .map_err(|e| e.to_string())?;
                if !restored {
                    return Err(format!(
                        "the cached content of {} is missing or corrupt",
                        file.path
                    ));
                }
                wrote = true;
            }
        }
    }
    Ok(wrote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_store::LocalStore;

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
        let files = collect(&ws, &["out".into(), "*.log".into()], &store).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["out/a.txt", "out/link", "out/sub/b.bin", "top.log"]);
        // A declared output under a folder that links out of the workspace is refused.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(&elsewhere, ws.join("door")).unwrap();
        assert!(
            collect(&ws, &["door/secret".into()], &store)
                .unwrap_err()
                .contains("through a symbolic link")
        );
        assert!(
            collect(&ws, &["missing.txt".into()], &store)
                .unwrap_err()
                .contains("was not produced")
        );

        std::fs::remove_dir_all(ws.join("out")).unwrap();
        assert!(restore(&ws, &files, &store, &|_| None).unwrap());
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
            mode: 0o644,
            symlink: symlink.map(str::to_owned),
        };
        for bad in [
            file("../escape.txt", None),
            file("/tmp/abs.txt", None),
            file("link", Some("/etc/passwd")),
            file("sub/link", Some("../../x")),
        ] {
            assert!(
                restore(&ws, std::slice::from_ref(&bad), &store, &|_| None)
                    .unwrap_err()
                    .starts_with("refused"),
                "{bad:?}"
            );
        }
        assert!(!dir.path().join("escape.txt").exists());
        // A folder that is a symlink out of the workspace is not written through.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("door")).unwrap();
        assert!(
            restore(&ws, &[file("door/x.txt", None)], &store, &|_| None)
                .unwrap_err()
                .starts_with("refused")
        );
        assert!(!outside.join("x.txt").exists());
    }
}
