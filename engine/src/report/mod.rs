//! Reporting: the events of a run, its summaries and its folder under `.orch/runs`.
pub mod event;
pub mod runs;
pub mod stream;
pub mod summary;
