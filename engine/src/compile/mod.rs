//! Compiling: the model of one playbook (and those it `uses`) into the sealed graph of
//! jobs and nodes, with matrices expanded and expressions parsed and checked.
pub mod build;
mod compiler;
mod cycles;
pub mod expr;
pub mod graph;
pub mod matrix;
pub mod queries;
mod references;
pub mod targets;
