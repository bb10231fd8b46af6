//! Finding and reading the playbook; the workspace is the folder that holds it.

use std::path::{Path, PathBuf};

use crate::files::paths::shown_from;
use crate::load::diag::{Problem, SourceFile};

pub const PLAYBOOK_NAMES: &[&str] = &["orch.yml", "orch.yaml", "orch.json"];

/// A playbook found on disk and the workspace around it.
#[derive(Debug, Clone)]
pub struct Located {
    /// Absolute path of the playbook.
    pub path: PathBuf,
    /// Absolute path of the folder that holds it.
    pub workspace: PathBuf,
    pub source: SourceFile,
}

/// `-f PATH` when given, else `orch.yml`/`orch.yaml`/`orch.json` here or in a parent.
pub fn locate(explicit: Option<&Path>, cwd: &Path) -> Result<Located, Problem> {
    let (path, shown) = match explicit {
        Some(p) => {
            let absolute = cwd.join(p);
            if !absolute.is_file() {
                return Err(Problem::general(format!(
                    "playbook {} not found",
                    p.display()
                )));
            }
            (absolute, p.to_path_buf())
        }
        None => {
            let found = cwd.ancestors().find_map(|dir| {
                PLAYBOOK_NAMES
                    .iter()
                    .map(|n| dir.join(n))
                    .find(|p| p.is_file())
            });
            let Some(found) = found else {
                return Err(Problem::general(format!(
                    "no playbook here: none of {} in {} or its parents",
                    PLAYBOOK_NAMES.join(", "),
                    cwd.display()
                ))
                .with_help("create orch.yml, or name one with -f PATH"));
            };
            let shown = shown_from(cwd, &found);
            (found, shown)
        }
    };
    let source = read_source(&path, &shown)?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let workspace = workspace_of(&path).unwrap_or_else(|| cwd.to_path_buf());
    Ok(Located {
        path,
        workspace,
        source,
    })
}

/// `--workflow NAME`: `.github/workflows/NAME.yml`, `.yaml` or `NAME` itself, in this
/// folder or the nearest parent that has a `.github/workflows/`.
pub fn locate_workflow(name: &str, cwd: &Path) -> Result<Located, Problem> {
    let Some(folder) = cwd
        .ancestors()
        .map(|dir| dir.join(".github/workflows"))
        .find(|d| d.is_dir())
    else {
        return Err(Problem::general(format!(
            "no .github/workflows folder in {} or its parents",
            cwd.display()
        )));
    };
    let candidates = [
        format!("{name}.yml"),
        format!("{name}.yaml"),
        name.to_owned(),
    ];
    let Some(found) = candidates
        .iter()
        .map(|c| folder.join(c))
        .find(|p| p.is_file())
    else {
        let mut known: Vec<String> = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let stem = name
                    .strip_suffix(".yml")
                    .or_else(|| name.strip_suffix(".yaml"))?;
                Some(stem.to_owned())
            })
            .collect();
        known.sort();
        let mut problem = Problem::general(format!(
            "no workflow `{name}` in {}",
            shown_from(cwd, &folder).display()
        ));
        problem.help = crate::load::diag::did_you_mean(name, known.iter().map(String::as_str))
            .or_else(|| (!known.is_empty()).then(|| format!("there are: {}", known.join(", "))));
        return Err(problem);
    };
    locate(Some(&shown_from(cwd, &found)), cwd)
}

/// The folder a playbook's paths start from: the one that holds it, or for a GitHub
/// workflow in `.github/workflows/`, the repository's root (where GitHub checks out).
pub fn workspace_of(playbook: &Path) -> Option<PathBuf> {
    let folder = playbook.parent()?;
    if folder.ends_with(".github/workflows") {
        return folder.parent()?.parent().map(Path::to_path_buf);
    }
    Some(folder.to_path_buf())
}

/// Reads a playbook as UTF-8 text; `shown` is the path its messages name.
pub fn read_source(path: &Path, shown: &Path) -> Result<SourceFile, Problem> {
    let bytes = std::fs::read(path)
        .map_err(|e| Problem::general(format!("cannot read {}: {e}", shown.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Problem::general(format!(
            "{} is not valid UTF-8 (at byte {})",
            shown.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(SourceFile {
        path: shown.to_path_buf(),
        text: text.into(),
    })
}
