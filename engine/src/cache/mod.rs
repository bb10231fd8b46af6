//! Caching: a node's key, the input files it is made of, and its outputs stored and
//! restored.
pub mod inputs;
pub mod key;
pub mod outputs;
pub mod queries;
pub mod stat_cache;
pub mod state;
