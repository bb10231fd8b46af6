//! Workspace-relative paths: their normal form, and the checks that keep every path orch
//! reads or writes inside the workspace, also through symbolic links.

use std::path::{Path, PathBuf};

use crate::load::diag::Problem;

/// `a/./b/../c` → `a/c`; None when the path climbs out of its root or is absolute.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::Normal(c) => out.push(c),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
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

/// Refuses a path that, once symbolic links are resolved, lies outside the workspace.
/// A path that does not exist (yet) is left to whoever uses it.
pub fn check_inside(workspace: &Path, path: &Path, shown: &Path) -> Result<(), Problem> {
    let (Ok(root), Ok(real)) = (
        std::fs::canonicalize(workspace),
        std::fs::canonicalize(path),
    ) else {
        return Ok(());
    };
    if real.starts_with(&root) {
        return Ok(());
    }
    Err(Problem::general(format!(
        "{} resolves outside the workspace (to {}) through a symbolic link",
        shown.display(),
        real.display()
    ))
    .with_help("orch only reads and writes inside the folder that holds the playbook"))
}

/// Where a file named on the command line (it may not exist yet) lies in the workspace,
/// as a workspace-relative path; `None` when it lies outside (links in its folder
/// resolved).
pub fn within_workspace(workspace: &Path, file: &Path) -> Option<String> {
    let name = file.file_name()?;
    let folder = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let real = std::fs::canonicalize(folder).ok()?.join(name);
    let root = std::fs::canonicalize(workspace).ok()?;
    let relative = real.strip_prefix(root).ok()?;
    relative.to_str().map(str::to_owned)
}

/// Folders already checked by [`path_refusal`], by workspace-relative path: whether each
/// stays inside the workspace once its links are resolved. A folder is decided by an
/// `lstat` of each folder on its way; only a link is resolved (a whole `canonicalize` per
/// folder, a `readlink` for each component of the workspace's own path too, was most of a
/// 200-package hit's system calls).
#[derive(Debug)]
pub struct CheckedFolders {
    /// The workspace with its links resolved, once one is needed.
    root: Option<Option<PathBuf>>,
    folders: std::collections::HashMap<String, bool>,
    /// Folders on the way found to be real folders (not links), trusted while
    /// `plain_epoch` stays what it was when they were looked at; `None`: not kept.
    plain: std::collections::HashSet<String>,
    plain_epoch: Option<u64>,
}

impl Default for CheckedFolders {
    fn default() -> Self {
        Self {
            root: None,
            folders: Default::default(),
            plain: Default::default(),
            plain_epoch: Some(0),
        }
    }
}

impl CheckedFolders {
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of the workspace later checks see: answers (and the folders found real
    /// on the way) are trusted again only at the same `epoch` (nothing ran since);
    /// `None` (a node may be changing the workspace right now) trusts none of them.
    pub fn at_epoch(&mut self, epoch: Option<u64>) {
        if epoch.is_none() || epoch != self.plain_epoch {
            self.plain.clear();
            self.folders.clear();
        }
        self.plain_epoch = epoch;
    }

    /// Whether a plain workspace-relative path (a file or a folder; `""` is the
    /// workspace) stays inside once links on its way and itself are resolved.
    pub fn is_inside(&mut self, workspace: &Path, path: &str) -> bool {
        path.is_empty() || self.inside(workspace, path)
    }

    /// Each folder on the way is looked at (an `lstat` each) unless it was found a real
    /// folder at this epoch; the answer is remembered for the epoch, so a folder made a
    /// link by a node that ran since is not taken on the old word.
    fn inside(&mut self, workspace: &Path, folder: &str) -> bool {
        if let Some(known) = self.folders.get(folder) {
            return *known;
        }
        let mut inside = true;
        let mut at = workspace.to_path_buf();
        let mut end = 0;
        for component in folder.split('/') {
            at.push(component);
            end += component.len();
            let on_the_way = &folder[..end];
            end += 1;
            if self.plain_epoch.is_some() && self.plain.contains(on_the_way) {
                continue;
            }
            // A missing folder, or one that is not a link, is where its parent is.
            match std::fs::symlink_metadata(&at) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let root = self
                        .root
                        .get_or_insert_with(|| std::fs::canonicalize(workspace).ok());
                    if let (Some(root), Ok(real)) = (root, std::fs::canonicalize(&at))
                        && !real.starts_with(root)
                    {
                        inside = false;
                        break;
                    }
                }
                Ok(meta) if meta.is_dir() => {
                    if self.plain_epoch.is_some() {
                        self.plain.insert(on_the_way.to_owned());
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.folders.insert(folder.to_owned(), inside);
        inside
    }
}

/// Why a workspace-relative path or glob (a leading `!` aside) must not be used, if it
/// must not: it leaves the workspace as written, or the folder it lies in (for a glob, its
/// literal part) resolves outside through a symbolic link. `whole_path_is_folder` checks
/// the path itself (a working directory) rather than its folder. The same check for
/// literal paths at load time and for rendered ones when a node starts.
pub fn path_refusal(
    workspace: &Path,
    pattern: &str,
    whole_path_is_folder: bool,
    checked: &mut CheckedFolders,
) -> Option<String> {
    let text = pattern.strip_prefix('!').unwrap_or(pattern);
    let text = text.strip_prefix("./").unwrap_or(text);
    // Most paths are plain already (`in/3.txt`): taken as text, without building paths.
    let normalized;
    let normal: &str = if crate::files::paths::is_plain_relative(text) {
        text
    } else {
        let path = Path::new(text);
        let Some(normal) = crate::files::paths::normalize(path).filter(|_| !path.is_absolute())
        else {
            return Some(format!("`{pattern}` is outside the workspace"));
        };
        normalized = normal.to_string_lossy().into_owned();
        &normalized
    };
    // The literal folders before the first glob, the path itself, or the path's folder,
    // as a slice of the text.
    let end = match normal.find(crate::files::glob::GLOB_CHARS) {
        Some(at) => normal[..at].rfind('/').unwrap_or(0),
        None if whole_path_is_folder => normal.len(),
        None => normal.rfind('/').unwrap_or(0),
    };
    let folder = normal[..end].trim_end_matches('/');
    if folder.is_empty() {
        return None;
    }
    let inside = checked.inside(workspace, folder);
    (!inside).then(|| {
        format!(
            "`{pattern}` lies outside the workspace: {folder} resolves outside it through a symbolic link"
        )
    })
}

/// `path` as a person in `cwd` would type it: relative (`../orch.yml`,
/// `.orch/runs/…/summary.md`), or absolute when the two share nothing but `/`.
pub fn shown_from(cwd: &Path, path: &Path) -> std::path::PathBuf {
    let (from, to): (Vec<_>, Vec<_>) = (cwd.components().collect(), path.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return path.to_path_buf();
    }
    let mut shown = std::path::PathBuf::new();
    for _ in common..from.len() {
        shown.push("..");
    }
    for part in &to[common..] {
        shown.push(part);
    }
    shown
}

/// A rendered folder as the workspace sees it: an absolute one inside the workspace
/// (`${{ github.workspace }}/sub`, `${{ github.action_path }}`) made relative, anything
/// else as it is (the checks that follow refuse what leaves the workspace).
pub fn inside_workspace(workspace: &Path, rendered: String) -> String {
    let path = Path::new(&rendered);
    if !path.is_absolute() {
        return rendered;
    }
    match path.strip_prefix(workspace) {
        Ok(rest) if rest.as_os_str().is_empty() => ".".to_owned(),
        Ok(rest) => rest.to_string_lossy().into_owned(),
        Err(_) => rendered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_refused_when_a_link_on_its_way_leads_out() {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let ws = ws.path();
        std::fs::create_dir_all(ws.join("a/real")).unwrap();
        std::fs::create_dir_all(ws.join("b")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.join("a/door")).unwrap();
        std::os::unix::fs::symlink(ws.join("a"), ws.join("l")).unwrap();
        std::os::unix::fs::symlink(ws.join("b"), ws.join("a/inner")).unwrap();
        let mut checked = CheckedFolders::new();
        let refused =
            |p: &str, checked: &mut CheckedFolders| path_refusal(ws, p, false, checked).is_some();
        assert!(refused("a/door/x/*.txt", &mut checked));
        assert!(
            refused("l/door/f.txt", &mut checked),
            "through a link inside"
        );
        assert!(!refused("a/real/f.txt", &mut checked));
        assert!(!refused("a/inner/f.txt", &mut checked));
        assert!(
            !refused("l/real/new/f.txt", &mut checked),
            "missing folders"
        );
        assert!(path_refusal(ws, "a/door", true, &mut checked).is_some());
        assert!(path_refusal(ws, "a/door", false, &mut checked).is_none());
        // Asked again, the remembered answers hold.
        assert!(refused("a/door/y.txt", &mut checked));
        // A folder missing when a path under it was checked, made a link out later in
        // the run, is not taken on that earlier word.
        assert!(!refused("gen/a/x.txt", &mut checked));
        std::os::unix::fs::symlink(outside.path(), ws.join("gen")).unwrap();
        assert!(refused("gen/b/f.txt", &mut checked));
        // A real folder on the way is trusted only while nothing ran: made a link out
        // at the next epoch, it is looked at again.
        std::fs::create_dir_all(ws.join("c/d")).unwrap();
        assert!(!refused("c/d/f.txt", &mut checked));
        std::fs::remove_dir_all(ws.join("c")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.join("c")).unwrap();
        checked.at_epoch(Some(1));
        assert!(refused("c/e/f.txt", &mut checked));
        // A folder asked about before is asked again at a new epoch.
        checked.at_epoch(Some(2));
        std::fs::create_dir_all(ws.join("k")).unwrap();
        assert!(!refused("k/f.txt", &mut checked));
        std::fs::remove_dir_all(ws.join("k")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.join("k")).unwrap();
        assert!(
            !refused("k/f.txt", &mut checked),
            "at the same epoch the answer is remembered"
        );
        checked.at_epoch(Some(3));
        assert!(refused("k/f.txt", &mut checked));
        // With a node running (no epoch), nothing on the way is trusted.
        std::fs::create_dir_all(ws.join("f/g")).unwrap();
        checked.at_epoch(None);
        assert!(!refused("f/g/x.txt", &mut checked));
        std::fs::rename(ws.join("f"), ws.join("f-was")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.join("f")).unwrap();
        assert!(refused("f/h/x.txt", &mut checked));
    }
}
