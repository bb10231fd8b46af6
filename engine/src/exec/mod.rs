//! # Executing: the scheduler and the nodes it runs
//!
//! The fourth stage: [`scheduler::execute`] runs the selected nodes of a sealed graph
//! on tokio, in dependency order, within `-j`, `max-parallel`, `fail-fast`,
//! `--keep-going`, `if`, `retries` and `timeout`, and tells an observer what happens
//! (`report::event`); it never prints.
//!
//! ## A node's way through
//! 1. `decide`: a job is released when every job it needs has ended; each of its nodes
//!    is then cancelled, skipped (a need did not succeed, its `if` is false) or run.
//! 2. `prepare`: its expressions rendered over the contexts `scope` builds (vars,
//!    matrix, needs, env, secrets, inputs), its rendered paths checked to stay inside.
//! 3. `consult`: its key (`node_key` builds the components the scheduler knows, the
//!    key queries add the input files) and the question to the cache; the answer, when
//!    there, restores a hit or records why it missed. A cache that does not answer at
//!    once is awaited as a task beside the running nodes.
//! 4. `attempt`: its steps run as processes (`command` picks direct exec, the shell
//!    inline, or a private script file; `process` runs one in its own process group,
//!    output masked by `mask` into its log), retried as asked; `output_file` reads
//!    `$ORCH_OUTPUT`.
//! 5. `store_result`: after a success, the outputs hashed and uploaded and the record
//!    put under the key, unless an input changed while it ran.
//!
//! A GitHub Actions workflow adds [`github`]: its `github`/`runner` contexts filled from
//! git and the command line, the runner's `GITHUB_*` variables, and `runs-on` matched
//! against this host (a node for another host is skipped with that reason).
//!
//! ## Decisions
//! - One loop owns all state and does no blocking work of its own but key queries and
//!   restores; processes, output pumping and storing results are tasks, and a task that
//!   panics still finishes its node (`node_tasks`).
//! - Capacity is checked before a queued node is decided: a full `-j` costs O(1) per
//!   completion however long the queue is.
//! - After a first Ctrl-C only what an `if` asks for starts (cleanups, reports) and runs
//!   to its end; a second one kills every process tree.
mod artifacts;
mod attempt;
mod command;
mod consult;
mod decide;
mod elsewhere;
pub mod github;
mod local_action;
pub mod mask;
mod node_key;
mod node_tasks;
mod output_file;
mod prepare;
pub mod process;
pub mod scheduler;
mod scope;
mod setup_versions;
mod steps;
mod store_result;
