//! orch's content store: bytes and records, no playbook types.
//!
//! On disk (`LocalStore`, one directory that several orch processes may share):
//!
//! ```text
//! ROOT/cas/ab/cdef…   blobs, named by the blake3 of their content
//! ROOT/ac/ab/cdef…    action records: node key → ActionResult (magic + version + postcard)
//! ROOT/tmp/           files being written; renamed into place only when complete
//! ```
//!
//! Every write goes to a temporary file in `tmp/` (same filesystem), is fsynced, then
//! renamed: a reader sees a whole entry or none, and a crash leaves only a temp file that
//! `gc` removes. No locks: content addressing makes concurrent writes of one entry
//! idempotent. Every read verifies (blob: its hash; record: its header and decoding); what
//! fails is removed and reported as a miss, never returned.

mod digest;
mod local;
mod record;
mod replace;
mod sealed;

pub use digest::Digest;
pub use local::{GcReport, LocalStore, Stats, VerifyReport, hash_file, open_folder};
pub use record::{
    ActionResult, FORMAT_VERSION, OutputFile, decode_kept_record, decode_record, encode_record,
};
pub use replace::{Durability, replace_file, replace_through, temp_beside, temp_name};
pub use sealed::{seal, unseal};

use std::io::Read;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Where blobs and action results live: a local directory now, HTTP or REAPI later. The
/// engine talks only to this trait.
pub trait Backend: Send + Sync {
    /// Stores a file's content; returns its digest.
    fn put_file(&self, path: &Path) -> Result<Digest, StoreError>;
    fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError>;
    /// A blob's bytes, verified; `None` when absent or corrupt (a corrupt one is removed).
    fn read_blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a blob to `dest` (verified, with `mode`, atomically); false when the blob
    /// is absent or corrupt, in which case `dest` is untouched.
    fn restore_blob(&self, digest: &Digest, dest: &Path, mode: u32) -> Result<bool, StoreError>;
    /// The result recorded under a node key; `None` when absent, undecodable, or written
    /// by another format version.
    fn get_action(&self, key: &Digest) -> Result<Option<ActionResult>, StoreError>;
    fn put_action(&self, key: &Digest, result: &ActionResult) -> Result<(), StoreError>;
    /// Whether a result is recorded under a node key, without reading it (a `stat` for a
    /// local store); marks it used, as a read does.
    fn has_action(&self, key: &Digest) -> Result<bool, StoreError> {
        self.get_action(key).map(|r| r.is_some())
    }
    /// A blob to read as a stream, for display only (a log shown while the run goes on):
    /// not verified, so never to be restored from. `None` when absent.
    fn open_blob(&self, digest: &Digest) -> Result<Option<Box<dyn Read + Send>>, StoreError> {
        Ok(self
            .read_blob(digest)?
            .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read + Send>))
    }
    /// Puts a blob (a log) at `dest` for reading, as cheaply as the backend can; false
    /// when the blob is absent.
    fn link_blob(&self, digest: &Digest, dest: &Path) -> Result<bool, StoreError> {
        match self.read_blob(digest)? {
            Some(bytes) => std::fs::write(dest, bytes)
                .map(|()| true)
                .map_err(|e| StoreError::io(dest, e)),
            None => Ok(false),
        }
    }
}

/// A backend that keeps nothing: used when the cache directory cannot be opened, so a run
/// still runs (every lookup misses) and result digests are still computed.
pub struct NoStore;

impl Backend for NoStore {
    fn put_file(&self, path: &Path) -> Result<Digest, StoreError> {
        hash_file(path).map_err(|e| StoreError::io(path, e))
    }
    fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        Ok(Digest::of(bytes))
    }
    fn read_blob(&self, _: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    fn restore_blob(&self, _: &Digest, _: &Path, _: u32) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn get_action(&self, _: &Digest) -> Result<Option<ActionResult>, StoreError> {
        Ok(None)
    }
    fn put_action(&self, _: &Digest, _: &ActionResult) -> Result<(), StoreError> {
        Ok(())
    }
}
