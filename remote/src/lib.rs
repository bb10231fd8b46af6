//! orch's client of the Remote Execution API (REAPI v2): a remote cache behind the local
//! store, shared by every runner that points at the same server.
//!
//! - `endpoint`: the server's address (`grpc://`, `grpcs://`), TLS, the bearer token.
//! - `digests`: the digest function the server offers (BLAKE3 where it can, else SHA-256)
//!   and the remote names of orch's blake3-named blobs.
//! - `breaker`: a remote that fails costs speed, never the run: one warning, then off.
//! - `client`: the calls (capabilities, action cache, CAS batches, ByteStream).
//! - `mapping`: a node's key as an REAPI Action, orch's record as an ActionResult.
//! - `tiered`: the [`orch_store::Backend`] the engine talks to: local first, then remote.
//! - `stats`: hits, misses and bytes, kept beside the local store for `orch cache stats`.
//! - `tree`: input roots and output trees as REAPI `Directory`/`Tree` messages.
//! - `execute`: [`RemoteExecutor`], commands run on the server (the engine's `Offload`).
//! - `bots`, `worker`: `orch worker`, a worker for farms that speak the Bots API.

mod bots;
mod breaker;
mod client;
mod digests;
mod endpoint;
mod execute;
#[cfg(test)]
mod fake_farm;
#[cfg(test)]
mod lying_server;
mod mapping;
mod stats;
mod tiered;
mod tree;
mod worker;

pub use digests::DigestKind;
pub use endpoint::{Address, AddressError};
pub use execute::RemoteExecutor;
pub use stats::{RemoteStats, read_stats};
pub use tiered::TieredStore;
pub use worker::{WorkerError, WorkerOptions, serve as serve_worker};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a run may do with the remote cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Look results up; never write (CI on untrusted branches).
    Read,
    /// Write results; never look up.
    Write,
    ReadWrite,
}

impl Mode {
    pub fn reads(self) -> bool {
        matches!(self, Mode::Read | Mode::ReadWrite)
    }
    pub fn writes(self) -> bool {
        matches!(self, Mode::Write | Mode::ReadWrite)
    }
}

/// Client certificate and key for mutual TLS, and the roots a server's certificate is
/// checked against (the system's when none is given).
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Everything needed to talk to one remote cache.
pub struct RemoteOptions {
    pub address: Address,
    /// The REAPI instance name ("" for the server's default instance).
    pub instance: String,
    pub mode: Mode,
    /// Sent as `authorization: Bearer …`; never written anywhere.
    pub token: Option<String>,
    pub tls: TlsFiles,
    /// How long one call may take before the remote counts as failing.
    pub timeout: Duration,
    /// What makes orch's actions differ from every other client's, and from orch's own
    /// under another key version: it goes into each Action's `salt`.
    pub salt: String,
    /// How a warning reaches the user (once per run).
    pub warn: Arc<dyn Fn(String) + Send + Sync>,
    /// Whether a record read from the server is whole in orch's terms (its result digest
    /// is that of its files, outputs and artifacts): checked before it is kept, since
    /// dependents' keys take the digest on trust.
    pub check: Arc<dyn Fn(&orch_store::ActionResult) -> bool + Send + Sync>,
}

/// A problem with the remote cache's settings: reported before anything runs.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error("{path}: {source}")]
    TlsFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--remote-tls-cert and --remote-tls-key go together (only one is given)")]
    HalfClientIdentity,
    #[error("TLS files were given but the address is not grpcs://")]
    TlsWithoutGrpcs,
    #[error("the bearer token cannot be sent as a header: {0}")]
    Token(String),
}
