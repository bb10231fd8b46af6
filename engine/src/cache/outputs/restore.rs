//! On a hit: a record's files put back into the workspace, every path checked first, and
//! what a clean run would not have left removed from the node's output folders.

use std::path::Path;

use orch_store::{Backend, Digest, OutputFile};

use super::{Refusal, RestoreError, link_stays_inside, relative_text, walk};
use crate::files::glob::{PatternError, Patterns};
use crate::files::paths::{CheckedFolders, normalize};

fn restore_io(path: &str, source: std::io::Error) -> RestoreError {
    RestoreError::Io {
        path: path.to_owned(),
        source,
    }
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

    fn covers(&mut self, path: &str) -> Result<bool, PatternError> {
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
fn refusal(file: &OutputFile, owned: &mut Owned<'_>) -> Result<Option<Refusal>, PatternError> {
    // orch writes plain relative paths only: anything else is not its record.
    if !crate::files::paths::is_plain_relative(&file.path) {
        return Ok(Some(Refusal::Outside(file.path.clone())));
    }
    if file
        .path
        .split('/')
        .any(|part| crate::files::walk::ALWAYS_SKIPPED.contains(&part))
    {
        return Ok(Some(Refusal::Reserved(file.path.clone())));
    }
    if !owned.covers(&file.path)? {
        return Ok(Some(Refusal::Undeclared(file.path.clone())));
    }
    let relative = Path::new(&file.path);
    if let Some(target) = &file.symlink
        && !link_stays_inside(relative, target)
    {
        return Ok(Some(Refusal::LinkOut {
            path: file.path.clone(),
            target: target.clone(),
        }));
    }
    Ok(None)
}

/// Whether a restore would change nothing: the record is the one last restored here
/// under the same key (its checks passed then) and every file holds its content. The
/// common case of a no-op run, answered without entering the restore.
pub fn already_in_place(
    workspace: &Path,
    files: &[OutputFile],
    first_here: bool,
    current: &CurrentFile<'_>,
) -> bool {
    !first_here && files.iter().all(|file| in_place(workspace, file, current))
}

/// Puts a cached result's files back. Nothing is written or removed before every check
/// passed, so a refused record changes nothing. With `first_here` (not the record this
/// workspace last restored for the node under the same key — its path checks depend only
/// on the record and the declared outputs, which are in the key) every recorded path is
/// checked: outside the workspace, under `.git/` or `.orch/`, not matched by the node's
/// own `declared` outputs, or a link out of the workspace is refused
/// ([`RestoreError::Refused`]); and the files inside the node's literal output folders that the record
/// does not hold are removed (a clean run would not have them), except what `others`
/// (another node's declared outputs) claims. Every file to write is checked not to go
/// through a symlinked folder. A blob that is missing or does not verify, or a folder in
/// the way of a file (never removed), fails the restore.
///
/// `current` answers a file's present content: a file that already holds the cached
/// content is left alone. Returns whether anything in the workspace was written.
pub async fn restore(
    workspace: &Path,
    files: &[OutputFile],
    declared: &[String],
    first_here: bool,
    others: &dyn Fn(&str) -> bool,
    backend: &dyn Backend,
    current: &CurrentFile<'_>,
) -> Result<bool, RestoreError> {
    let mut owned = Owned::new(declared);
    if first_here {
        for file in files {
            if let Some(why) = refusal(file, &mut owned)? {
                return Err(RestoreError::Refused(why));
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
    // The folder of each file to write, checked before anything changes: a symlinked
    // folder on the way must not get anything written outside the workspace.
    let folder_of = |file: &OutputFile| {
        Path::new(&file.path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut checked = CheckedFolders::new();
    for file in &stale {
        if !checked.is_inside(workspace, &folder_of(file)) {
            return Err(RestoreError::Refused(Refusal::ThroughLink(
                file.path.clone(),
            )));
        }
    }
    let mut wrote =
        first_here && remove_strays(workspace, files, &mut owned, others, &mut checked)?;
    let mut made: std::collections::HashSet<String> = std::collections::HashSet::new();
    for file in stale {
        let dest = workspace.join(&file.path);
        let folder = folder_of(file);
        if !made.contains(&folder) {
            std::fs::create_dir_all(workspace.join(&folder))
                .map_err(|e| restore_io(&file.path, e))?;
            // Checked again once made (each folder looked at anew): nothing may have
            // swapped a folder meanwhile.
            if !CheckedFolders::new().is_inside(workspace, &folder) {
                return Err(RestoreError::Refused(Refusal::ThroughLink(
                    file.path.clone(),
                )));
            }
            made.insert(folder);
        }
        let in_the_way = std::fs::symlink_metadata(&dest).ok();
        if in_the_way.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(RestoreError::FolderInTheWay(file.path.clone()));
        }
        match &file.symlink {
            Some(target) => {
                if in_the_way.is_some() {
                    std::fs::remove_file(&dest).map_err(|e| restore_io(&file.path, e))?;
                }
                std::os::unix::fs::symlink(target, &dest).map_err(|e| restore_io(&file.path, e))?;
            }
            None => {
                let restored = backend.restore_blob(&file.blob(), &dest, file.mode).await?;
                if !restored {
                    return Err(RestoreError::BlobMissing(file.path.clone()));
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
    files: &[OutputFile],
    owned: &mut Owned<'_>,
    others: &dyn Fn(&str) -> bool,
    checked: &mut CheckedFolders,
) -> Result<bool, RestoreError> {
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
        if !checked.is_inside(workspace, &folder) {
            continue;
        }
        let full = workspace.join(&folder);
        for path in walk(&full) {
            let Some(relative) = relative_text(workspace, &path) else {
                continue;
            };
            if !recorded.contains(relative.as_str())
                && owned.covers(&relative)?
                && !others(&relative)
            {
                std::fs::remove_file(&path).map_err(|e| restore_io(&relative, e))?;
                removed = true;
            }
        }
    }
    Ok(removed)
}
