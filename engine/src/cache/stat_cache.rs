//! File digests through a persistent stat cache, so that an unchanged file costs a
//! `stat`, not a read.
//!
//! The stat cache (`.orch/state/stat-cache`) maps a workspace-relative path to (size,
//! mtime, inode, ctime) and the digest seen then. An entry is trusted only when all four
//! match *and* its mtime was at least [`RACY_WINDOW`] older than the moment it was
//! hashed: a write in the same timestamp tick as the hashing could otherwise leave a
//! changed file with unchanged metadata. Such racy entries are re-hashed next time.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orch_store::Digest;
use rustix::fs::{AtFlags, FileType};
use serde::{Deserialize, Serialize};

pub const RACY_WINDOW: Duration = Duration::from_secs(2);
const STAT_CACHE_MAGIC: &[u8; 8] = b"ORCHSTv2";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StatEntry {
    size: u64,
    mtime_ns: i128,
    ino: u64,
    ctime_ns: i128,
    hashed_at_ns: i128,
    digest: Digest,
}

fn nanos(secs: i64, nsec: i64) -> i128 {
    i128::from(secs) * 1_000_000_000 + i128::from(nsec)
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

#[derive(Default)]
pub struct StatCache {
    entries: rustc_hash::FxHashMap<String, StatEntry>,
    dirty: bool,
    /// Files actually read and hashed (not answered by the cache), for tests and `-v`.
    pub hashed: usize,
    /// The workspace folder, held open: a `stat` relative to it walks the path from
    /// there, not from `/` (a no-op run stats every input and output).
    root: Option<(PathBuf, OwnedFd)>,
    /// The workspace's real path, to tell where a link leads.
    real_root: Option<PathBuf>,
    /// Paths found to be symbolic links (their digest depends on what they point to, so a
    /// watcher looks at them again when anything changed), and those a declared input
    /// must not be, with why: a link out of the workspace (never read), or a link to a
    /// folder (whose files are not behind the link in any listing).
    pub links: std::collections::HashSet<String>,
    pub refused_links: HashMap<String, &'static str>,
}

/// What one `lstat` says of a file, as the stat cache uses it.
#[derive(Debug, Clone, Copy)]
pub struct FileStat {
    kind: FileType,
    size: u64,
    mtime_ns: i128,
    ino: u64,
    ctime_ns: i128,
    mode: u32,
}

impl FileStat {
    /// The stat a folder's listing took (an `lstat` relative to the folder it read).
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            kind: FileType::from_raw_mode(meta.mode()),
            size: meta.size(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ino: meta.ino(),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            mode: meta.mode() & 0o7777,
        }
    }
}

impl StatCache {
    /// Loads the cache; anything unreadable is an empty cache (it only costs re-hashing).
    pub fn load(path: &Path) -> Self {
        let entries = std::fs::read(path)
            .ok()
            .and_then(|bytes| {
                let body = orch_store::unseal(&bytes)?.strip_prefix(STAT_CACHE_MAGIC.as_slice())?;
                postcard::from_bytes::<rustc_hash::FxHashMap<String, StatEntry>>(body).ok()
            })
            .unwrap_or_default();
        Self {
            entries,
            dirty: false,
            hashed: 0,
            ..Self::default()
        }
    }

    /// `lstat` of `workspace/relative`, through the open workspace folder when it can be.
    fn lstat(&mut self, workspace: &Path, relative: &str) -> std::io::Result<FileStat> {
        if self.root.as_ref().is_none_or(|(path, _)| path != workspace) {
            self.root = orch_store::open_folder(workspace).map(|fd| (workspace.to_path_buf(), fd));
        }
        let stat = match &self.root {
            Some((_, root)) if !relative.starts_with('/') => {
                rustix::fs::statat(root, relative, AtFlags::SYMLINK_NOFOLLOW)?
            }
            _ => rustix::fs::lstat(workspace.join(relative))?,
        };
        Ok(FileStat {
            kind: FileType::from_raw_mode(stat.st_mode),
            size: u64::try_from(stat.st_size).unwrap_or(0),
            mtime_ns: nanos(
                stat.st_mtime,
                i64::try_from(stat.st_mtime_nsec).unwrap_or(0),
            ),
            ino: stat.st_ino,
            ctime_ns: nanos(
                stat.st_ctime,
                i64::try_from(stat.st_ctime_nsec).unwrap_or(0),
            ),
            mode: stat.st_mode & 0o7777,
        })
    }

    /// Lets go of the held-open workspace folder: the next `stat` opens it again. A long
    /// `orch watch` calls this every round, so a workspace folder replaced meanwhile is
    /// never read through the old one.
    pub fn forget_root(&mut self) {
        self.root = None;
    }

    /// Writes the cache if it changed (temp file + rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut bytes = STAT_CACHE_MAGIC.to_vec();
        bytes.extend(postcard::to_allocvec(&self.entries).map_err(std::io::Error::other)?);
        orch_store::seal(&mut bytes);
        orch_store::replace_file(path, &bytes)
    }

    /// The digest of `workspace/relative`.
    pub fn digest(&mut self, workspace: &Path, relative: &str) -> std::io::Result<Digest> {
        let meta = self.lstat(workspace, relative)?;
        self.digest_from(workspace, relative, &meta)
    }

    /// The digest of `workspace/relative` from a stat of it taken just before (by the
    /// listing of its folder, which reached it from that folder instead of walking the
    /// whole path again).
    pub fn digest_from(
        &mut self,
        workspace: &Path,
        relative: &str,
        meta: &FileStat,
    ) -> std::io::Result<Digest> {
        // A symbolic link counts as its text and what it points to, when that lies in the
        // workspace; orch never reads outside it, so a link out counts as its text alone.
        if meta.kind == FileType::Symlink {
            let path = workspace.join(relative);
            let target = std::fs::read_link(&path)?;
            let pointed = self.pointed_digest(workspace, relative, &path);
            return Ok(Digest::of(
                format!("symlink:{}\0{pointed}", target.display()).as_bytes(),
            ));
        }
        self.content_digest(workspace, relative, meta)
    }

    /// What a link at `relative` leads to, as text for its digest: the content digest of
    /// the file at the end of its chain, `folder`, `dangling`, or `outside`.
    fn pointed_digest(&mut self, workspace: &Path, relative: &str, path: &Path) -> String {
        self.links.insert(relative.to_owned());
        if self.real_root.is_none() {
            self.real_root = std::fs::canonicalize(workspace).ok();
        }
        let Ok(real) = std::fs::canonicalize(path) else {
            return "dangling".into();
        };
        let inside = self
            .real_root
            .as_ref()
            .and_then(|root| real.strip_prefix(root).ok())
            .and_then(Path::to_str)
            .map(str::to_owned);
        let Some(target) = inside else {
            self.refused_links
                .insert(relative.to_owned(), "a symbolic link out of the workspace");
            return "outside".into();
        };
        self.refused_links.remove(relative);
        match self.lstat(workspace, &target) {
            Ok(meta) if meta.kind == FileType::RegularFile => self
                .content_digest(workspace, &target, &meta)
                .map_or_else(|_| "unreadable".into(), |d| d.to_hex()),
            Ok(meta) if meta.kind == FileType::Directory => {
                self.refused_links.insert(
                    relative.to_owned(),
                    "a symbolic link to a folder (name the folder it points to)",
                );
                "folder".into()
            }
            _ => "other".into(),
        }
    }

    /// A regular file's digest and permission bits, from one `stat`; `None` for anything
    /// else (missing, a link, a folder).
    pub fn regular_file(&mut self, workspace: &Path, relative: &str) -> Option<(Digest, u32)> {
        let meta = self.lstat(workspace, relative).ok()?;
        if meta.kind != FileType::RegularFile {
            return None;
        }
        let digest = self.content_digest(workspace, relative, &meta).ok()?;
        Some((digest, meta.mode))
    }

    /// The digest of the regular file `workspace/relative`, read only when its stat does
    /// not match the entry.
    fn content_digest(
        &mut self,
        workspace: &Path,
        relative: &str,
        meta: &FileStat,
    ) -> std::io::Result<Digest> {
        let (mtime_ns, ctime_ns) = (meta.mtime_ns, meta.ctime_ns);
        if let Some(entry) = self.entries.get(relative)
            && entry.size == meta.size
            && entry.mtime_ns == mtime_ns
            && entry.ino == meta.ino
            && entry.ctime_ns == ctime_ns
            && entry.hashed_at_ns - mtime_ns > RACY_WINDOW.as_nanos() as i128
        {
            return Ok(entry.digest);
        }
        let hashed_at_ns = now_ns();
        let digest = orch_store::hash_file(&workspace.join(relative))?;
        self.hashed += 1;
        self.entries.insert(
            relative.to_owned(),
            StatEntry {
                size: meta.size,
                mtime_ns,
                ino: meta.ino,
                ctime_ns,
                hashed_at_ns,
                digest,
            },
        );
        self.dirty = true;
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mtime(path: &Path, time: SystemTime) {
        std::fs::File::options()
            .append(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn stat_cache_avoids_reads_and_catches_racy_writes() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::write(ws.join("a.txt"), "one").unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        set_mtime(&ws.join("a.txt"), old);
        let mut cache = StatCache::default();
        let first = cache.digest(ws, "a.txt").unwrap();
        assert_eq!(first, Digest::of(b"one"));
        assert_eq!(cache.digest(ws, "a.txt").unwrap(), first);
        assert_eq!(cache.hashed, 1, "the second look is a stat, not a read");

        // Saved and loaded, still a hit.
        let state = ws.join("state/stat-cache");
        cache.save(&state).unwrap();
        let mut loaded = StatCache::load(&state);
        assert_eq!(loaded.digest(ws, "a.txt").unwrap(), first);
        assert_eq!(loaded.hashed, 0);
        // A damaged stat cache is an empty one (re-hashing), never wrong digests.
        let bytes = std::fs::read(&state).unwrap();
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            std::fs::write(&state, &damaged).unwrap();
            assert!(StatCache::load(&state).entries.is_empty(), "byte {at}");
        }

        // A file written just now is racy: re-hashed every time until it is old enough.
        std::fs::write(ws.join("b.txt"), "two").unwrap();
        loaded.digest(ws, "b.txt").unwrap();
        loaded.digest(ws, "b.txt").unwrap();
        assert_eq!(loaded.hashed, 2);

        // Same size, same mtime, new content: the ctime/inode differ, so it is re-hashed.
        std::fs::write(ws.join("a.txt"), "owe").unwrap();
        set_mtime(&ws.join("a.txt"), old);
        assert_eq!(loaded.digest(ws, "a.txt").unwrap(), Digest::of(b"owe"));
    }
}
