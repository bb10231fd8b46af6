//! What the scheduler tells its observers (terminal, logs, summaries): one enum.

use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    Success,
    Failure,
    Skipped,
    Cancelled,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Success => "success",
            NodeStatus::Failure => "failure",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Success,
    Failure,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// How one node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeResult {
    pub status: NodeStatus,
    pub exit_code: Option<i32>,
    pub attempts: u32,
    pub duration: Duration,
    /// `name=value` pairs the node wrote to `$ORCH_OUTPUT`.
    pub outputs: BTreeMap<String, String>,
    /// Markdown the node appended to `$ORCH_SUMMARY`.
    pub summary: String,
    /// Why it ended so, in words, when that is not plain (skipped by `if`, timed out, ...).
    pub reason: Option<String>,
    /// Whether its log file exists (skipped and cancelled nodes never started).
    pub has_log: bool,
}

impl NodeResult {
    pub fn not_run(status: NodeStatus, reason: impl Into<String>) -> Self {
        Self {
            status,
            exit_code: None,
            attempts: 0,
            duration: Duration::ZERO,
            outputs: BTreeMap::new(),
            summary: String::new(),
            reason: Some(reason.into()),
            has_log: false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    NodeStarted {
        node: usize,
        attempt: u32,
    },
    /// The last complete line a running node printed (for a live view).
    NodeOutput {
        node: usize,
        line: String,
    },
    NodeFinished {
        node: usize,
        result: NodeResult,
    },
    /// Cancellation began: running nodes are being stopped.
    Cancelling,
}

/// Receives events as they happen; called from the scheduler's thread, so keep it quick.
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
}
