//! Artifacts: files a node keeps for the run under `.orch/runs/RUN/artifacts/NAME/`
//! (`artifacts:` on a job, `actions/upload-artifact` in a workflow). Each has a
//! manifest beside it (`.NAME.json`: the job that kept it, its files), so that a later
//! job fetches only what a job it needs kept — whose result, and so whose artifacts, are
//! in its key. A cached node's artifacts come back with its result.

use std::path::{Path, PathBuf};

use orch_store::{Backend, OutputFile, StoredArtifact};
use serde::{Deserialize, Serialize};

use crate::files::glob::Patterns;
use crate::files::paths::normalize;

/// What the manifest beside an artifact's folder says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    name: String,
    job: String,
    node: String,
}

/// Characters GitHub refuses in an artifact's name, and path separators.
fn check_name(name: &str) -> Result<(), String> {
    let bad = ['"', ':', '<', '>', '|', '*', '?', '\r', '\n', '\\', '/'];
    if name.is_empty() || name.starts_with('.') || name.contains(bad) {
        return Err(format!(
            "`{name}` is not an artifact name (not empty, no leading `.`, none of \" : < > | * ? \\ / or line breaks)"
        ));
    }
    Ok(())
}

fn manifest_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.json"))
}

/// The files `patterns` name (one per line or entry; `!` excludes), relative to the
/// workspace, regular files only; an absolute pattern must be inside the workspace.
fn matched(workspace: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut relative = Vec::new();
    for pattern in patterns.iter().flat_map(|p| p.lines()) {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            continue;
        }
        let (bang, text) = pattern
            .strip_prefix('!')
            .map_or(("", pattern), |rest| ("!", rest));
        let text = match Path::new(text).strip_prefix(workspace) {
            Ok(inside) => inside.to_string_lossy().into_owned(),
            Err(_) if Path::new(text).is_absolute() => {
                return Err(format!("`{text}` is outside the workspace"));
            }
            Err(_) => text.strip_prefix("./").unwrap_or(text).to_owned(),
        };
        if normalize(Path::new(&text)).is_none() {
            return Err(format!("`{text}` is outside the workspace"));
        }
        relative.push(format!("{bang}{}", text.trim_end_matches('/')));
    }
    let patterns = Patterns::new(&relative).map_err(|e| e.to_string())?;
    Ok(crate::files::walk::matching_files(workspace, &patterns))
}

/// The folder all `files` share (GitHub's rule: an artifact's paths start below it).
fn common_folder(files: &[PathBuf]) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for file in files {
        let folder = file.parent().unwrap_or(Path::new(""));
        common = Some(match common {
            None => folder.to_path_buf(),
            Some(c) => c
                .components()
                .zip(folder.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// Keeps the files `patterns` name as artifact `name` of this run. `None` when nothing
/// matched and that is allowed (`if-no-files-found: warn|ignore`).
pub(super) fn upload(
    workspace: &Path,
    dir: &Path,
    name: &str,
    patterns: &[String],
    (job, node): (&str, &str),
    nothing_is_an_error: bool,
) -> Result<Option<StoredArtifact>, String> {
    check_name(name)?;
    let files = matched(workspace, patterns)?;
    if files.is_empty() {
        return if nothing_is_an_error {
            Err(format!(
                "artifact `{name}`: no file matches {}",
                patterns.join(", ")
            ))
        } else {
            Ok(None)
        };
    }
    if manifest_path(dir, name).exists() {
        return Err(format!(
            "an artifact named `{name}` was already kept in this run: names are unique per run (add the matrix values to it)"
        ));
    }
    let root = common_folder(&files);
    let target = dir.join(name);
    let mut stored = Vec::with_capacity(files.len());
    for file in &files {
        let inside = file.strip_prefix(&root).unwrap_or(file);
        let dest = target.join(inside);
        let source = workspace.join(file);
        let copy = || -> std::io::Result<OutputFile> {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(&source, &dest)?;
            let meta = std::fs::metadata(&dest)?;
            use std::os::unix::fs::PermissionsExt;
            Ok(OutputFile {
                path: inside.to_string_lossy().into_owned(),
                digest: orch_store::hash_file(&dest)?,
                size: meta.len(),
                mode: meta.permissions().mode() & 0o7777,
                symlink: None,
            })
        };
        stored.push(copy().map_err(|e| format!("artifact `{name}`: {}: {e}", file.display()))?);
    }
    stored.sort_by(|a, b| a.path.cmp(&b.path));
    write_manifest(dir, name, job, node)?;
    Ok(Some(StoredArtifact {
        name: name.to_owned(),
        files: stored,
    }))
}

fn write_manifest(dir: &Path, name: &str, job: &str, node: &str) -> Result<(), String> {
    let manifest = Manifest {
        name: name.to_owned(),
        job: job.to_owned(),
        node: node.to_owned(),
    };
    let text = serde_json::to_string(&manifest).unwrap_or_default();
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(manifest_path(dir, name), text))
        .map_err(|e| format!("artifact `{name}`: {e}"))
}

/// Removes what an attempt kept, before the next attempt keeps its own.
pub(super) fn discard(dir: &Path, artifacts: &[StoredArtifact]) {
    for artifact in artifacts {
        let _ = std::fs::remove_dir_all(dir.join(&artifact.name));
        let _ = std::fs::remove_file(manifest_path(dir, &artifact.name));
    }
}

/// What to fetch: one artifact by name, those whose names match a glob, or all.
pub(super) struct Fetch<'a> {
    pub(super) name: Option<&'a str>,
    pub(super) pattern: Option<&'a str>,
    /// Where, relative to the workspace.
    pub(super) path: &'a str,
    /// Several artifacts into one folder, instead of a folder each.
    pub(super) merge: bool,
}

/// Copies artifacts of this run into the workspace: only those kept by a job in `needed`
/// (what the fetching job's key covers). Returns the names fetched.
pub(super) fn download(
    workspace: &Path,
    dir: &Path,
    fetch: &Fetch,
    needed: &[&str],
) -> Result<Vec<String>, String> {
    let mut kept: Vec<Manifest> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let text = std::fs::read_to_string(&path).ok()?;
            path.extension()
                .is_some_and(|x| x == "json")
                .then(|| serde_json::from_str(&text).ok())
                .flatten()
        })
        .collect();
    kept.sort_by(|a, b| a.name.cmp(&b.name));
    let chosen: Vec<&Manifest> = match (fetch.name, fetch.pattern) {
        (Some(name), _) => {
            let Some(found) = kept.iter().find(|m| m.name == name) else {
                let names: Vec<&str> = kept.iter().map(|m| m.name.as_str()).collect();
                return Err(format!(
                    "no artifact named `{name}` in this run (kept so far: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
            };
            vec![found]
        }
        (None, Some(pattern)) => {
            let glob = globset::Glob::new(pattern)
                .map_err(|e| format!("bad pattern `{pattern}`: {e}"))?
                .compile_matcher();
            kept.iter().filter(|m| glob.is_match(&m.name)).collect()
        }
        (None, None) => kept.iter().collect(),
    };
    let Some(dest) = normalize(Path::new(
        fetch.path.strip_prefix("./").unwrap_or(fetch.path),
    )) else {
        return Err(format!("`{}` is outside the workspace", fetch.path));
    };
    let single = fetch.name.is_some() || fetch.merge;
    let mut names = Vec::new();
    for manifest in chosen {
        if !needed.contains(&manifest.job.as_str()) {
            return Err(format!(
                "artifact `{}` was kept by job `{}`, which this job does not need: add it to `needs`",
                manifest.name, manifest.job
            ));
        }
        let into = if single {
            dest.clone()
        } else {
            dest.join(&manifest.name)
        };
        let source = dir.join(&manifest.name);
        for file in walk_files(&source) {
            let inside = file.strip_prefix(&source).unwrap_or(&file);
            let target = workspace.join(&into).join(inside);
            crate::files::paths::check_inside(workspace, &target, &into.join(inside))
                .map_err(|p| p.message)?;
            let copied = target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::copy(&file, &target).map(|_| ()));
            copied
                .map_err(|e| format!("artifact `{}`: {}: {e}", manifest.name, inside.display()))?;
        }
        names.push(manifest.name.clone());
    }
    Ok(names)
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    crate::files::walk::entries(dir, false, &[])
        .filter(|(_, kind)| *kind == crate::files::walk::Kind::File)
        .map(|(path, _)| path)
        .collect()
}

/// A cached node's artifacts put back into this run's folder, each blob verified by the
/// backend as it is written. `Err` when one cannot be (a miss, then: the node runs).
pub(super) async fn restore(
    dir: &Path,
    artifacts: &[StoredArtifact],
    (job, node): (&str, &str),
    backend: &dyn Backend,
) -> Result<(), String> {
    for artifact in artifacts {
        check_name(&artifact.name)?;
        if manifest_path(dir, &artifact.name).exists() {
            return Err(format!(
                "an artifact named `{}` was already kept in this run",
                artifact.name
            ));
        }
        for file in &artifact.files {
            let Some(inside) = normalize(Path::new(&file.path))
                .filter(|p| !p.as_os_str().is_empty() && file.symlink.is_none())
            else {
                return Err(format!(
                    "artifact `{}`: a bad path in the record",
                    artifact.name
                ));
            };
            let dest = dir.join(&artifact.name).join(inside);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            let restored = backend
                .restore_blob(&file.blob(), &dest, file.mode)
                .await
                .map_err(|e| e.to_string())?;
            if !restored {
                return Err(format!(
                    "artifact `{}`: {} is no longer in the cache",
                    artifact.name, file.path
                ));
            }
        }
        write_manifest(dir, &artifact.name, job, node)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_then_fetched_by_a_job_that_needs_it() {
        let ws = tempfile::tempdir().unwrap();
        let dir = ws.path().join(".orch/runs/r/artifacts");
        std::fs::create_dir_all(ws.path().join("dist/bin")).unwrap();
        std::fs::write(ws.path().join("dist/bin/tool"), "x").unwrap();
        std::fs::write(ws.path().join("dist/readme.txt"), "y").unwrap();
        std::fs::write(ws.path().join("dist/skip.log"), "z").unwrap();
        let patterns = vec!["dist/\n!dist/*.log".to_owned()];
        let kept = upload(ws.path(), &dir, "app", &patterns, ("build", "build"), true)
            .unwrap()
            .unwrap();
        let paths: Vec<&str> = kept.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["bin/tool", "readme.txt"],
            "below the common folder, without the excluded"
        );
        assert!(
            upload(ws.path(), &dir, "app", &patterns, ("build", "build"), true)
                .unwrap_err()
                .contains("already kept")
        );
        assert!(
            upload(
                ws.path(),
                &dir,
                "none",
                &["nope/*".into()],
                ("b", "b"),
                true
            )
            .is_err()
        );
        assert!(
            upload(
                ws.path(),
                &dir,
                "none",
                &["nope/*".into()],
                ("b", "b"),
                false
            )
            .unwrap()
            .is_none()
        );
        assert!(upload(ws.path(), &dir, "a/b", &patterns, ("b", "b"), true).is_err());
        assert!(
            upload(
                ws.path(),
                &dir,
                "x",
                &["/etc/passwd".into()],
                ("b", "b"),
                true
            )
            .is_err()
        );

        let fetch = Fetch {
            name: Some("app"),
            pattern: None,
            path: "got",
            merge: false,
        };
        assert!(
            download(ws.path(), &dir, &fetch, &["lint"])
                .unwrap_err()
                .contains("does not need")
        );
        assert_eq!(
            download(ws.path(), &dir, &fetch, &["build"]).unwrap(),
            ["app"]
        );
        assert_eq!(
            std::fs::read_to_string(ws.path().join("got/bin/tool")).unwrap(),
            "x"
        );
        let all = Fetch {
            name: None,
            pattern: None,
            path: "all",
            merge: false,
        };
        download(ws.path(), &dir, &all, &["build"]).unwrap();
        assert!(ws.path().join("all/app/readme.txt").exists());
        let outside = Fetch {
            name: Some("app"),
            pattern: None,
            path: "../up",
            merge: false,
        };
        assert!(download(ws.path(), &dir, &outside, &["build"]).is_err());
        let missing = Fetch {
            name: Some("nope"),
            pattern: None,
            path: ".",
            merge: false,
        };
        assert!(
            download(ws.path(), &dir, &missing, &["build"])
                .unwrap_err()
                .contains("kept so far: app")
        );
    }
}
