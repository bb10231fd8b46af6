//! What orch remembers between runs in `.orch/state/`: each node's last key components
//! (to explain a miss) beside the stat cache. Unreadable state is forgotten state: it
//! only makes the next explanation say "no previous run".

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orch_store::{ActionResult, Digest, decode_kept_record};

use crate::cache::key::{KeyComponents, KeyView};

const KEYS_MAGIC: &[u8; 8] = b"ORCHKYv3";

pub fn dir(orch_dir: &Path) -> PathBuf {
    orch_dir.join("state")
}

pub fn stat_cache_path(orch_dir: &Path) -> PathBuf {
    dir(orch_dir).join("stat-cache")
}

fn keys_path(orch_dir: &Path) -> PathBuf {
    dir(orch_dir).join("keys")
}

fn report_files_path(orch_dir: &Path) -> PathBuf {
    dir(orch_dir).join("report-files")
}

/// The files inside the workspace that orch wrote for some run (`--events`,
/// `--summary`, `--json-summary`, `--junit`), as patterns: never inputs by the default
/// rule, for every command, so that a plan agrees with the run that wrote them.
pub fn report_file_patterns(orch_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(report_files_path(orch_dir))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(crate::files::glob::matching_exactly)
        .collect()
}

/// Adds workspace-relative paths to the report files remembered (kept sorted, once each).
pub fn remember_report_files(orch_dir: &Path, files: &[String]) -> std::io::Result<()> {
    let path = report_files_path(orch_dir);
    let known = std::fs::read_to_string(&path).unwrap_or_default();
    let mut all: std::collections::BTreeSet<&str> =
        known.lines().filter(|l| !l.is_empty()).collect();
    let before = all.len();
    all.extend(files.iter().map(String::as_str));
    if all.len() == before && path.exists() {
        return Ok(());
    }
    let text: String = all.into_iter().map(|f| format!("{f}\n")).collect();
    orch_store::replace_file(&path, text.as_bytes())
}

/// A key computed this run: the node, the key, what went into it (everything but the
/// inputs, and the inputs), and what to remember of the result found under it.
#[derive(Debug, Clone)]
pub struct FreshKey {
    pub node: String,
    pub key: Digest,
    pub partial: Arc<KeyComponents>,
    pub inputs: Arc<BTreeMap<String, Digest>>,
    pub record: RecordUpdate,
}

impl FreshKey {
    pub fn view(&self) -> KeyView<'_> {
        KeyView::new(&self.partial, &self.inputs)
    }
}

/// What `.orch/state/keys` should hold of the result under a node's key next time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordUpdate {
    /// The remembered one (a hit answered by it).
    Keep,
    /// A result read from the cache (`encode_record`'s bytes).
    Set(Vec<u8>),
    /// None: the node ran, or its key has no result.
    Clear,
    /// The node ran under this key and failed (failures are not cached): kept so that
    /// the next miss says so.
    Failed,
}

/// What the state holds for a key whose run failed: no record decodes from it.
const FAILED: &[u8] = b"failed";

/// Each node's key at its last run, as `.orch/state/keys` holds them, with the result
/// the cache had under it when that run found it there. The file is read whole and
/// indexed; a node's components are decoded only to explain a change, its result only
/// for a hit. A no-op run thus reads one file, not one cache record per node: the cache
/// is still asked whether it has each key (`Backend::has_action`, a `stat`), so an
/// evicted or cleared entry is a miss as before.
///
/// The file: magic, then per node (sorted by id) `u32 id length, id, 32-byte key, u32
/// length, postcard components, u32 length, record` (an empty record: none), and last
/// a blake3 of all that.
#[derive(Debug, Default)]
pub struct LastKeys {
    bytes: Vec<u8>,
    index: Vec<Entry>,
}

/// One node's entry, as ranges of `LastKeys::bytes`.
#[derive(Debug)]
struct Entry {
    id: Range<usize>,
    key: Digest,
    components: Range<usize>,
    record: Range<usize>,
}

impl LastKeys {
    pub fn load(orch_dir: &Path) -> Self {
        std::fs::read(keys_path(orch_dir))
            .ok()
            .and_then(Self::parse)
            .unwrap_or_default()
    }

    fn parse(mut bytes: Vec<u8>) -> Option<Self> {
        fn take(bytes: &[u8], at: &mut usize, len: usize) -> Option<Range<usize>> {
            let range = *at..at.checked_add(len)?;
            bytes.get(range.clone())?;
            *at = range.end;
            Some(range)
        }
        fn length(bytes: &[u8], at: &mut usize) -> Option<usize> {
            let range = take(bytes, at, 4)?;
            let word: [u8; 4] = bytes[range].try_into().ok()?;
            usize::try_from(u32::from_le_bytes(word)).ok()
        }
        // The last 32 bytes are blake3 of the rest: damage anywhere (a flipped bit in a
        // remembered result) is forgotten state, never a misread.
        let body = orch_store::unseal(&bytes)?.len();
        if !bytes.starts_with(KEYS_MAGIC) {
            return None;
        }
        bytes.truncate(body);
        let mut at = KEYS_MAGIC.len();
        let mut index = Vec::new();
        while at < bytes.len() {
            let id_len = length(&bytes, &mut at)?;
            let id = take(&bytes, &mut at, id_len)?;
            std::str::from_utf8(&bytes[id.clone()]).ok()?;
            let key = take(&bytes, &mut at, 32)?;
            let key = Digest(bytes[key].try_into().ok()?);
            let components_len = length(&bytes, &mut at)?;
            let components = take(&bytes, &mut at, components_len)?;
            let record_len = length(&bytes, &mut at)?;
            let record = take(&bytes, &mut at, record_len)?;
            index.push(Entry {
                id,
                key,
                components,
                record,
            });
        }
        let mut keys = Self { bytes, index };
        let bytes = &keys.bytes;
        keys.index
            .sort_unstable_by(|a, b| bytes[a.id.clone()].cmp(&bytes[b.id.clone()]));
        Some(keys)
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        let found = self
            .index
            .binary_search_by(|e| self.bytes[e.id.clone()].cmp(id.as_bytes()))
            .ok()?;
        self.index.get(found)
    }

    /// The node's key at its last run.
    pub fn key(&self, id: &str) -> Option<Digest> {
        self.entry(id).map(|e| e.key)
    }

    /// What went into the node's key at its last run.
    pub fn components(&self, id: &str) -> Option<KeyComponents> {
        let entry = self.entry(id)?;
        postcard::from_bytes(&self.bytes[entry.components.clone()]).ok()
    }

    /// The result found under the node's key at its last run, if `key` is still its key.
    pub fn record(&self, id: &str, key: &Digest) -> Option<ActionResult> {
        let entry = self.entry(id).filter(|e| e.key == *key)?;
        // The whole file's checksum covered this record when it was loaded.
        decode_kept_record(&self.bytes[entry.record.clone()])
    }

    /// Whether the node's last run, under this same key, failed.
    pub fn failed(&self, id: &str, key: &Digest) -> bool {
        self.entry(id)
            .is_some_and(|e| e.key == *key && &self.bytes[e.record.clone()] == FAILED)
    }

    fn record_bytes(&self, id: &str) -> &[u8] {
        self.entry(id)
            .map_or(&[], |e| &self.bytes[e.record.clone()])
    }

    fn id(&self, range: &Range<usize>) -> &str {
        std::str::from_utf8(&self.bytes[range.clone()]).unwrap_or_default()
    }
}

/// Records the keys computed this run (and what to remember of their results), keeping
/// the other nodes' — and writes nothing when nothing changed.
pub fn save_keys(orch_dir: &Path, last: &LastKeys, fresh: &[FreshKey]) -> std::io::Result<()> {
    let record_of = |f: &'_ FreshKey| -> Vec<u8> {
        match &f.record {
            RecordUpdate::Keep if last.key(&f.node) == Some(f.key) => {
                last.record_bytes(&f.node).to_vec()
            }
            RecordUpdate::Set(bytes) => bytes.clone(),
            RecordUpdate::Failed => FAILED.to_vec(),
            RecordUpdate::Keep | RecordUpdate::Clear => Vec::new(),
        }
    };
    let unchanged = |f: &FreshKey| {
        last.key(&f.node) == Some(f.key)
            && match &f.record {
                RecordUpdate::Keep => true,
                RecordUpdate::Set(bytes) => bytes.as_slice() == last.record_bytes(&f.node),
                RecordUpdate::Clear => last.record_bytes(&f.node).is_empty(),
                RecordUpdate::Failed => last.record_bytes(&f.node) == FAILED,
            }
    };
    if fresh.iter().all(unchanged) {
        return Ok(());
    }
    type Parts<'a> = (Digest, Cow<'a, [u8]>, Cow<'a, [u8]>);
    let mut merged: BTreeMap<&str, Parts<'_>> = last
        .index
        .iter()
        .map(|e| {
            (
                last.id(&e.id),
                (
                    e.key,
                    Cow::Borrowed(&last.bytes[e.components.clone()]),
                    Cow::Borrowed(&last.bytes[e.record.clone()]),
                ),
            )
        })
        .collect();
    for f in fresh {
        let encoded = f.view().encode();
        merged.insert(
            &f.node,
            (f.key, Cow::Owned(encoded), Cow::Owned(record_of(f))),
        );
    }
    let mut bytes = KEYS_MAGIC.to_vec();
    let length = |len: usize| u32::try_from(len).map_err(std::io::Error::other);
    for (id, (key, components, record)) in &merged {
        bytes.extend(length(id.len())?.to_le_bytes());
        bytes.extend(id.as_bytes());
        bytes.extend(key.0);
        bytes.extend(length(components.len())?.to_le_bytes());
        bytes.extend(components.iter());
        bytes.extend(length(record.len())?.to_le_bytes());
        bytes.extend(record.iter());
    }
    orch_store::seal(&mut bytes);
    orch_store::replace_file(&keys_path(orch_dir), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node `node`'s key for a shell, with what to remember of its result.
    fn fresh_key(node: &str, shell: &str, record: RecordUpdate) -> FreshKey {
        let components = KeyComponents {
            node: node.into(),
            shell: shell.into(),
            ..KeyComponents::default()
        };
        FreshKey {
            node: node.into(),
            key: components.digest(),
            partial: Arc::new(components),
            inputs: Arc::default(),
            record,
        }
    }

    #[test]
    fn keys_are_merged_and_survive() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = |node: &str, shell: &str| fresh_key(node, shell, RecordUpdate::Clear);
        let none = LastKeys::default();
        save_keys(dir.path(), &none, &[fresh("b", "bash"), fresh("a", "bash")]).unwrap();
        let last = LastKeys::load(dir.path());
        assert_eq!(last.key("a"), Some(fresh("a", "bash").key));
        save_keys(dir.path(), &last, &[fresh("b", "sh")]).unwrap();
        let keys = LastKeys::load(dir.path());
        assert_eq!(keys.components("a").unwrap().shell, "bash");
        assert_eq!(keys.components("b").unwrap().shell, "sh");
        assert_eq!(keys.key("b"), Some(fresh("b", "sh").key));
        assert_eq!(keys.key("c"), None);
        std::fs::write(keys_path(dir.path()), b"junk").unwrap();
        assert!(LastKeys::load(dir.path()).key("a").is_none());
    }

    #[test]
    fn results_are_remembered_under_their_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = fresh_key("a", "", RecordUpdate::Keep).key;
        let record = ActionResult {
            orch_version: "test".into(),
            exit_code: 0,
            duration_ms: 1,
            log: None,
            files: Vec::new(),
            outputs: vec![("v".into(), "1".into())],
            summary: String::new(),
            result_digest: Digest::of(b"r"),
            artifacts: Vec::new(),
        };
        let fresh = |update: RecordUpdate| fresh_key("a", "", update);
        let set = RecordUpdate::Set(orch_store::encode_record(&record));
        save_keys(dir.path(), &LastKeys::default(), &[fresh(set)]).unwrap();
        let last = LastKeys::load(dir.path());
        assert_eq!(last.record("a", &key), Some(record.clone()));
        assert_eq!(last.record("a", &Digest::of(b"other key")), None);
        // Kept while the key stands, dropped when the node ran.
        save_keys(dir.path(), &last, &[fresh(RecordUpdate::Keep)]).unwrap();
        assert_eq!(LastKeys::load(dir.path()).record("a", &key), Some(record));
        save_keys(dir.path(), &last, &[fresh(RecordUpdate::Clear)]).unwrap();
        assert_eq!(LastKeys::load(dir.path()).record("a", &key), None);
    }

    #[test]
    fn unchanged_keys_are_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let key = fresh_key("a", "", RecordUpdate::Clear);
        save_keys(dir.path(), &LastKeys::default(), std::slice::from_ref(&key)).unwrap();
        let last = LastKeys::load(dir.path());
        std::fs::remove_file(keys_path(dir.path())).unwrap();
        save_keys(dir.path(), &last, &[key]).unwrap();
        assert!(!keys_path(dir.path()).exists());
    }

    #[test]
    fn a_damaged_or_truncated_file_is_forgotten_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let key = fresh_key("a", "", RecordUpdate::Clear);
        save_keys(dir.path(), &LastKeys::default(), &[key]).unwrap();
        let bytes = std::fs::read(keys_path(dir.path())).unwrap();
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1;
            std::fs::write(keys_path(dir.path()), &flipped).unwrap();
            assert!(LastKeys::load(dir.path()).key("a").is_none(), "bit at {at}");
        }
        for cut in 0..bytes.len() {
            std::fs::write(keys_path(dir.path()), &bytes[..cut]).unwrap();
            assert!(
                LastKeys::load(dir.path()).key("a").is_none(),
                "cut at {cut}"
            );
        }
    }
}
