//! Executing: the scheduler and the nodes it runs.
pub mod mask;
pub mod process;
pub mod scheduler;
