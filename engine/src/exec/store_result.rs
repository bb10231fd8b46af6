//! After a success: the node's outputs and record into the store, and its result's
//! digest for its dependents' keys.

use super::prepare::NodeWork;
use crate::cache::outputs;
use crate::report::event::NodeResult;
use std::path::PathBuf;

use orch_store::{BlobDigest, Digest};

impl NodeWork {
    /// After a success: the outputs into the store, the result's digest, and (when the
    /// node may be cached) its record under the key. Store failures are warnings: the
    /// run's result stands, only the cache misses out. When the outputs cannot be read,
    /// the digest is unique, so nothing downstream can wrongly look unchanged.
    pub(super) async fn keep_result(&self, result: &NodeResult) -> (Digest, Option<String>) {
        let Some(backend) = self.backend.clone() else {
            return (
                crate::cache::key::result_digest(&[], &result.outputs, &result.artifacts),
                None,
            );
        };
        // A node that is never cached may have effects no digest sees (a download into an
        // ignored folder): its result is new every time, so its dependents run again.
        let never_cached = !self.store || self.fell_back.load(std::sync::atomic::Ordering::Relaxed);
        let workspace = self.workspace.clone();
        let patterns = self.outputs.clone();
        let log_path = self.log_path.clone();
        let record_key = self.key.filter(|_| !never_cached);
        let outputs = result.outputs.clone();
        let summary = result.summary.clone();
        let artifacts = result.artifacts.clone();
        let artifacts_dir = self.artifacts_dir.clone();
        let exit_code = result.exit_code.unwrap_or(0);
        let duration_ms = u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX);
        let key_inputs = self.key_inputs.clone();
        let host_note = self.host_note.as_ref().map(|n| (n.key, n.record.clone()));
        // The work runs on the blocking pool (hashing, copying); the backend's futures are
        // driven from there through the runtime's handle.
        let runtime = tokio::runtime::Handle::current();
        let kept = tokio::task::spawn_blocking(move || -> Result<Digest, (Digest, String)> {
            let files = outputs::collect(&workspace, &patterns)
                .map_err(|e| (unique("uncollected"), e.to_string()))?;
            let digest = if never_cached {
                unique("uncached")
            } else {
                crate::cache::key::result_digest(&files, &outputs, &artifacts)
            };
            // An input that changed while the node ran (a user's edit, a job beside it)
            // makes the result not the key's: it is not stored.
            let changed = key_inputs.as_ref().and_then(|(stat, inputs)| {
                let mut stat = stat.lock().ok()?;
                inputs
                    .iter()
                    .find(|(path, digest)| stat.digest(&workspace, path).ok() != Some(**digest))
                    .map(|(p, _)| p.clone())
            });
            if let (Some(path), Some(_)) = (&changed, record_key) {
                return Err((
                    digest,
                    format!("input {path} changed while it ran; the result was not cached"),
                ));
            }
            if let Some(key) = record_key {
                let log = orch_store::blob_of_file(&log_path).ok();
                // The outputs' and the log's blobs, those the backend lacks sent in one batch.
                // Each blob once, though several outputs (or an output and the log) hold it.
                let mut seen = std::collections::HashSet::new();
                let blobs: Vec<(BlobDigest, PathBuf)> = files
                    .iter()
                    .filter(|f| f.symlink.is_none())
                    .map(|f| (f.blob(), workspace.join(&f.path)))
                    .chain(log.map(|blob| (blob, log_path.clone())))
                    .chain(artifacts.iter().flat_map(|a| {
                        let folder = artifacts_dir.join(&a.name);
                        a.files
                            .iter()
                            .map(move |f| (f.blob(), folder.join(&f.path)))
                    }))
                    .filter(|(blob, _)| seen.insert(*blob))
                    .collect();
                let uploaded = runtime.block_on(async {
                    let wanted: Vec<BlobDigest> = blobs.iter().map(|(b, _)| *b).collect();
                    let missing: std::collections::HashSet<BlobDigest> = backend
                        .find_missing_blobs(&wanted)
                        .await?
                        .into_iter()
                        .collect();
                    let sends: Vec<(BlobDigest, PathBuf)> = blobs
                        .into_iter()
                        .filter(|(b, _)| missing.contains(b))
                        .collect();
                    backend.upload_files(&sends).await
                });
                // An output that changed while it was stored is not what was hashed: the
                // digest must not stand for it.
                uploaded.map_err(|e| {
                    (
                        unique("unstored"),
                        format!("the result was not cached: {e}"),
                    )
                })?;
                let record = orch_store::ActionResult {
                    orch_version: env!("CARGO_PKG_VERSION").to_owned(),
                    exit_code,
                    duration_ms,
                    log,
                    files,
                    outputs: outputs.into_iter().collect(),
                    summary,
                    result_digest: digest,
                    artifacts,
                };
                runtime
                    .block_on(backend.put_action(&key, &record))
                    .map_err(|e| (digest, format!("the result was not cached: {e}")))?;
                if let Some((note_key, note)) = &host_note {
                    // Only words for other hosts' misses: a failure here costs nothing.
                    let _ = runtime.block_on(backend.put_note(note_key, note));
                }
            }
            Ok(digest)
        })
        .await;
        match kept {
            Ok(Ok(digest)) => (digest, None),
            Ok(Err((digest, warning))) => (digest, Some(warning)),
            Err(e) => (
                unique("store-failed"),
                Some(format!("storing the result failed: {e}")),
            ),
        }
    }
}

/// A digest no other result has (this process, this moment, a counter): what depends on
/// it never looks unchanged.
fn unique(why: &str) -> Digest {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now();
    Digest::of(format!("{why} {now:?} {} {count}", std::process::id()).as_bytes())
}
