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
        let git = |args: &[&str]| -> String {
            std::process::Command::new("git")
                .args(args)
                .current_dir(workspace)
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
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
