//! The playbook: its tree, its model, and the decoder between them.
pub mod decode;
pub mod model;
pub mod tree;

pub use model::*;
