//! A store in a local (or network-mounted) directory, shareable by concurrent processes.
//!
//! (Over 600 lines: close to half are its tests of damage, eviction and the seam.)

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::backend::{StoreFuture, ready};
use crate::replace::{replace_through, temp_name};
use crate::{ActionResult, Backend, BlobDigest, Digest, StoreError, decode_record, encode_record};

/// An entry's last-use mark (its mtime) is renewed when older than this: LRU needs no
/// finer grain, and a read that only reads is cheaper.
const MARK_EVERY: Duration = Duration::from_secs(3600);

/// A folder held open for `*at` calls (a lookup relative to it walks only the rest of
/// the path); `None` when it cannot be opened.
pub fn open_folder(path: &Path) -> Option<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Files at least this large are hashed with blake3's memory-mapped, multi-threaded path.
const MMAP_THRESHOLD: u64 = 1024 * 1024;

pub struct LocalStore {
    root: PathBuf,
    /// `ac/`, held open once asked for: a lookup then walks two path components, not the
    /// whole path from `/` (a no-op run asks once per node).
    actions: OnceLock<Option<OwnedFd>>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub blobs: u64,
    pub blob_bytes: u64,
    pub actions: u64,
    pub action_bytes: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub checked: u64,
    /// Entries that failed verification (and were removed), as `cas/…` or `ac/…` paths.
    pub removed: Vec<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub removed: u64,
    pub freed_bytes: u64,
    pub kept: u64,
    pub kept_bytes: u64,
}

/// A unique temp file name within this process.
/// blake3 of a file, streaming (or memory-mapped and parallel when large).
pub fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let size = fs::metadata(path)?.len();
    let mut hasher = blake3::Hasher::new();
    if size >= MMAP_THRESHOLD {
        hasher.update_mmap_rayon(path)?;
    } else {
        let mut file = File::open(path)?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
    }
    Ok(hasher.finalize().into())
}

/// Copies `source` to `out` (at `out_path`) and returns the digest of what was written:
/// a small file hashed as it passes through, a large one copied by the kernel (a reflink
/// where the filesystem has them) and hashed from the copy.
fn copy_hashing(source: &mut File, out: &mut File, out_path: &Path) -> std::io::Result<Digest> {
    if source.metadata()?.len() >= MMAP_THRESHOLD {
        std::io::copy(source, out)?;
        return hash_file(out_path);
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let mut hasher = blake3::Hasher::new();
    loop {
        let n = source.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        out.write_all(&buffer[..n])?;
        hasher.update(&buffer[..n]);
    }
}

/// A file's blob digest: its hash and its size (one `stat`, one read).
pub fn blob_of_file(path: &Path) -> Result<BlobDigest, StoreError> {
    let size = fs::metadata(path)
        .map_err(|e| StoreError::io(path, e))?
        .len();
    let hash = hash_file(path).map_err(|e| StoreError::io(path, e))?;
    Ok(BlobDigest { hash, size })
}

impl LocalStore {
    /// Opens (creating it, mode 0700, if needed) a store directory.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Self::open_with_mode(root, false)
    }

    /// Opens a store; `group` makes new folders 2770 (setgid: the group's members share
    /// the cache) instead of 0700.
    pub fn open_with_mode(root: &Path, group: bool) -> Result<Self, StoreError> {
        let mode = if group { 0o2770 } else { 0o700 };
        for sub in ["", "cas", "ac", "tmp"] {
            let dir = root.join(sub);
            if !dir.is_dir() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(mode)
                    .create(&dir)
                    .map_err(|e| StoreError::io(&dir, e))?;
                // The umask must not take the group's bits away.
                fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                    .map_err(|e| StoreError::io(&dir, e))?;
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            actions: OnceLock::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("cas").join(digest.sharded_path())
    }

    fn note_path(&self, blob: &Digest) -> PathBuf {
        self.root.join("notes").join(blob.sharded_path())
    }

    /// Keeps a short note beside a blob (a remote cache's name for its content, so that
    /// it is never hashed again); `gc` and `clear` remove it with the blob.
    pub fn put_blob_note(&self, blob: &Digest, note: &[u8]) -> Result<(), StoreError> {
        self.write_atomically(&self.note_path(blob), |out| out.write_all(note))
    }

    /// A blob's note, if one was kept (at most 1 KiB is read).
    pub fn blob_note(&self, blob: &Digest) -> Option<Vec<u8>> {
        let mut note = Vec::new();
        File::open(self.note_path(blob))
            .ok()?
            .take(1024)
            .read_to_end(&mut note)
            .ok()?;
        Some(note)
    }

    fn action_path(&self, key: &Digest) -> PathBuf {
        self.root.join("ac").join(key.sharded_path())
    }

    /// Writes through a temp file in `tmp/` (which `gc` sweeps after a crash), renamed
    /// into `dest`.
    fn write_atomically(
        &self,
        dest: &Path,
        write: impl FnOnce(&mut File) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let temp = self.root.join("tmp").join(temp_name());
        replace_through(&temp, dest, write).map_err(|e| StoreError::io(dest, e))
    }

    /// Removes an entry that failed verification; another process may have done so first.
    fn discard(path: &Path) {
        let _ = fs::remove_file(path);
    }

    /// Every entry of `cas/` or `ac/` with its digest and metadata.
    fn entries(&self, kind: &str) -> Vec<(Digest, PathBuf, fs::Metadata)> {
        let mut out = Vec::new();
        let Ok(shards) = fs::read_dir(self.root.join(kind)) else {
            return out;
        };
        for shard in shards.flatten() {
            let Ok(files) = fs::read_dir(shard.path()) else {
                continue;
            };
            let prefix = shard.file_name().to_string_lossy().into_owned();
            for file in files.flatten() {
                let name = format!("{prefix}{}", file.file_name().to_string_lossy());
                if let (Some(digest), Ok(meta)) = (Digest::from_hex(&name), file.metadata()) {
                    out.push((digest, file.path(), meta));
                }
            }
        }
        out
    }

    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for (_, _, meta) in self.entries("cas") {
            stats.blobs += 1;
            stats.blob_bytes += meta.len();
        }
        for (_, _, meta) in self.entries("ac") {
            stats.actions += 1;
            stats.action_bytes += meta.len();
        }
        stats
    }

    /// Checks every blob's hash and every record's decoding; removes what fails.
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport::default();
        for (digest, path, _) in self.entries("cas") {
            report.checked += 1;
            if !matches!(hash_file(&path), Ok(d) if d == digest) {
                Self::discard(&path);
                report
                    .removed
                    .push(format!("cas/{}", digest.sharded_path()));
            }
        }
        for (key, path, _) in self.entries("ac") {
            report.checked += 1;
            if fs::read(&path)
                .ok()
                .and_then(|b| decode_record(&b))
                .is_none()
            {
                Self::discard(&path);
                report.removed.push(format!("ac/{}", key.sharded_path()));
            }
        }
        report
    }

    /// Evicts least recently used entries (records first touch their blobs) until the store
    /// is under `max_size` and nothing is older than `max_age`. Nothing younger than
    /// `grace` is removed, so a writer that just stored a blob is never broken.
    pub fn gc(
        &self,
        max_size: Option<u64>,
        max_age: Option<Duration>,
        grace: Duration,
    ) -> GcReport {
        let now = SystemTime::now();
        let age = |meta: &fs::Metadata| {
            meta.modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default()
        };
        let mut report = GcReport::default();
        // Leftover temp files of crashed writers.
        if let Ok(temps) = fs::read_dir(self.root.join("tmp")) {
            for temp in temps.flatten() {
                if temp
                    .metadata()
                    .is_ok_and(|m| age(&m) > grace.max(Duration::from_secs(3600)))
                {
                    let _ = fs::remove_file(temp.path());
                }
            }
        }
        let mut all: Vec<(PathBuf, fs::Metadata)> = self
            .entries("ac")
            .into_iter()
            .chain(self.entries("cas"))
            .map(|(_, p, m)| (p, m))
            .collect();
        // Oldest use first.
        all.sort_by_key(|(_, meta)| std::cmp::Reverse(age(meta)));
        let mut total: u64 = all.iter().map(|(_, m)| m.len()).sum();
        for (path, meta) in all {
            let too_old = max_age.is_some_and(|max| age(&meta) > max);
            let too_big = max_size.is_some_and(|max| total > max);
            if (too_old || too_big) && age(&meta) > grace && fs::remove_file(&path).is_ok() {
                // A blob's note goes with it.
                if let Ok(sharded) = path.strip_prefix(self.root.join("cas")) {
                    let _ = fs::remove_file(self.root.join("notes").join(sharded));
                }
                report.removed += 1;
                report.freed_bytes += meta.len();
                total -= meta.len();
            } else {
                report.kept += 1;
                report.kept_bytes += meta.len();
            }
        }
        report
    }

    /// Empties the store (the directory itself stays).
    pub fn clear(&self) -> Result<(), StoreError> {
        for sub in ["cas", "ac", "tmp", "notes"] {
            let dir = self.root.join(sub);
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
            }
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| StoreError::io(&dir, e))?;
        }
        Ok(())
    }

    /// Reads a whole entry (open, one `fstat`, one read: entries never change once
    /// renamed into place) and marks it used when its last mark is old.
    fn read_and_touch(path: &Path) -> std::io::Result<Vec<u8>> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let mut bytes = vec![0; usize::try_from(meta.len()).unwrap_or(0)];
        file.read_exact(&mut bytes)?;
        if meta.modified().is_ok_and(Self::mark_is_old) {
            let _ = file.set_modified(SystemTime::now());
        }
        Ok(bytes)
    }

    /// Whether an entry's last-use mark (its mtime) is older than [`MARK_EVERY`].
    fn mark_is_old(marked: SystemTime) -> bool {
        SystemTime::now()
            .duration_since(marked)
            .is_ok_and(|age| age > MARK_EVERY)
    }

    /// Marks an entry as just used, for least-recently-used eviction.
    fn touch(path: &Path) {
        if let Ok(file) = File::options().append(true).open(path) {
            let _ = file.set_modified(SystemTime::now());
        }
    }
}

/// The store's own calls, synchronous: what the `Backend` implementation answers with,
/// and what `orch cache` and tests use.
impl LocalStore {
    /// Whether the blob is here with its size (trusted so, verified when read): marks it
    /// used. A wrong size is damage, to be written anew.
    pub fn holds(&self, blob: &BlobDigest) -> bool {
        let path = self.blob_path(&blob.hash);
        let held = fs::metadata(&path).is_ok_and(|m| m.len() == blob.size);
        if held {
            Self::touch(&path);
        }
        held
    }

    /// Stores a file as the blob it was hashed to; refused if it is not that any more.
    pub fn store_file(&self, blob: &BlobDigest, path: &Path) -> Result<(), StoreError> {
        self.store_file_seen(blob, path, &mut |_| {})
    }

    /// [`LocalStore::store_file`], each chunk also shown to `seen` as it is copied: how
    /// a second digest (a remote cache's SHA-256) is computed without reading again.
    pub fn store_file_seen(
        &self,
        blob: &BlobDigest,
        path: &Path,
        seen: &mut dyn FnMut(&[u8]),
    ) -> Result<(), StoreError> {
        let dest = self.blob_path(&blob.hash);
        // The file may have changed since it was hashed or while it is copied: the copy is
        // hashed as it is written and put in place only if it is what was hashed, so a
        // wrong blob never stands under the digest, not even for a moment.
        let mut changed = false;
        let written = self.write_atomically(&dest, |out| {
            let mut source = File::open(path)?;
            let mut hasher = blake3::Hasher::new();
            let mut buffer = vec![0u8; 64 * 1024];
            let mut size = 0u64;
            loop {
                let n = source.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                seen(&buffer[..n]);
                out.write_all(&buffer[..n])?;
                size += n as u64;
            }
            if size != blob.size || Digest::from(hasher.finalize()) != blob.hash {
                changed = true;
                return Err(std::io::Error::other(
                    "the file changed while it was stored",
                ));
            }
            Ok(())
        });
        if changed {
            return Err(StoreError::io(
                path,
                std::io::Error::other("the file changed while it was stored"),
            ));
        }
        written
    }

    /// Stores a file's content; returns its digest.
    pub fn put_file(&self, path: &Path) -> Result<Digest, StoreError> {
        let blob = blob_of_file(path)?;
        if !self.holds(&blob) {
            self.store_file(&blob, path)?;
        }
        Ok(blob.hash)
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let dest = self.blob_path(&digest);
        if fs::metadata(&dest).is_ok_and(|m| m.len() == bytes.len() as u64) {
            Self::touch(&dest);
            return Ok(digest);
        }
        self.write_atomically(&dest, |out| out.write_all(bytes))?;
        Ok(digest)
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.blob_path(digest);
        match Self::read_and_touch(&path) {
            Ok(bytes) if Digest::of(&bytes) == *digest => Ok(Some(bytes)),
            Ok(_) => {
                Self::discard(&path);
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    pub fn restore_blob(
        &self,
        digest: &Digest,
        dest: &Path,
        mode: u32,
    ) -> Result<bool, StoreError> {
        let blob = self.blob_path(digest);
        let mut source = match File::open(&blob) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::io(&blob, e)),
        };
        let parent = dest.parent().unwrap_or(Path::new("."));
        // Copied beside the destination and checked, then renamed: a corrupt blob never
        // reaches the workspace. The folder is made only when it is not there.
        let temp = parent.join(format!(".orch-restore-{}", temp_name()));
        let copied = (|| {
            let mut out = match File::create_new(&temp) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    fs::create_dir_all(parent)?;
                    File::create_new(&temp)?
                }
                created => created?,
            };
            let copied = copy_hashing(&mut source, &mut out, &temp)?;
            out.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
            Ok::<_, std::io::Error>(copied)
        })();
        match copied {
            Ok(d) if d == *digest => {}
            Ok(_) => {
                let _ = fs::remove_file(&temp);
                Self::discard(&blob);
                return Ok(false);
            }
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(StoreError::io(dest, e));
            }
        }
        // A folder in the way is never removed: rename refuses to replace one.
        if let Err(e) = fs::rename(&temp, dest) {
            let _ = fs::remove_file(&temp);
            let e = if e.kind() == std::io::ErrorKind::IsADirectory {
                std::io::Error::other("a folder is in the way")
            } else {
                e
            };
            return Err(StoreError::io(dest, e));
        }
        // Marked used through the open file (ours to touch); else as any other entry.
        if source.set_modified(SystemTime::now()).is_err() {
            Self::touch(&blob);
        }
        Ok(true)
    }

    pub fn get_action(&self, key: &Digest) -> Result<Option<ActionResult>, StoreError> {
        let path = self.action_path(key);
        match Self::read_and_touch(&path) {
            Ok(bytes) => match decode_record(&bytes) {
                Some(result) => Ok(Some(result)),
                None => {
                    Self::discard(&path);
                    Ok(None)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    pub fn put_action(&self, key: &Digest, result: &ActionResult) -> Result<(), StoreError> {
        let bytes = encode_record(result);
        self.write_atomically(&self.action_path(key), |out| out.write_all(&bytes))
    }

    /// Whether a result is recorded under a node key, without reading it: one `stat`
    /// relative to `ac/`, held open; marks it used, as a read does.
    pub fn has_action(&self, key: &Digest) -> Result<bool, StoreError> {
        let actions = self
            .actions
            .get_or_init(|| open_folder(&self.root.join("ac")));
        let stat = match actions {
            // Not found through the folder held open: ask by path too, in case `ac/` was
            // replaced since it was opened (a `cache clear` beside a long `orch watch`).
            Some(dir) => rustix::fs::statat(dir, key.sharded().as_str(), AtFlags::empty())
                .or_else(|_| rustix::fs::stat(self.action_path(key))),
            None => rustix::fs::stat(self.action_path(key)),
        };
        match stat {
            Ok(stat) => {
                let marked =
                    UNIX_EPOCH + Duration::from_secs(u64::try_from(stat.st_mtime).unwrap_or(0));
                if Self::mark_is_old(marked) {
                    Self::touch(&self.action_path(key));
                }
                Ok(FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile)
            }
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(StoreError::io(&self.action_path(key), e.into())),
        }
    }
}

/// The local store answers every call at once: its futures are ready when made.
impl Backend for LocalStore {
    fn has_actions<'a>(&'a self, keys: &'a [Digest]) -> StoreFuture<'a, Vec<bool>> {
        ready(keys.iter().map(|key| self.has_action(key)).collect())
    }
    fn get_action<'a>(&'a self, key: &'a Digest) -> StoreFuture<'a, Option<ActionResult>> {
        ready(LocalStore::get_action(self, key))
    }
    fn put_action<'a>(&'a self, key: &'a Digest, result: &'a ActionResult) -> StoreFuture<'a, ()> {
        ready(LocalStore::put_action(self, key, result))
    }
    fn find_missing_blobs<'a>(
        &'a self,
        blobs: &'a [BlobDigest],
    ) -> StoreFuture<'a, Vec<BlobDigest>> {
        ready(Ok(blobs
            .iter()
            .filter(|b| !self.holds(b))
            .copied()
            .collect()))
    }
    fn upload_files<'a>(&'a self, files: &'a [(BlobDigest, PathBuf)]) -> StoreFuture<'a, ()> {
        ready(
            files
                .iter()
                .try_for_each(|(blob, path)| self.store_file(blob, path)),
        )
    }
    fn read_blob<'a>(&'a self, blob: &'a BlobDigest) -> StoreFuture<'a, Option<Vec<u8>>> {
        ready(LocalStore::read_blob(self, &blob.hash))
    }
    fn restore_blob<'a>(
        &'a self,
        blob: &'a BlobDigest,
        dest: &'a Path,
        mode: u32,
    ) -> StoreFuture<'a, bool> {
        ready(LocalStore::restore_blob(self, &blob.hash, dest, mode))
    }
    fn local_file(&self, blob: &BlobDigest) -> Option<PathBuf> {
        Some(self.blob_path(&blob.hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer of a local backend call, which must be ready when made: the engine
    /// relies on it for the local store's speed through the async seam.
    fn now<T>(future: StoreFuture<'_, T>) -> Result<T, StoreError> {
        let mut future = future;
        crate::answered_now(&mut future).expect("a local store call is ready when made")
    }

    #[test]
    fn a_file_that_changed_before_it_was_stored_never_replaces_the_blob() {
        let (dir, store) = store();
        let file = dir.path().join("f");
        fs::write(&file, "good").unwrap();
        let blob = blob_of_file(&file).unwrap();
        store.store_file(&blob, &file).unwrap();
        // Changed since it was hashed (same size): refused, and the good blob stays.
        fs::write(&file, "evil").unwrap();
        assert!(store.store_file(&blob, &file).is_err());
        assert_eq!(
            store.read_blob(&blob.hash).unwrap().as_deref(),
            Some(&b"good"[..])
        );
        assert_eq!(
            fs::read_dir(dir.path().join("cache/tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn the_backend_seam_batches_and_names_blobs_by_size() {
        let (dir, store) = store();
        let backend: &dyn Backend = &store;
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "aaaa").unwrap();
        fs::write(&b, "bb").unwrap();
        let (blob_a, blob_b) = (blob_of_file(&a).unwrap(), blob_of_file(&b).unwrap());
        assert_eq!(blob_a, BlobDigest::of(b"aaaa"));
        assert_eq!(
            now(backend.find_missing_blobs(&[blob_a, blob_b])).unwrap(),
            [blob_a, blob_b]
        );
        now(backend.upload_files(&[(blob_a, a.clone())])).unwrap();
        assert_eq!(
            now(backend.find_missing_blobs(&[blob_a, blob_b])).unwrap(),
            [blob_b]
        );
        // The same hash with another size is not the blob held.
        let wrong_size = BlobDigest { size: 3, ..blob_a };
        assert_eq!(
            now(backend.find_missing_blobs(&[wrong_size])).unwrap(),
            [wrong_size]
        );
        // A file that changed since it was hashed is refused, and nothing is kept.
        fs::write(&b, "changed").unwrap();
        assert!(now(backend.upload_files(&[(blob_b, b.clone())])).is_err());
        assert_eq!(
            now(backend.find_missing_blobs(&[blob_b])).unwrap(),
            [blob_b]
        );
        assert_eq!(
            now(backend.read_blob(&blob_a)).unwrap().as_deref(),
            Some(&b"aaaa"[..])
        );
        assert!(backend.local_file(&blob_a).is_some_and(|p| p.exists()));
        // Existence of many keys in one call.
        let (k1, k2) = (Digest::of(b"k1"), Digest::of(b"k2"));
        let record = ActionResult {
            orch_version: "t".into(),
            exit_code: 0,
            duration_ms: 1,
            log: Some(blob_a),
            files: Vec::new(),
            outputs: vec![],
            summary: String::new(),
            result_digest: Digest::of(b"r"),
            artifacts: Vec::new(),
        };
        now(backend.put_action(&k2, &record)).unwrap();
        assert_eq!(now(backend.has_actions(&[k1, k2])).unwrap(), [false, true]);
        assert_eq!(now(backend.get_action(&k2)).unwrap(), Some(record));
    }
    use crate::OutputFile;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&dir.path().join("cache")).unwrap();
        (dir, store)
    }

    #[test]
    fn blobs_round_trip_and_corruption_is_a_miss() {
        let (dir, store) = store();
        let source = dir.path().join("a.txt");
        fs::write(&source, "hello").unwrap();
        let digest = store.put_file(&source).unwrap();
        assert_eq!(digest, Digest::of(b"hello"));
        assert_eq!(
            store.read_blob(&digest).unwrap().as_deref(),
            Some(b"hello".as_slice())
        );

        let dest = dir.path().join("out/restored.txt");
        assert!(store.restore_blob(&digest, &dest, 0o640).unwrap());
        assert_eq!(fs::read_to_string(&dest).unwrap(), "hello");
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o640
        );

        // Corrupt the blob: never restored, removed, reported as a miss.
        let blob = store.blob_path(&digest);
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&blob, "HELLO").unwrap();
        let other = dir.path().join("out/other.txt");
        assert!(!store.restore_blob(&digest, &other, 0o644).unwrap());
        assert!(!other.exists());
        assert!(!blob.exists(), "a corrupt blob is removed");
        assert_eq!(store.read_blob(&digest).unwrap(), None);
    }

    #[test]
    fn a_large_blob_is_checked_too_and_a_folder_in_the_way_stays() {
        let (dir, store) = store();
        let source = dir.path().join("big.bin");
        let bytes: Vec<u8> = (0..3 * MMAP_THRESHOLD).map(|i| (i % 251) as u8).collect();
        fs::write(&source, &bytes).unwrap();
        let digest = store.put_file(&source).unwrap();
        let dest = dir.path().join("new/folder/big.bin");
        assert!(store.restore_blob(&digest, &dest, 0o755).unwrap());
        assert_eq!(fs::read(&dest).unwrap(), bytes);
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // A folder where the file goes: refused, left as it was, no temporary beside it.
        let in_the_way = dir.path().join("taken");
        fs::create_dir_all(in_the_way.join("inside")).unwrap();
        let refused = store.restore_blob(&digest, &in_the_way, 0o644).unwrap_err();
        assert!(
            refused.to_string().contains("a folder is in the way"),
            "{refused}"
        );
        assert!(in_the_way.join("inside").is_dir());
        // cache, big.bin, new, taken: no temporary.
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            4,
            "no temporary left"
        );
        // The large blob damaged in its last byte: a miss, the blob removed.
        let blob = store.blob_path(&digest);
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o600)).unwrap();
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 1;
        fs::write(&blob, &damaged).unwrap();
        let other = dir.path().join("other.bin");
        assert!(!store.restore_blob(&digest, &other, 0o644).unwrap());
        assert!(!other.exists());
        assert!(!blob.exists());
    }

    #[test]
    fn records_round_trip_and_corrupt_records_are_misses() {
        let (_dir, store) = store();
        let key = Digest::of(b"key");
        let result = ActionResult {
            orch_version: "t".into(),
            exit_code: 0,
            duration_ms: 1,
            log: None,
            files: vec![OutputFile {
                path: "a".into(),
                digest: Digest::of(b"a"),
                size: 1,
                mode: 0o644,
                symlink: None,
            }],
            outputs: vec![],
            summary: String::new(),
            result_digest: Digest::of(b"r"),
            artifacts: Vec::new(),
        };
        assert!(!store.has_action(&key).unwrap());
        store.put_action(&key, &result).unwrap();
        assert!(store.has_action(&key).unwrap());
        assert_eq!(store.get_action(&key).unwrap(), Some(result.clone()));
        fs::write(store.action_path(&key), b"ORCHAC garbage").unwrap();
        assert_eq!(store.get_action(&key).unwrap(), None);
        assert!(!store.action_path(&key).exists());
        assert!(!store.has_action(&key).unwrap());

        // `ac/` cleared (removed, made anew) after it was opened, as a `cache clear`
        // beside a long `orch watch` does: gone, then found again in the new folder.
        store.put_action(&key, &result).unwrap();
        assert!(
            store.has_action(&key).unwrap(),
            "opens ac/ and finds the key"
        );
        store.clear().unwrap();
        assert!(!store.has_action(&key).unwrap(), "cleared");
        store.put_action(&key, &result).unwrap();
        assert!(store.has_action(&key).unwrap(), "found in the new ac/");
    }

    #[test]
    fn verify_stats_gc_clear() {
        let (_dir, store) = store();
        let a = store.put_bytes(b"aaaa").unwrap();
        let b = store.put_bytes(b"bbbbbbbb").unwrap();
        assert_eq!(
            store.stats(),
            Stats {
                blobs: 2,
                blob_bytes: 12,
                actions: 0,
                action_bytes: 0
            }
        );
        fs::write(store.blob_path(&b), "not b").unwrap();
        let report = store.verify();
        assert_eq!(report.checked, 2);
        assert_eq!(report.removed, [format!("cas/{}", b.sharded_path())]);

        // Young entries survive any limit; old ones go, oldest first.
        let report = store.gc(Some(0), None, Duration::from_secs(600));
        assert_eq!(report.removed, 0);
        let old = SystemTime::now() - Duration::from_secs(7200);
        File::options()
            .append(true)
            .open(store.blob_path(&a))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let report = store.gc(Some(0), None, Duration::from_secs(600));
        assert_eq!(report.removed, 1);
        assert!(!store.blob_path(&a).exists());

        store.put_bytes(b"c").unwrap();
        store.clear().unwrap();
        assert_eq!(store.stats(), Stats::default());
    }

    #[test]
    fn the_store_directory_is_private_unless_shared_with_a_group() {
        let (dir, _store) = store();
        let mode = fs::metadata(dir.path().join("cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        LocalStore::open_with_mode(&dir.path().join("shared"), true).unwrap();
        let mode = fs::metadata(dir.path().join("shared/cas"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o2770);
    }
}
