//! After a success: the files a node's declared outputs name, hashed and described for
//! its record (the caller uploads them). Only what lies inside the workspace is taken.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use orch_store::{Digest, OutputFile};

use super::{CollectError, link_stays_inside, relative_text, walk};
use crate::files::glob::Patterns;
use crate::files::paths::normalize;

fn io_error(path: &str, source: std::io::Error) -> CollectError {
    CollectError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Describes the files that `patterns` name (files, folders, globs), each regular file
/// with its content's digest and size. A literal path that does not exist is an error:
/// the job did not make what it declared.
pub fn collect(workspace: &Path, patterns: &[String]) -> Result<Vec<OutputFile>, CollectError> {
    let mut paths: Vec<String> = Vec::new();
    let mut globs = Vec::new();
    for pattern in patterns {
        if !crate::files::glob::is_literal(pattern) {
            globs.push(pattern.clone());
            continue;
        }
        let relative =
            normalize(Path::new(pattern)).ok_or_else(|| CollectError::Outside(pattern.clone()))?;
        let full = workspace.join(&relative);
        let meta = std::fs::symlink_metadata(&full)
            .map_err(|_| CollectError::NotProduced(pattern.clone()))?;
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
    let root = std::fs::canonicalize(workspace).map_err(|e| io_error("workspace", e))?;
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let full = workspace.join(&path);
        // A folder on the way that is a link out of the workspace would make orch store
        // a file from elsewhere.
        if let Some(parent) = full.parent()
            && !std::fs::canonicalize(parent).is_ok_and(|real| real.starts_with(&root))
        {
            return Err(CollectError::ThroughLink(path));
        }
        let meta = std::fs::symlink_metadata(&full).map_err(|e| io_error(&path, e))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full).map_err(|e| io_error(&path, e))?;
            let target = target.to_string_lossy().into_owned();
            if !link_stays_inside(Path::new(&path), &target) {
                return Err(CollectError::LinkOut { path, target });
            }
            files.push(OutputFile {
                path,
                digest: Digest::of(target.as_bytes()),
                size: 0,
                mode: 0o777,
                symlink: Some(target),
            });
        } else {
            let blob = orch_store::blob_of_file(&full)?;
            files.push(OutputFile {
                path,
                digest: blob.hash,
                size: blob.size,
                mode: meta.permissions().mode() & 0o7777,
                symlink: None,
            });
        }
    }
    Ok(files)
}
