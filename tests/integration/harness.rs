//! A temporary workspace with a playbook, and the `orch` binary pointed at it.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

pub(crate) struct Ws {
    pub(crate) dir: tempfile::TempDir,
}

impl Ws {
    pub(crate) fn new(playbook: &str) -> Self {
        let ws = Ws {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        ws.write("orch.yml", playbook);
        ws
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, path: &str, text: &str) {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(full, text).expect("write");
    }

    pub(crate) fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(path))
            .unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub(crate) fn exists(&self, path: &str) -> bool {
        self.dir.path().join(path).exists()
    }

    /// `orch ARGS` in the workspace, as CI would run it (no terminal, no GitHub vars).
    pub(crate) fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("orch").expect("orch binary");
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("CI", "true")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("ORCH_FILE")
            .env_remove("ORCH_CACHE_DIR")
            .env_remove("ORCH_REMOTE_CACHE")
            .env_remove("ORCH_REMOTE_CACHE_MODE")
            .env_remove("ORCH_REMOTE_INSTANCE")
            .env_remove("ORCH_REMOTE_TOKEN")
            .env_remove("ORCH_REMOTE_TOKEN_FILE")
            .env("NO_COLOR", "1");
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("orch runs")
    }

    pub(crate) fn latest_run(&self) -> PathBuf {
        let id = self.read(".orch/runs/latest");
        self.dir.path().join(".orch/runs").join(id.trim())
    }

    pub(crate) fn summary(&self) -> Value {
        let text =
            std::fs::read_to_string(self.latest_run().join("summary.json")).expect("summary.json");
        serde_json::from_str(&text).expect("summary.json is JSON")
    }

    /// A node's entry in the latest summary.
    pub(crate) fn node(&self, node: &str) -> Value {
        let summary = self.summary();
        summary["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["id"] == node))
            .cloned()
            .unwrap_or_else(|| panic!("node {node} not in summary: {summary:#}"))
    }

    /// Status of a node in the latest summary.
    pub(crate) fn status(&self, node: &str) -> String {
        self.node(node)["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Why the latest run ran or cached a node.
    pub(crate) fn why(&self, node: &str) -> String {
        self.node(node)["why"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Why a node failed, was skipped or was cancelled in the latest run.
    pub(crate) fn reason(&self, node: &str) -> String {
        self.node(node)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) fn cached(&self, node: &str) -> bool {
        self.node(node)["cached"] == true
    }

    /// A node's log in the latest run; a missing log fails the test (a negative check on
    /// a log that does not exist would prove nothing).
    pub(crate) fn log(&self, node: &str) -> String {
        // Where the summary says it is (its name is the node id made shell-safe).
        let named = self.node(node)["log"].as_str().map(str::to_owned);
        let path = match named {
            Some(relative) => self.dir.path().join(".orch").join(relative),
            None => self.latest_run().join("logs").join(format!("{node}.log")),
        };
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(crate) fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// Whether a process with this pid still exists (and is not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}
