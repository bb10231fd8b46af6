//! orch's engine: every decision, no printing.
//!
//! file → [`workspace`] → [`db`] (salsa: [`playbook`] parse/decode, [`graph`] compile)
//! → [`targets`] → scheduler → events → summaries.
pub mod db;
pub mod diag;
pub mod event;
pub mod expr;
pub mod files;
pub mod graph;
pub mod inputs;
pub mod key;
pub mod mask;
pub mod matrix;
pub mod outputs;
pub mod playbook;
pub mod process;
pub mod runs;
pub mod sched;
pub mod state;
pub mod summary;
pub mod targets;
pub mod workspace;
