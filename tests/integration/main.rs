//! Integration tests: each drives the real `orch` binary on a temporary workspace.

mod buildgrid;
mod harness;

mod actions;
mod caching;
mod differential;
mod errors;
mod events;
mod first_hour;
mod graph;
mod import;
mod reliability;
mod remote_cache;
mod remote_exec;
mod reusable;
mod running;
mod scheduling;
mod signals;
mod soundness;
mod watching;
mod workflow_settings;
mod workflows;
