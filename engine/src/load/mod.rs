//! Loading: finding the playbook, reading it into a tree of spanned values, and
//! decoding that tree into the checked model, with every problem as data.
pub mod decode;
pub mod diag;
pub mod model;
pub mod tree;
pub mod workspace;
