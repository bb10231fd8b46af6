//! # Caching: what a node's result depends on, and keeping it
//!
//! The third stage's vocabulary, used by `exec` when a node is ready: its key, the
//! input files that go into it, the store's record under it, and the outputs restored
//! from it or collected into it. Correctness rests here: when in doubt, a miss.
//!
//! ## The key
//! [`key::KeyComponents`] (table and encoding in `key.rs`, `KEY_VERSION`, a golden
//! digest pinned by a test): the node, its shell and commands as rendered, env, matrix
//! values, working directory, input files by digest, env inputs, declared outputs, the
//! platform, the interpreter and tools by the digest of the executable found, and the
//! result digest of every node it needs, transitively. Secrets enter as markers naming
//! them, never as values.
//!
//! ## Flow
//! - [`stat_cache`] gives each file's blake3 for a `stat` when it did not change (size,
//!   mtime, inode, ctime, and a racy-window rule), persisted in `.orch/state`.
//! - [`queries`] are the salsa key queries: which files a node's inputs name (explicit
//!   patterns over the listings of the folders they are rooted in, or the default rule:
//!   every file not ignored, minus declared outputs, playbooks and what orch writes,
//!   [`state::report_file_patterns`]), one digest input per file, a node's key input;
//!   editing one file re-runs only the selections holding it.
//! - [`outputs`]: `collect` describes a success's declared outputs (hash, size, mode,
//!   link target) for its record; `restore` puts a record's files back, every path
//!   checked first, nothing outside the workspace or undeclared ever written, strays
//!   swept from the node's output folders on a record new to the workspace.
//! - [`state`] remembers each node's last key components (to say why it missed), its
//!   last record (a `stat` instead of a read on the next hit), and the report files.
//!
//! ## Decisions
//! - Everything written here is sealed (a blake3 of itself) or written whole
//!   (`orch_store::replace_file`): damage is a miss, never a wrong answer.
//! - The store is reached only through `orch_store::Backend` (async, batched, blobs
//!   named by hash and size), so a remote cache is one more implementation.
pub mod key;
pub mod outputs;
pub mod queries;
pub mod stat_cache;
pub mod state;
