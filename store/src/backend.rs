//! The seam between the engine and wherever results live: this directory, or a remote
//! cache (the Remote Execution API's ContentAddressableStorage and ActionCache). Every
//! call is asynchronous, so a slow backend costs waiting, never a blocked thread;
//! existence checks and uploads are batched, so a remote backend pays one round trip for
//! many blobs or keys; blobs are named by hash *and* size, as the Remote Execution API
//! names them. The local store answers at once (its futures are ready when made), so it
//! keeps its speed through the seam.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use crate::{ActionResult, BlobDigest, Digest, StoreError};

/// What every backend call returns: a future of the answer.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A future's output if it is ready on its first poll (a local backend's always is), so
/// that a caller need not wait or start a runtime for it; `None` leaves it to be awaited.
pub fn answered_now<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match Pin::new(future).poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// A future that is ready when made: what a local backend returns.
pub fn ready<'a, T: Send + 'a>(answer: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(answer))
}

/// Where blobs and action results live. The engine talks only to this trait.
pub trait Backend: Send + Sync {
    /// For each node key, whether a result is recorded under it, without reading it;
    /// each found one is marked used, as a read does.
    fn has_actions<'a>(&'a self, keys: &'a [Digest]) -> StoreFuture<'a, Vec<bool>>;

    /// The result recorded under a node key; `None` when absent, undecodable, or written
    /// by another format version (a damaged record is a miss, never an error).
    fn get_action<'a>(&'a self, key: &'a Digest) -> StoreFuture<'a, Option<ActionResult>>;

    fn put_action<'a>(&'a self, key: &'a Digest, result: &'a ActionResult) -> StoreFuture<'a, ()>;

    /// The blobs of `blobs` that the backend does not hold (those it holds are marked
    /// used): what an upload must send.
    fn find_missing_blobs<'a>(
        &'a self,
        blobs: &'a [BlobDigest],
    ) -> StoreFuture<'a, Vec<BlobDigest>>;

    /// Stores each file as the blob its caller hashed it to. A file whose content no
    /// longer has that digest (it changed meanwhile) is an error, and is not stored.
    fn upload_files<'a>(&'a self, files: &'a [(BlobDigest, PathBuf)]) -> StoreFuture<'a, ()>;

    /// A blob's bytes, verified; `None` when absent or corrupt (a corrupt one is removed).
    fn read_blob<'a>(&'a self, blob: &'a BlobDigest) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// Writes a blob to `dest` (verified, with `mode`, atomically); false when the blob
    /// is absent or corrupt, in which case `dest` is untouched.
    fn restore_blob<'a>(
        &'a self,
        blob: &'a BlobDigest,
        dest: &'a Path,
        mode: u32,
    ) -> StoreFuture<'a, bool>;

    /// A local file that holds the blob, unverified, when the backend keeps one: what a
    /// log is shown from while a run goes on and hard-linked from into a run's logs.
    /// `None` for a backend that keeps nothing here (the caller reads the blob instead).
    fn local_file(&self, blob: &BlobDigest) -> Option<PathBuf> {
        let _ = blob;
        None
    }

    /// The words kept for other hosts' misses ("another host ran it with other inputs"),
    /// under a note key: records like results, but a remote backend keeps them locally
    /// (they would double its traffic for no hit).
    fn get_note<'a>(&'a self, key: &'a Digest) -> StoreFuture<'a, Option<ActionResult>> {
        self.get_action(key)
    }

    fn put_note<'a>(&'a self, key: &'a Digest, note: &'a ActionResult) -> StoreFuture<'a, ()> {
        self.put_action(key, note)
    }

    /// Whether this run found the result under `key` on a remote cache rather than
    /// locally (what the summary tells per node).
    fn served_remotely(&self, key: &Digest) -> bool {
        let _ = key;
        false
    }
}

/// A backend that keeps nothing: used when the cache directory cannot be opened, so a run
/// still runs (every lookup misses) and result digests are still computed.
pub struct NoStore;

impl Backend for NoStore {
    fn has_actions<'a>(&'a self, keys: &'a [Digest]) -> StoreFuture<'a, Vec<bool>> {
        ready(Ok(vec![false; keys.len()]))
    }
    fn get_action<'a>(&'a self, _: &'a Digest) -> StoreFuture<'a, Option<ActionResult>> {
        ready(Ok(None))
    }
    fn put_action<'a>(&'a self, _: &'a Digest, _: &'a ActionResult) -> StoreFuture<'a, ()> {
        ready(Ok(()))
    }
    fn find_missing_blobs<'a>(
        &'a self,
        blobs: &'a [BlobDigest],
    ) -> StoreFuture<'a, Vec<BlobDigest>> {
        // Nothing is held, and nothing needs sending: an upload keeps nothing either.
        ready(Ok(blobs.to_vec()))
    }
    fn upload_files<'a>(&'a self, _: &'a [(BlobDigest, PathBuf)]) -> StoreFuture<'a, ()> {
        ready(Ok(()))
    }
    fn read_blob<'a>(&'a self, _: &'a BlobDigest) -> StoreFuture<'a, Option<Vec<u8>>> {
        ready(Ok(None))
    }
    fn restore_blob<'a>(&'a self, _: &'a BlobDigest, _: &'a Path, _: u32) -> StoreFuture<'a, bool> {
        ready(Ok(false))
    }
}
