//! orch's engine: every decision, no printing. Its folders are the pipeline's stages:
//!
//! [`load`] (find, parse and check the playbook) → [`compile`] (reusable playbooks,
//! matrices, the job graph, expressions, targets) → [`cache`] (keys, inputs, the stat
//! cache, outputs collected and restored) → [`exec`] (the scheduler, running nodes)
//! → [`report`] (events, summaries, run folders).
//!
//! Shared by every stage: [`db`] (the salsa database the queries of `compile` and `cache`
//! run in) and [`files`] (the workspace's files: globs, walking, paths).
pub mod cache;
pub mod compile;
pub mod db;
pub mod exec;
pub mod files;
pub mod load;
pub mod report;
