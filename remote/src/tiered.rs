//! The backend a run uses with a remote cache: the local store first, then the server.
//! A remote hit is verified blob by blob (the server's digest and orch's blake3) and kept
//! locally before the engine sees it, so restoring works as for a local hit; a result
//! stored locally is then written to the server. Whatever the server does, the answer is
//! the local store's or a verified remote one: a failure is a miss.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use orch_store::{ActionResult, Backend, BlobDigest, Digest, LocalStore, StoreFuture};

use crate::client::{CallError, Client, Session, Source};
use crate::digests::{BothHashers, DigestKind, RemoteDigest, name_file};
use crate::mapping::{self, KeyAction, Manifest};
use crate::stats::Counters;
use crate::{Mode, RemoteOptions, SettingsError};

/// The largest manifest read (~150 bytes a file: some 400,000 files); a larger one is
/// refused rather than held in memory.
const MANIFEST_LIMIT: u64 = 64 * 1024 * 1024;

/// Up to this many bytes, a result's blobs are sent without FindMissingBlobs first.
const SEND_WITHOUT_ASKING: u64 = 64 * 1024;

pub struct TieredStore {
    /// Itself, for the uploads that go on in the background.
    me: Weak<TieredStore>,
    /// Uploads under way: a node's result does not wait for the server; the run does,
    /// at its end ([`TieredStore::finish_uploads`]).
    uploads: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub(crate) local: LocalStore,
    client: Client,
    mode: Mode,
    salt: String,
    check: std::sync::Arc<dyn Fn(&ActionResult) -> bool + Send + Sync>,
    /// `orch plan`: a remote entry is looked at, nothing is downloaded.
    peek_only: bool,
    /// The key action per digest function (one per run in practice).
    key_action: std::sync::OnceLock<KeyAction>,
    /// Keys this run found on the server rather than locally.
    from_remote: Mutex<HashSet<Digest>>,
    /// Blobs' remote names known without reading them again: computed while the blob was
    /// stored locally or verified on its way down.
    pub(crate) names: Mutex<HashMap<BlobDigest, RemoteDigest>>,
    counters: Counters,
}

impl TieredStore {
    pub fn new(
        local: LocalStore,
        options: RemoteOptions,
        peek_only: bool,
    ) -> Result<Arc<Self>, SettingsError> {
        let client = Client::new(&options)?;
        Ok(Arc::new_cyclic(|me| TieredStore {
            me: me.clone(),
            uploads: Mutex::new(Vec::new()),
            client,
            local,
            mode: options.mode,
            salt: options.salt,
            check: options.check,
            peek_only,
            key_action: std::sync::OnceLock::new(),
            from_remote: Mutex::new(HashSet::new()),
            names: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        }))
    }

    /// Waits for the uploads under way (each bounded by the timeout): called before a
    /// run ends, inside its runtime.
    pub async fn finish_uploads(&self) {
        loop {
            let started: Vec<_> = match self.uploads.lock() {
                Ok(mut uploads) => uploads.drain(..).collect(),
                Err(_) => return,
            };
            if started.is_empty() {
                return;
            }
            for upload in started {
                let _ = upload.await;
            }
        }
    }

    /// Ends a run's accounting: its remote counts added to those kept beside the local
    /// store, and the keys it found remotely forgotten (a watch's next run starts anew).
    pub fn save_stats(&self) -> std::io::Result<()> {
        if let Ok(mut keys) = self.from_remote.lock() {
            keys.clear();
        }
        self.counters.save(self.local.root())
    }

    pub(crate) fn key_action(&self, kind: DigestKind) -> &KeyAction {
        self.key_action
            .get_or_init(|| KeyAction::new(kind, &self.salt))
    }

    fn failed(&self, e: &CallError) {
        if matches!(e, CallError::Off) {
            return;
        }
        Counters::add(&self.counters.errors, 1);
        match e {
            // This machine's store failed, not the server: told, but the server stays on.
            CallError::Local(_) => self.client.breaker.tell(&e.to_string()),
            _ => self.client.breaker.failure(&e.to_string()),
        }
    }

    /// The server's result for `key`, verified and kept locally; `None` on any miss.
    async fn fetch(&self, key: &Digest) -> Option<ActionResult> {
        let session = self.client.session().await?;
        match self.try_fetch(session, key).await {
            Ok(Some(record)) => {
                self.client.breaker.success();
                Counters::add(&self.counters.hits, 1);
                if let Ok(mut keys) = self.from_remote.lock() {
                    keys.insert(*key);
                }
                Some(record)
            }
            Ok(None) => {
                self.client.breaker.success();
                Counters::add(&self.counters.misses, 1);
                None
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    async fn try_fetch(
        &self,
        session: &Session,
        key: &Digest,
    ) -> Result<Option<ActionResult>, CallError> {
        let kind = session.kind;
        let (_, action) = self.key_action(kind).action(kind, key);
        let Some(result) = self.client.get_action_result(session, action).await? else {
            return Ok(None);
        };
        let Some(manifest_digest) =
            mapping::manifest_of(&result).filter(|d| d.size <= MANIFEST_LIMIT)
        else {
            return Ok(None);
        };
        let Some(bytes) = self.read_whole(session, manifest_digest).await? else {
            return Ok(None);
        };
        let Some((record, names)) = Manifest::decode(&bytes, key) else {
            return Ok(None);
        };
        if !(self.check)(&record) {
            return Ok(None);
        }
        if self.peek_only {
            return Ok(Some(record));
        }
        let mut small = Vec::new();
        for blob in mapping::blobs_of(&record) {
            if self.local.holds(&blob) {
                continue;
            }
            // The empty blob is never sent, nor always kept by servers: it is made here.
            if blob.size == 0 {
                self.local.put_bytes(b"")?;
                continue;
            }
            // Every name is there: `Manifest::decode` checked.
            let Some(name) = names.get(&blob).copied() else {
                return Ok(None);
            };
            if blob.size <= session.batch_limit {
                small.push((blob, name));
            } else if !self.download_large(session, blob, name).await? {
                return Ok(None);
            }
        }
        if !self.download_small(session, &small).await? {
            return Ok(None);
        }
        self.local.put_action(key, &record)?;
        Ok(Some(record))
    }

    /// A blob small enough to hold in memory, verified against its remote name.
    async fn read_whole(
        &self,
        session: &Session,
        digest: RemoteDigest,
    ) -> Result<Option<Vec<u8>>, CallError> {
        let bytes = self.client.read_verified(session, digest).await?;
        Counters::add(&self.counters.bytes_down, digest.size);
        Ok(bytes)
    }

    /// Brings small blobs into the local store in batches, each verified by both
    /// digests; false when the server lacks one or sent something else for it (what was
    /// verified is kept: content-addressed, it is right wherever it came from).
    async fn download_small(
        &self,
        session: &Session,
        blobs: &[(BlobDigest, RemoteDigest)],
    ) -> Result<bool, CallError> {
        if blobs.is_empty() {
            return Ok(true);
        }
        let names: Vec<RemoteDigest> = blobs.iter().map(|(_, name)| *name).collect();
        let mut found: HashMap<RemoteDigest, Vec<u8>> = HashMap::new();
        for (name, bytes) in self.client.read_batch(session, &names).await? {
            Counters::add(&self.counters.bytes_down, bytes.len() as u64);
            if session.kind.of(&bytes) == name {
                found.insert(name, bytes);
            }
        }
        for (blob, name) in blobs {
            match found.get(name) {
                Some(bytes) if BlobDigest::of(bytes) == *blob => {
                    self.local.put_bytes(bytes)?;
                    self.remember(*blob, *name);
                }
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Brings one blob too large for a batch into the local store through ByteStream,
    /// verified by both digests as it arrives; false when the server lacks it or sent
    /// something else (then nothing is kept).
    async fn download_large(
        &self,
        session: &Session,
        blob: BlobDigest,
        name: RemoteDigest,
    ) -> Result<bool, CallError> {
        let temp = self.local.root().join("tmp").join(orch_store::temp_name());
        let result = self.stream_to_file(session, name, &temp).await;
        let kept = match result {
            Ok(Some((got_blob, got_name))) if got_blob == blob && got_name == name => self
                .local
                .store_file(&blob, &temp)
                .map(|()| true)
                .map_err(CallError::from),
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&temp);
        kept
    }

    async fn stream_to_file(
        &self,
        session: &Session,
        name: RemoteDigest,
        temp: &Path,
    ) -> Result<Option<(BlobDigest, RemoteDigest)>, CallError> {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(temp)?);
        let mut hashers = BothHashers::new(session.kind);
        let mut sink = |chunk: &[u8]| {
            hashers.update(chunk);
            file.write_all(chunk)
        };
        let found = self.client.read_stream(session, name, &mut sink).await?;
        file.flush()?;
        if !found {
            return Ok(None);
        }
        let names = hashers.finish();
        Counters::add(&self.counters.bytes_down, names.0.size);
        Ok(Some(names))
    }

    /// Writes a result that was just stored locally to the server: the blobs it lacks,
    /// the manifest, then the ActionResult (last, so no entry names a missing blob).
    async fn push(&self, key: &Digest, record: &ActionResult) {
        let Some(session) = self.client.session().await.filter(|s| s.takes_results) else {
            return;
        };
        match self.try_push(session, key, record).await {
            Ok(sent) => {
                self.client.breaker.success();
                Counters::add(&self.counters.uploads, 1);
                Counters::add(&self.counters.bytes_up, sent);
            }
            Err(e) => self.failed(&e),
        }
    }

    async fn try_push(
        &self,
        session: &Session,
        key: &Digest,
        record: &ActionResult,
    ) -> Result<u64, CallError> {
        let kind = session.kind;
        let mut sources: HashMap<RemoteDigest, Source> = HashMap::new();
        let mut names = Vec::new();
        for blob in mapping::blobs_of(record) {
            let (name, source) = self.name_local_blob(session, &blob)?;
            names.push((blob, name));
            sources.entry(name).or_insert(source);
        }
        let manifest = Manifest {
            key: *key,
            record: orch_store::encode_record(record),
            names,
        };
        let manifest_bytes = manifest.encode();
        let manifest_digest = kind.of(&manifest_bytes);
        let names: HashMap<BlobDigest, RemoteDigest> = manifest.names.iter().copied().collect();
        sources.insert(manifest_digest, Source::Bytes(manifest_bytes));
        let key_action = self.key_action(kind);
        let (action_bytes, action) = key_action.action(kind, key);
        let (command_digest, command) = key_action.command();
        sources.insert(action, Source::Bytes(action_bytes));
        sources
            .entry(command_digest)
            .or_insert_with(|| Source::Bytes(command.to_vec()));
        // The empty blob is always present (REAPI): never asked for, never sent.
        sources.retain(|digest, _| digest.size > 0);
        let wanted: Vec<RemoteDigest> = sources.keys().copied().collect();
        // A small result is sent whole: cheaper than the round trip that asks what to
        // leave out.
        let total: u64 = wanted.iter().map(|d| d.size).sum();
        let missing = if total <= SEND_WITHOUT_ASKING {
            wanted
        } else {
            self.client.find_missing(session, &wanted).await?
        };
        let sends: Vec<(RemoteDigest, Source)> = missing
            .into_iter()
            .filter_map(|digest| sources.remove(&digest).map(|source| (digest, source)))
            .collect();
        let sent = self.client.upload(session, sends).await?;
        let result = mapping::action_result(record, &names, manifest_digest);
        self.client
            .update_action_result(session, action, result)
            .await?;
        Ok(sent)
    }

    /// Keeps a blob's SHA-256 name for the run and beside the blob in the local store, so
    /// a later run's push does not read the file again to name it.
    fn remember(&self, blob: BlobDigest, name: RemoteDigest) {
        if let Ok(mut names) = self.names.lock() {
            names.insert(blob, name);
        }
        if name.size == blob.size && name.hash != blob.hash.0 {
            let _ = self.local.put_blob_note(&blob.hash, &name.hash);
        }
    }

    /// A blob's SHA-256 name kept beside it by an earlier run, if any.
    pub(crate) fn remembered(&self, blob: &BlobDigest) -> Option<RemoteDigest> {
        if let Some(name) = self.names.lock().ok().and_then(|n| n.get(blob).copied()) {
            return Some(name);
        }
        let note = self.local.blob_note(&blob.hash)?;
        let hash: [u8; 32] = note.as_slice().try_into().ok()?;
        Some(RemoteDigest {
            hash,
            size: blob.size,
        })
    }

    /// A locally stored blob's remote name and its file: the name remembered, or (BLAKE3)
    /// its own hash, or hashed from the file now. The file is read to be sent only if
    /// the server lacks it.
    fn name_local_blob(
        &self,
        session: &Session,
        blob: &BlobDigest,
    ) -> Result<(RemoteDigest, Source), CallError> {
        let gone = || CallError::Reply(format!("blob {} is not in the local store", blob.hash));
        let path = Backend::local_file(&self.local, blob).ok_or_else(gone)?;
        let known = match session.kind {
            DigestKind::Blake3 => Some(session.kind.name(blob, Vec::new)),
            DigestKind::Sha256 => self.remembered(blob),
        };
        if let Some(name) = known {
            return Ok((name, Source::File(path)));
        }
        let (held, name) = name_file(session.kind, &path)?;
        if held != *blob {
            return Err(gone());
        }
        self.remember(*blob, name);
        Ok((name, Source::File(path)))
    }
}

impl Backend for TieredStore {
    fn has_actions<'a>(&'a self, keys: &'a [Digest]) -> StoreFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let mut held = Backend::has_actions(&self.local, keys).await?;
            if self.mode.reads() {
                for (key, held) in keys.iter().zip(held.iter_mut()) {
                    if !*held {
                        *held = self.fetch(key).await.is_some();
                    }
                }
            }
            Ok(held)
        })
    }

    fn get_action<'a>(&'a self, key: &'a Digest) -> StoreFuture<'a, Option<ActionResult>> {
        Box::pin(async move {
            if let Some(found) = Backend::get_action(&self.local, key).await? {
                return Ok(Some(found));
            }
            if !self.mode.reads() {
                return Ok(None);
            }
            Ok(self.fetch(key).await)
        })
    }

    fn put_action<'a>(&'a self, key: &'a Digest, result: &'a ActionResult) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            Backend::put_action(&self.local, key, result).await?;
            if !self.mode.writes() {
                return Ok(());
            }
            // In the background where there is a runtime to run it on; otherwise now.
            match (self.me.upgrade(), tokio::runtime::Handle::try_current()) {
                (Some(me), Ok(runtime)) => {
                    let (key, result) = (*key, result.clone());
                    let upload = runtime.spawn(async move { me.push(&key, &result).await });
                    if let Ok(mut uploads) = self.uploads.lock() {
                        uploads.push(upload);
                    }
                }
                _ => self.push(key, result).await,
            }
            Ok(())
        })
    }

    fn find_missing_blobs<'a>(
        &'a self,
        blobs: &'a [BlobDigest],
    ) -> StoreFuture<'a, Vec<BlobDigest>> {
        Backend::find_missing_blobs(&self.local, blobs)
    }

    fn upload_files<'a>(&'a self, files: &'a [(BlobDigest, PathBuf)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // A SHA-256 server's names are computed as each file is copied in: the push
            // that follows reads nothing to name it.
            let sha256 = self.mode.writes()
                && self
                    .client
                    .session()
                    .await
                    .is_some_and(|s| s.kind == DigestKind::Sha256);
            for (blob, path) in files {
                if !sha256 {
                    self.local.store_file(blob, path)?;
                    continue;
                }
                let mut hashers = BothHashers::new(DigestKind::Sha256);
                self.local
                    .store_file_seen(blob, path, &mut |chunk| hashers.update(chunk))?;
                let (_, name) = hashers.finish();
                self.remember(*blob, name);
            }
            Ok(())
        })
    }

    fn read_blob<'a>(&'a self, blob: &'a BlobDigest) -> StoreFuture<'a, Option<Vec<u8>>> {
        Backend::read_blob(&self.local, blob)
    }

    fn restore_blob<'a>(
        &'a self,
        blob: &'a BlobDigest,
        dest: &'a Path,
        mode: u32,
    ) -> StoreFuture<'a, bool> {
        Backend::restore_blob(&self.local, blob, dest, mode)
    }

    fn local_file(&self, blob: &BlobDigest) -> Option<PathBuf> {
        Backend::local_file(&self.local, blob)
    }

    fn get_note<'a>(&'a self, key: &'a Digest) -> StoreFuture<'a, Option<ActionResult>> {
        Backend::get_action(&self.local, key)
    }

    fn put_note<'a>(&'a self, key: &'a Digest, note: &'a ActionResult) -> StoreFuture<'a, ()> {
        Backend::put_action(&self.local, key, note)
    }

    fn served_remotely(&self, key: &Digest) -> bool {
        self.from_remote.lock().is_ok_and(|keys| keys.contains(key))
    }
}
