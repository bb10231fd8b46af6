//! # The workspace's files, as every stage sees them
//!
//! Not a stage but what the stages share about files: [`glob`] (what makes a pattern a
//! glob, include/exclude sets compiled with globset, `*` kept within a folder), [`walk`]
//! (the one walker: `.git` and `.orch` never entered, links listed and never followed;
//! input listings, output collection and `hashFiles` all use it), [`paths`] (normal
//! form, and the checks that keep every path orch reads or writes inside the workspace,
//! through symbolic links too) and [`hash`] (`hashFiles`).
pub mod glob;
pub mod hash;
pub mod paths;
pub mod walk;
