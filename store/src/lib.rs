//! orch's content store: bytes and records, no playbook types.
//!
//! On disk (`LocalStore`, one directory that several orch processes may share):
//!
//! ```text
//! ROOT/cas/ab/cdef…   blobs, named by the blake3 of their content
//! ROOT/ac/ab/cdef…    action records: node key → ActionResult (magic + version + postcard)
//! ROOT/notes/ab/cdef… a blob's note (a remote cache's name for it), removed with it
//! ROOT/tmp/           files being written; renamed into place only when complete
//! ```
//!
//! Every write goes to a temporary file in `tmp/` (same filesystem), then is renamed: a
//! reader sees a whole entry or none, and a crash leaves only a temp file that `gc`
//! removes. Nothing is fsynced: an entry a power loss leaves empty or short fails the
//! check every read makes, a miss. No locks: content addressing makes concurrent writes
//! of one entry idempotent. Every read verifies (blob: its hash; record: its header,
//! decoding and checksum); what
//! fails is removed and reported as a miss, never returned.

mod backend;
mod digest;
mod local;
mod offload;
mod record;
mod replace;
mod sealed;

pub use backend::{Backend, NoStore, StoreFuture, answered_now, ready};
pub use digest::{BlobDigest, Digest};
pub use local::{GcReport, LocalStore, Stats, VerifyReport, blob_of_file, hash_file, open_folder};
pub use offload::{
    InputFile, LiveOutput, Offload, OffloadEnd, OffloadError, OffloadFuture, OffloadOutcome,
    OffloadRequest,
};
pub use record::{
    ActionResult, FORMAT_VERSION, OutputFile, StoredArtifact, decode_kept_record, decode_record,
    encode_record,
};
pub use replace::{replace_file, replace_through, temp_beside, temp_name};
pub use sealed::{seal, unseal};

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
