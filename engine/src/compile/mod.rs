//! # Compiling: from the model to the sealed graph
//!
//! The second stage: the model of one playbook, and of every playbook its `uses` jobs
//! bring in, becomes one [`graph::Graph`] of jobs and their nodes, immutable from here
//! on (the scheduler gets an `Arc` of it, never a salsa handle).
//!
//! ## Flow
//! - [`queries`] are the salsa entry points: `parse_playbook` (load's output, memoized)
//!   and `compile_graph` (model + the command line's overrides). An edit that parses to
//!   an equal model is backdated, so the graph is not rebuilt.
//! - [`build`] works through *levels*: the root playbook, then each playbook a `uses`
//!   job names, breadth first, ids prefixed by the caller (`setup/install`), a chain of
//!   files carried down to refuse cycles of `uses`.
//! - `compiler` compiles one level's jobs: matrices expanded ([`matrix`], GitHub's
//!   include/exclude rules, size checked in 128-bit arithmetic before anything is
//!   built), bodies, paths checked against the workspace, a `uses` job's `with` against
//!   the used playbook's inputs.
//! - `references` checks every expression where it is written: each context reference
//!   against what that place may see, with suggestions, at the column inside `${{ }}`.
//! - `cycles` refuses cycles of `needs`, naming every job on one, and gives the stable
//!   topological order.
//! - [`remembered`] keeps the compiled graph in `.orch/state/`, used again only while
//!   every file compiling read, the overrides and orch's own build are unchanged.
//! - [`targets`] turns command-line targets into the selected nodes plus all they need.
//! - [`expr`] is the expression language itself (GitHub's, to its conformance cases).
//! - [`actions`] maps a workflow step's `uses:` of a GitHub action to what orch does in
//!   its place (nothing for checkout and caches, a tool check for setup actions);
//!   [`local_action`] reads a `./path` action's `action.yml` and compiles a composite
//!   action's steps.
//!
//! ## Decisions
//! - Edges are between jobs, not nodes: `needs: [test]` waits for every node of `test`,
//!   and node edges would be the product of two matrices.
//! - `after:` edges are order only (`CompiledJob::after`): they release and order jobs
//!   (dependents, topological order, cycles) but carry no data (no key, no `needs`
//!   context, no skip on failure) and targets do not follow them.
//! - Expressions are parsed and checked here, rendered only when a node starts (its
//!   needs' results and outputs exist then).
pub mod actions;
pub mod build;
mod compiler;
mod cycles;
pub mod expr;
pub mod graph;
pub mod local_action;
pub mod matrix;
pub mod queries;
mod references;
pub mod remembered;
pub mod targets;
