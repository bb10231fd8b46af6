//! # Loading: from a file on disk to a checked playbook model
//!
//! The first stage of the pipeline. It knows nothing of graphs, keys or processes: it
//! turns text into [`model::Playbook`] or into every problem the text has.
//!
//! ## Flow
//! 1. [`workspace::locate`] finds the playbook (`-f`, else `orch.yml`/`orch.yaml`/
//!    `orch.json` in the folder or its parents); the folder that holds it is the
//!    workspace, the root of every relative path orch uses. It reads the file as UTF-8.
//! 2. [`tree::parse`] reads YAML (serde-saphyr, YAML 1.2 booleans only, alias and depth
//!    budgets) or JSON (serde_json checks the syntax first) into a tree of
//!    `Node { value, span }`: every value and key knows its byte span.
//! 3. [`decode::decode`] walks the tree into the model: unknown keys (with "did you
//!    mean"), wrong types, bad durations, job ids, exactly one command per job. It does
//!    not stop at the first problem: a user sees them all in one round.
//!
//! ## Decisions
//! - Problems are plain data ([`diag::Problem`]: source, span, message, label, help),
//!   not miette types: the salsa queries of `compile::queries` memoize and compare
//!   them, and the CLI renders them (file:line:column, a caret) at the edge.
//! - Numbers keep the text the user wrote (`3.10` stays `3.10`), unlike GitHub, because
//!   a version number is the common case in a matrix.
//! - `decode/` is split by what it reads (`values` for single values and checked maps,
//!   `sections` for the top level, `job` for jobs): another dialect (a GitHub workflow,
//!   an imported playbook format) is a sibling decoder into the same model.
pub mod aither;
pub mod decode;
pub mod diag;
pub mod model;
pub mod psd1;
pub mod tree;
pub mod workspace;
