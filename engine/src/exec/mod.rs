//! Executing: the scheduler and the nodes it runs.
mod attempt;
mod command;
mod consult;
mod decide;
pub mod mask;
mod node_key;
mod output_file;
mod prepare;
pub mod process;
pub mod scheduler;
mod scope;
mod store_result;
