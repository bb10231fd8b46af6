//! What the scheduler tells its observers (terminal, logs, summaries): one enum.

use std::collections::BTreeMap;
use std::time::Duration;

use orch_store::Digest;

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
    /// Restored from the cache instead of run.
    pub cached: bool,
    /// Its cached result came from a remote cache in this run (not the local store).
    pub remote_hit: bool,
    /// It failed because a time limit (its job's or a step's) ran out.
    pub timed_out: bool,
    /// A cached node's log: a blob, put into the run's logs when the run ends
    /// (`runs::place_logs`); `None` there means the cache no longer has it.
    pub cached_log: Option<orch_store::BlobDigest>,
    pub key: Option<Digest>,
    /// Why it was (or would be) run rather than restored, or "key found in cache".
    pub why: Option<String>,
    /// Digest of its output files and outputs: what its dependents' keys include.
    pub result_digest: Option<Digest>,
    /// What `orch plan` decided for it.
    pub plan: Option<PlanAction>,
    /// The artifacts it kept for the run (restored with it on a hit).
    pub artifacts: Vec<orch_store::StoredArtifact>,
    /// It failed, and its job's `continue-on-error` allows that (decided per node: the
    /// setting may be an expression over its matrix leg).
    pub allowed_failure: bool,
}

/// A node's fate in `orch plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanAction {
    Cached,
    Run,
    /// Its key depends on the result of a node that would run first.
    Blocked,
}

impl PlanAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Cached => "cached",
            PlanAction::Run => "run",
            PlanAction::Blocked => "blocked",
        }
    }
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
            cached: false,
            cached_log: None,
            key: None,
            why: None,
            result_digest: None,
            plan: None,
            artifacts: Vec::new(),
            allowed_failure: false,
            remote_hit: false,
            timed_out: false,
        }
    }
}

// Events are made one at a time and passed by reference, never stored in bulk: boxing
// the finished node's result would only add an allocation per node.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Event {
    /// The first event of a run: its id and the nodes selected to run, in graph order.
    RunStarted {
        run_id: String,
        selected: Vec<usize>,
    },
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
    /// Something went wrong that does not change the run's result (a cache write failed).
    Warning(String),
    /// The last event of a run.
    RunFinished {
        status: RunStatus,
    },
}

/// Receives events as they happen; called from the scheduler's thread, so keep it quick.
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
}

/// Several observers, each told every event in turn (the terminal and an event stream).
pub struct Fanout(pub Vec<std::sync::Arc<dyn Observer>>);

impl Observer for Fanout {
    fn event(&self, event: &Event) {
        for observer in &self.0 {
            observer.event(event);
        }
    }
}
