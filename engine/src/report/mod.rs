//! # Reporting: what a run tells, and what it leaves
//!
//! The last stage. [`event`] is the one vocabulary the scheduler speaks (`Event`,
//! `Observer`); the terminal view (cli), [`stream`] (`--events`, JSON lines) and the
//! summaries are all built from it. [`summary`] writes `summary.json` (the spec's
//! shape), `summary.md` (GitHub's style) and JUnit XML from the results; [`runs`] owns
//! `.orch/runs/`: run ids, `latest`, the 50 newest runs kept, and cached nodes' logs
//! placed when a run ends (a run where nothing ran links one shared log set).
//!
//! ## Decisions
//! - Secrets are masked before anything reaches this stage (the process output, outputs,
//!   summaries, reasons): a report can be shown or uploaded as it is.
//! - Node ids become file names by `runs::node_file_name` (no shell quoting needed,
//!   one per node), bounded in length, the one place that spelling lives.
pub mod event;
pub mod gate;
pub mod runs;
pub mod stream;
pub mod summary;
