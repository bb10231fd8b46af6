//! A node's declared outputs: collected into the store after a success, restored into
//! the workspace on a cache hit — never outside it, whatever a record says.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use orch_store::{Backend, Digest, OutputFile};

use crate::files::glob::Patterns;
use crate::files::paths::normalize;

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
        if !crate::files::glob::is_literal(pattern) {
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
    // `!` patterns take out what literal folders brought in too: a restore checks every
    // file against all the patterns, so what is stored must be what they own.
    let excluded: Vec<String> = patterns
        .iter()
        .filter_map(|p| p.strip_prefix('!'))
        .map(str::to_owned)
        .collect();
    if !excluded.is_empty() {
        let excluded = Patterns::new(&excluded)?;
        paths.retain(|p| !excluded.matches(Path::new(p)));
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

/// What a node's declared outputs own: a recorded path is restored only when they
/// match it. Literal paths and `dir/**` are compared as text (most hits); other globs are
/// compiled only when a path is not covered by those.
struct Owned<'a> {
    folders_or_files: Vec<&'a str>,
    globs: Vec<String>,
    excluded: bool,
    compiled: Option<Patterns>,
}

impl<'a> Owned<'a> {
    fn new(declared: &'a [String]) -> Self {
        let mut owned = Owned {
            folders_or_files: Vec::new(),
            globs: Vec::new(),
            excluded: false,
            compiled: None,
        };
        for pattern in declared {
            let text = pattern.strip_prefix("./").unwrap_or(pattern);
            let folder = text
                .strip_suffix("/**")
                .unwrap_or(text)
                .trim_end_matches('/');
            if pattern.starts_with('!') {
                owned.excluded = true;
                owned.globs.push(pattern.clone());
            } else if !folder.contains(crate::files::glob::GLOB_CHARS) {
                owned.folders_or_files.push(folder);
            } else {
                owned.globs.push(pattern.clone());
            }
        }
        owned
    }

    /// Literal folders (`dist`, `dist/**`) whose files all belong to the node.
    fn folders(&self) -> impl Iterator<Item = &str> {
        self.folders_or_files.iter().copied()
    }

    fn covers(&mut self, path: &str) -> Result<bool, String> {
        let literal = self.folders_or_files.iter().any(|p| {
            path == *p
                || (path.len() > p.len() && path.starts_with(p) && path.as_bytes()[p.len()] == b'/')
        });
        if literal && !self.excluded {
            return Ok(true);
        }
        if self.globs.is_empty() {
            return Ok(literal);
        }
        if self.compiled.is_none() {
            let mut all: Vec<String> = self
                .folders_or_files
                .iter()
                .map(|p| (*p).to_owned())
                .collect();
            all.extend(self.globs.iter().cloned());
            self.compiled = Some(Patterns::new(&all)?);
        }
        Ok(self
            .compiled
            .as_ref()
            .is_some_and(|p| p.matches(Path::new(path))))
    }
}

/// Why a record's file must not be written, if it must not: outside the workspace, under
/// `.git/` or `.orch/`, not one of the node's declared outputs, or a link out.
fn refusal(file: &OutputFile, owned: &mut Owned<'_>) -> Result<Option<String>, String> {
    // orch writes plain relative paths only: anything else is not its record.
    if !crate::files::paths::is_plain_relative(&file.path) {
        return Ok(Some(format!(
            "the record names {} outside the workspace",
            file.path
        )));
    }
    if file
        .path
        .split('/')
        .any(|part| crate::files::walk::ALWAYS_SKIPPED.contains(&part))
    {
        return Ok(Some(format!(
            "the record names {}, inside .git/ or .orch/",
            file.path
        )));
    }
    if !owned.covers(&file.path)? {
        return Ok(Some(format!(
            "the record names {}, which the node's outputs do not declare",
            file.path
        )));
    }
    let relative = Path::new(&file.path);
    if let Some(target) = &file.symlink
        && !link_stays_inside(relative, target)
    {
        return Ok(Some(format!(
            "{} would link out of the workspace ({target})",
            file.path
        )));
    }
    Ok(None)
}

/// Puts a cached result's files back. Nothing is written or removed before every check
/// passed, so a refused record changes nothing. With `first_here` (not the record this
/// workspace last restored for the node under the same key — its path checks depend only
/// on the record and the declared outputs, which are in the key) every recorded path is
/// checked: outside the workspace, under `.git/` or `.orch/`, not matched by the node's
/// own `declared` outputs, or a link out of the workspace is refused (an `Err` starting
/// with "refused"); and the files inside the node's literal output folders that the record
/// does not hold are removed (a clean run would not have them), except what `others`
/// (another node's declared outputs) claims. Every file to write is checked not to go
/// through a symlinked folder. A blob that is missing or does not verify, or a folder in
/// the way of a file (never removed), fails the restore.
///
/// `current` answers a file's present content: a file that already holds the cached
/// content is left alone. Returns whether anything in the workspace was written.
pub fn restore(
    workspace: &Path,
    files: &[OutputFile],
    declared: &[String],
    first_here: bool,
    others: &dyn Fn(&str) -> bool,
    backend: &dyn Backend,
    current: &CurrentFile<'_>,
) -> Result<bool, String> {
    let mut owned = Owned::new(declared);
    if first_here {
        for file in files {
            if let Some(why) = refusal(file, &mut owned)? {
                return Err(format!("refused: {why}"));
            }
        }
    }
    // Most hits find their outputs in place (a no-op run): that costs a stat each.
    let stale: Vec<&OutputFile> = files
        .iter()
        .filter(|file| !in_place(workspace, file, current))
        .collect();
    if stale.is_empty() && !first_here {
        return Ok(false);
    }
    let root = std::fs::canonicalize(workspace).map_err(|e| format!("workspace: {e}"))?;
    // The nearest existing folder of each file to write, checked before anything changes:
    // a symlinked folder on the way must not get anything written outside the workspace.
    let mut checked: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for file in &stale {
        let dest = root.join(&file.path);
        let Some(parent) = dest.parent() else {
            continue;
        };
        let existing = parent.ancestors().find(|a| a.exists()).unwrap_or(&root);
        if checked.insert(existing.to_path_buf())
            && !std::fs::canonicalize(existing).is_ok_and(|real| real.starts_with(&root))
        {
            return Err(format!(
                "refused: {} would be written through a link out of the workspace",
                file.path
            ));
        }
    }
    let mut wrote = first_here && remove_strays(workspace, &root, files, &mut owned, others)?;
    let mut made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for file in stale {
        let dest = root.join(&file.path);
        if let Some(parent) = dest.parent()
            && !made.contains(parent)
        {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", file.path))?;
            // Checked again once made: nothing may have swapped a folder meanwhile.
            let real = std::fs::canonicalize(parent).map_err(|e| format!("{}: {e}", file.path))?;
            if !real.starts_with(&root) {
                return Err(format!(
                    "refused: {} would be written through a link out of the workspace",
                    file.path
                ));
            }
            made.insert(parent.to_path_buf());
        }
        let in_the_way = std::fs::symlink_metadata(&dest).ok();
        if in_the_way.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(format!(
                "{} is a folder in the workspace; it is left as it is",
                file.path
            ));
        }
        match &file.symlink {
            Some(target) => {
                if in_the_way.is_some() {
                    std::fs::remove_file(&dest).map_err(|e| format!("{}: {e}", file.path))?;
                }
                std::os::unix::fs::symlink(target, &dest)
                    .map_err(|e| format!("{}: {e}", file.path))?;
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
            }
        }
        wrote = true;
    }
    Ok(wrote)
}

/// Removes the files inside the node's literal output folders that the record does not
/// hold, that its patterns own and that no other node's outputs claim: left from
/// another run, a clean run would not have them. A folder reached through a symbolic link
/// is not looked into.
fn remove_strays(
    workspace: &Path,
    root: &Path,
    files: &[OutputFile],
    owned: &mut Owned<'_>,
    others: &dyn Fn(&str) -> bool,
) -> Result<bool, String> {
    // A folder now, and not a file in the record (a folder in the way of a recorded file
    // is the user's, and the restore will fail on it).
    let folders: Vec<String> = owned
        .folders()
        .filter(|f| !files.iter().any(|file| file.path == *f))
        .filter(|f| std::fs::symlink_metadata(workspace.join(f)).is_ok_and(|m| m.is_dir()))
        .map(str::to_owned)
        .collect();
    if folders.is_empty() {
        return Ok(false);
    }
    let recorded: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut removed = false;
    for folder in folders {
        let full = workspace.join(&folder);
        if !std::fs::canonicalize(&full).is_ok_and(|real| real.starts_with(root)) {
            continue;
        }
        for path in walk(&full) {
            let Some(relative) = relative_text(workspace, &path) else {
                continue;
            };
            if !recorded.contains(relative.as_str())
                && owned.covers(&relative)?
                && !others(&relative)
            {
                std::fs::remove_file(&path).map_err(|e| format!("{relative}: {e}"))?;
                removed = true;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_store::LocalStore;

    /// A first restore with these declared outputs, nothing in place, no other node.
    fn first_restore(
        ws: &Path,
        files: &[OutputFile],
        declared: &[String],
        store: &LocalStore,
    ) -> Result<bool, String> {
        restore(ws, files, declared, true, &|_| false, store, &|_| None)
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
                first_restore(&ws, std::slice::from_ref(&bad), &everything, &store)
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
            first_restore(&ws, &[file("door/x.txt", None)], &everything, &store)
                .unwrap_err()
                .starts_with("refused")
        );
        assert!(!outside.join("x.txt").exists());
    }
}
