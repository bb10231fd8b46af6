//! A GitHub Actions workflow run on this machine: the `github` and `runner` contexts
//! filled locally (from git and the command line), the runner's environment variables,
//! and whether a job's `runs-on` labels name this host.

use std::path::Path;

use serde_json::{Map, Value, json};

/// What the command line says of a workflow run.
#[derive(Debug, Clone, Default)]
pub struct WorkflowRun {
    /// `--event` (default `push`).
    pub event_name: String,
    /// `--event-file`: the webhook payload `github.event` holds (`{}` without one).
    pub event: Value,
    /// `--runner LABEL=local`: labels that run here although they name another host.
    pub local_labels: Vec<String>,
    /// `--input NAME=VALUE` (`workflow_dispatch` inputs).
    pub inputs: Vec<(String, String)>,
    /// The workflow's `name` (or its file's), for `github.workflow`.
    pub workflow: String,
    /// What git says of the workspace.
    pub git: GitFacts,
}

/// The repository facts the `github` context needs, read once per run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitFacts {
    pub sha: String,
    /// `refs/heads/main`; empty on a detached HEAD or outside git.
    pub git_ref: String,
    /// `owner/name` from the `origin` remote, else the workspace folder's name.
    pub repository: String,
    pub actor: String,
}

impl GitFacts {
    /// Asks git (two processes); outside a repository every fact but the name is empty.
    pub fn read(workspace: &Path) -> GitFacts {
        let git = |args: &[&str]| git_output(workspace, args);
        let heads = git(&["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"]);
        let mut heads = heads.lines();
        let sha = heads.next().unwrap_or_default().trim().to_owned();
        let git_ref = heads
            .next()
            .map(str::trim)
            .filter(|r| r.starts_with("refs/"))
            .unwrap_or_default()
            .to_owned();
        let config = git(&[
            "config",
            "--get-regexp",
            r"^(remote\.origin\.url|user\.name)$",
        ]);
        let mut repository = String::new();
        let mut actor = String::new();
        for line in config.lines() {
            match line.split_once(' ') {
                Some(("remote.origin.url", url)) => repository = repository_of(url),
                Some(("user.name", name)) => actor = name.trim().to_owned(),
                _ => {}
            }
        }
        if repository.is_empty() {
            repository = workspace
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        GitFacts {
            sha,
            git_ref,
            repository,
            actor,
        }
    }
}

/// What `git ARGS` prints in `workspace`; empty when git fails or is not there.
fn git_output(workspace: &Path, args: &[&str]) -> String {
    std::process::Command::new("git")
        .args(args)
        .current_dir(workspace)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `owner/name` of a remote URL (`git@github.com:o/n.git`, `https://host/o/n`).
fn repository_of(url: &str) -> String {
    let path = url.trim().trim_end_matches('/').trim_end_matches(".git");
    let mut parts = path.rsplit(['/', ':']);
    match (parts.next(), parts.next()) {
        (Some(name), Some(owner)) if !name.is_empty() && !owner.is_empty() => {
            format!("{owner}/{name}")
        }
        _ => String::new(),
    }
}

/// `RUNNER_OS` and `runner.os` as GitHub spells them.
pub fn runner_os() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    }
}

/// `RUNNER_ARCH` and `runner.arch` as GitHub spells them.
pub fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        "arm" => "ARM",
        "x86" => "X86",
        other => other,
    }
}

impl WorkflowRun {
    /// The `github` context of a job's node.
    pub fn github(&self, workspace: &Path, run_id: &str, job: &str) -> Value {
        let git = &self.git;
        let ref_name = git
            .git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| git.git_ref.strip_prefix("refs/tags/"))
            .unwrap_or_default();
        let ref_type = if git.git_ref.starts_with("refs/tags/") {
            "tag"
        } else {
            "branch"
        };
        let owner = self.git.repository.split('/').next().unwrap_or_default();
        json!({
            "action": "",
            "actor": git.actor,
            "triggering_actor": git.actor,
            "api_url": "https://api.github.com",
            "base_ref": "",
            "event": self.event,
            "event_name": self.event_name,
            "head_ref": "",
            "job": job,
            "ref": git.git_ref,
            "ref_name": ref_name,
            "ref_type": ref_type,
            "repository": git.repository,
            "repository_owner": owner,
            "run_attempt": "1",
            "run_id": run_id,
            "run_number": "1",
            "server_url": "https://github.com",
            "sha": git.sha,
            "token": "",
            "workflow": self.workflow,
            "workspace": workspace.display().to_string(),
        })
    }

    /// The `runner` context; `temp` is the node's scratch folder.
    pub fn runner(temp: &Path) -> Value {
        json!({
            "os": runner_os(),
            "arch": runner_arch(),
            "name": "orch",
            "environment": "self-hosted",
            "temp": temp.display().to_string(),
            "tool_cache": temp.display().to_string(),
            "debug": "",
        })
    }

    /// The variables a runner gives every step, from the contexts: `CI`, `GITHUB_*`,
    /// `RUNNER_*`. They describe the run, not the work, so they are not in keys (as
    /// `ORCH_RUN_ID`): what a step's result depends on it reads through `${{ github.* }}`.
    pub fn env(github: &Map<String, Value>, temp: &Path) -> Vec<(String, String)> {
        let text = |key: &str| match github.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let mut env = vec![
            ("CI".to_owned(), "true".to_owned()),
            ("RUNNER_OS".to_owned(), runner_os().to_owned()),
            ("RUNNER_ARCH".to_owned(), runner_arch().to_owned()),
            ("RUNNER_TEMP".to_owned(), temp.display().to_string()),
            ("RUNNER_TOOL_CACHE".to_owned(), temp.display().to_string()),
        ];
        for key in [
            "workspace",
            "repository",
            "repository_owner",
            "sha",
            "ref",
            "ref_name",
            "ref_type",
            "event_name",
            "run_id",
            "run_number",
            "run_attempt",
            "actor",
            "job",
            "workflow",
            "server_url",
            "api_url",
            "base_ref",
            "head_ref",
        ] {
            env.push((format!("GITHUB_{}", key.to_ascii_uppercase()), text(key)));
        }
        env
    }
}

/// Whether GitHub's filter list (`branches`, `paths`: globs where `*` stops at `/`, a
/// later `!pattern` taking back what an earlier one matched) selects `name`.
fn filter_selects(patterns: &[String], name: &str) -> bool {
    let mut selected = false;
    for pattern in patterns {
        let (negated, glob) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        let matches = globset::GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .is_ok_and(|g| g.compile_matcher().is_match(name));
        if matches {
            selected = !negated;
        }
    }
    selected
}

/// Why `event` does not trigger a workflow with `triggers`, if it does not: not one of
/// its events, or its branch, tag or path filters leave this checkout out. `changed`
/// lists the files the filters' `paths` are checked against (asked only when needed).
pub fn not_triggered(
    triggers: &[crate::load::model::Trigger],
    event: &str,
    git: &GitFacts,
    changed: &mut dyn FnMut() -> Vec<String>,
) -> Option<String> {
    let Some(trigger) = triggers.iter().find(|t| t.event.value == event) else {
        let events: Vec<&str> = triggers.iter().map(|t| t.event.value.as_str()).collect();
        return Some(format!("its `on:` is {}", events.join(", ")));
    };
    let branch = git.git_ref.strip_prefix("refs/heads/");
    let tag = git.git_ref.strip_prefix("refs/tags/");
    let ref_filters = [
        (&trigger.branches, branch, "branches", true),
        (&trigger.branches_ignore, branch, "branches-ignore", false),
        (&trigger.tags, tag, "tags", true),
        (&trigger.tags_ignore, tag, "tags-ignore", false),
    ];
    // Only a push's ref is known here (a pull request's filters name its base branch),
    // and only on a branch or a tag (not outside git, not on a detached HEAD).
    if event != "push" || git.git_ref.is_empty() {
        return None;
    }
    // A push names a branch or a tag: with only tag filters, a branch push does not
    // trigger (and the other way round), as on GitHub.
    let has_branch_filter = !trigger.branches.is_empty() || !trigger.branches_ignore.is_empty();
    let has_tag_filter = !trigger.tags.is_empty() || !trigger.tags_ignore.is_empty();
    if has_tag_filter && !has_branch_filter && tag.is_none() {
        return Some(format!(
            "on.push has only tag filters and HEAD is {}",
            git.git_ref
        ));
    }
    for (patterns, name, key, include) in ref_filters {
        if patterns.is_empty() {
            continue;
        }
        let Some(name) = name else {
            continue;
        };
        let selects = filter_selects(patterns, name);
        if selects != include {
            return Some(format!(
                "on.{event}.{key} is {} and HEAD is `{name}`",
                patterns.join(", ")
            ));
        }
    }
    if has_branch_filter && !has_tag_filter && branch.is_none() {
        return Some(format!(
            "on.push has only branch filters and HEAD is {}",
            git.git_ref
        ));
    }
    if !trigger.paths.is_empty() || !trigger.paths_ignore.is_empty() {
        let files = changed();
        if !files.is_empty() {
            if !trigger.paths.is_empty() && !files.iter().any(|f| filter_selects(&trigger.paths, f))
            {
                return Some(format!(
                    "on.{event}.paths is {}, and no changed file matches",
                    trigger.paths.join(", ")
                ));
            }
            if !trigger.paths_ignore.is_empty()
                && files
                    .iter()
                    .all(|f| filter_selects(&trigger.paths_ignore, f))
            {
                return Some(format!(
                    "on.{event}.paths-ignore is {}, and every changed file matches",
                    trigger.paths_ignore.join(", ")
                ));
            }
        }
    }
    None
}

/// The files a push of HEAD changes, as the path filters see them locally: the last
/// commit's and the working tree's changes against HEAD (uncommitted edits are what a
/// local run tries out).
pub fn changed_files(workspace: &Path) -> Vec<String> {
    let git = |args: &[&str]| git_output(workspace, args);
    let mut files: Vec<String> = git(&["diff", "--name-only", "HEAD~1", "HEAD"])
        .lines()
        .chain(git(&["diff", "--name-only", "HEAD"]).lines())
        .chain(git(&["ls-files", "--others", "--exclude-standard"]).lines())
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Why a node whose `runs-on` labels are `labels` does not run on this host, if it does
/// not: a label naming another operating system or processor, unless `--runner LABEL=local`
/// maps it here. Other labels (`self-hosted`, a runner group's own names) run here.
pub fn elsewhere(labels: &[String], local: &[String]) -> Option<String> {
    let os = runner_os().to_ascii_lowercase();
    let arm_here = matches!(std::env::consts::ARCH, "aarch64" | "arm");
    for label in labels {
        let lower = label.to_ascii_lowercase();
        if local.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            continue;
        }
        let names_os = if lower.starts_with("windows") || lower == "win" {
            Some("windows")
        } else if lower.starts_with("macos") || lower == "mac" || lower == "osx" {
            Some("macos")
        } else if lower.contains("ubuntu") || lower.contains("linux") {
            Some("linux")
        } else {
            None
        };
        let names_arm = lower.contains("arm") || lower.contains("aarch64");
        let names_x64 =
            lower.contains("x64") || lower.contains("x86_64") || lower.contains("amd64");
        let other_os = names_os.is_some_and(|o| o != os);
        let other_arch = (names_arm && !arm_here) || (names_x64 && arm_here);
        if other_os || other_arch {
            return Some(format!(
                "runs-on `{label}`: not this machine ({} {}); `--runner {label}=local` runs it here",
                runner_os(),
                runner_arch()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_from_remote_urls() {
        assert_eq!(
            repository_of("git@github.com:tokio-rs/tokio.git"),
            "tokio-rs/tokio"
        );
        assert_eq!(
            repository_of("https://github.com/astral-sh/ruff\n"),
            "astral-sh/ruff"
        );
        assert_eq!(repository_of("nothing"), "");
    }

    #[test]
    fn trigger_filters_as_github_reads_them() {
        use crate::load::diag::Sp;
        use crate::load::model::Trigger;
        let strings = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let trigger = |event: &str| Trigger::new(Sp::new(event.to_owned(), Default::default()));
        let on_branch = |name: &str| GitFacts {
            git_ref: format!("refs/heads/{name}"),
            ..GitFacts::default()
        };
        let mut none = Vec::new;
        let mut push = trigger("push");
        push.branches = strings(&["main", "release/*", "!release/old"]);
        let triggers = [push, trigger("pull_request")];
        assert!(not_triggered(&triggers, "push", &on_branch("main"), &mut none).is_none());
        assert!(not_triggered(&triggers, "push", &on_branch("release/1.0"), &mut none).is_none());
        let why = not_triggered(&triggers, "push", &on_branch("release/old"), &mut none);
        assert!(why.is_some_and(|w| w.contains("HEAD is `release/old`")));
        assert!(
            not_triggered(&triggers, "push", &on_branch("release/a/b"), &mut none).is_some(),
            "* stops at /"
        );
        assert!(
            not_triggered(&triggers, "pull_request", &on_branch("feature"), &mut none).is_none(),
            "a pull request's base branch is not known here"
        );
        assert!(not_triggered(&triggers, "schedule", &on_branch("main"), &mut none).is_some());

        let mut tags_only = trigger("push");
        tags_only.tags = strings(&["v*"]);
        let tagged = GitFacts {
            git_ref: "refs/tags/v1.2".into(),
            ..GitFacts::default()
        };
        assert!(not_triggered(&[tags_only.clone()], "push", &tagged, &mut none).is_none());
        assert!(not_triggered(&[tags_only], "push", &on_branch("main"), &mut none).is_some());

        let mut docs = trigger("push");
        docs.paths_ignore = strings(&["docs/**", "*.md"]);
        let mut only_docs = || strings(&["docs/a.md", "README.md"]);
        assert!(not_triggered(&[docs.clone()], "push", &on_branch("x"), &mut only_docs).is_some());
        let mut code_too = || strings(&["docs/a.md", "src/lib.rs"]);
        assert!(not_triggered(&[docs], "push", &on_branch("x"), &mut code_too).is_none());
    }

    #[test]
    fn labels_of_other_hosts_are_elsewhere() {
        let labels = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let here = runner_os();
        let other = if here == "Linux" {
            "windows-latest"
        } else {
            "ubuntu-latest"
        };
        assert!(elsewhere(&labels(&[other]), &[]).is_some());
        assert!(
            elsewhere(&labels(&[other]), &labels(&[other])).is_none(),
            "mapped here"
        );
        assert!(elsewhere(&labels(&["self-hosted", "gpu"]), &[]).is_none());
        if here == "Linux" {
            assert!(elsewhere(&labels(&["ubuntu-latest"]), &[]).is_none());
            assert!(elsewhere(&labels(&["depot-ubuntu-22.04-8"]), &[]).is_none());
            assert!(elsewhere(&labels(&["macos-14"]), &[]).is_some());
        }
    }
}
