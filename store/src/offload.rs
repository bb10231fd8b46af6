//! The seam between the engine and a place that runs a command elsewhere (the Remote
//! Execution API's Execution service): the engine says what to run and on which files,
//! the executor says how it ended and where the files it left are. No playbook types:
//! a request is a command line, an environment, files in and paths out.

use std::path::PathBuf;
use std::time::Duration;

use crate::{OutputFile, StoreError};

/// A file the command reads: its path under the input root, where it is here.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Relative to the input root, `/`-separated.
    pub path: String,
    pub local: PathBuf,
    pub executable: bool,
}

/// Where a command's output goes while it runs, chunk by chunk, when the executor
/// streams it (REAPI's LogStream).
pub type LiveOutput = std::sync::Arc<dyn Fn(&[u8]) + Send + Sync>;

/// One command to run elsewhere, on an input root made of `inputs`.
#[derive(Clone)]
pub struct OffloadRequest {
    /// The program first; it is looked up on the executor's PATH.
    pub arguments: Vec<String>,
    /// Exactly the environment the command gets (the executor adds nothing).
    pub environment: Vec<(String, String)>,
    pub inputs: Vec<InputFile>,
    /// Files or folders, relative to the input root, that the command may leave.
    pub output_paths: Vec<String>,
    pub timeout: Option<Duration>,
    /// What the executing machine must offer (REAPI platform properties).
    pub platform: Vec<(String, String)>,
    /// Whether the executor may answer with (and keep) a result of the same request.
    pub cacheable: bool,
    /// Makes the request differ from every other client's same command line.
    pub salt: Vec<u8>,
    /// Its stdout while it runs, where the executor offers it.
    pub live_output: Option<LiveOutput>,
}

/// How a command run elsewhere ended.
#[derive(Debug)]
pub enum OffloadEnd {
    Exited(i32),
    /// The executor stopped it at the request's time limit.
    TimedOut,
}

#[derive(Debug)]
pub struct OffloadOutcome {
    pub end: OffloadEnd,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// What it left under `output_paths`, verified and held in the local store (paths
    /// relative to the input root). Nothing is in the workspace yet.
    pub files: Vec<OutputFile>,
    /// The executor answered from its cache: the command did not run again.
    pub cached: bool,
    /// Where it ran, as the executor names it (a worker's name; empty when not told).
    pub ran_on: String,
    /// How many bytes of `stdout`, from its start, went to `live_output` already (0
    /// when what was streamed is not the start of the final stdout).
    pub streamed: usize,
}

/// Why a command could not be run elsewhere: the node fails with this reason (the
/// command may or may not have run; nothing it left reached the workspace).
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error("remote execution: {0}")]
    Remote(String),
    #[error(transparent)]
    Local(#[from] StoreError),
}

/// Runs commands elsewhere. Dropping the future of [`Offload::execute`] cancels the
/// command where it runs.
pub trait Offload: Send + Sync {
    fn execute<'a>(&'a self, request: OffloadRequest) -> OffloadFuture<'a>;

    /// Said once before the first command: where commands go (for the run's messages).
    fn describe(&self) -> String;
}

pub type OffloadFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<OffloadOutcome, OffloadError>> + Send + 'a>,
>;
