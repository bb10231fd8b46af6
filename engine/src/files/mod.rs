//! The workspace's files, as every stage sees them: patterns, the one walker, paths that
//! stay inside, and `hashFiles`.
pub mod glob;
pub mod hash;
pub mod paths;
pub mod walk;
