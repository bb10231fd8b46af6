//! What orch remembers between runs in `.orch/state/`: each node's last key components
//! (to explain a miss) beside the stat cache. Unreadable state is forgotten state: it
//! only makes the next explanation say "no previous run".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::key::KeyComponents;

const KEYS_MAGIC: &[u8; 8] = b"ORCHKYv1";

pub fn dir(orch_dir: &Path) -> PathBuf {
    orch_dir.join("state")
}

pub fn stat_cache_path(orch_dir: &Path) -> PathBuf {
    dir(orch_dir).join("stat-cache")
}

fn keys_path(orch_dir: &Path) -> PathBuf {
    dir(orch_dir).join("keys")
}

pub fn load_keys(orch_dir: &Path) -> BTreeMap<String, KeyComponents> {
    std::fs::read(keys_path(orch_dir))
        .ok()
        .and_then(|bytes| postcard::from_bytes(bytes.strip_prefix(KEYS_MAGIC.as_slice())?).ok())
        .unwrap_or_default()
}

/// Records the components of the nodes that computed a key this run, keeping the rest.
pub fn save_keys(orch_dir: &Path, fresh: Vec<(String, KeyComponents)>) -> std::io::Result<()> {
    if fresh.is_empty() {
        return Ok(());
    }
    let mut keys = load_keys(orch_dir);
    keys.extend(fresh);
    let path = keys_path(orch_dir);
    std::fs::create_dir_all(dir(orch_dir))?;
    let mut bytes = KEYS_MAGIC.to_vec();
    bytes.extend(postcard::to_allocvec(&keys).map_err(std::io::Error::other)?);
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_merged_and_survive() {
        let dir = tempfile::tempdir().unwrap();
        let k = |node: &str| KeyComponents {
            node: node.into(),
            ..KeyComponents::default()
        };
        save_keys(dir.path(), vec![("a".into(), k("a")), ("b".into(), k("b"))]).unwrap();
        save_keys(
            dir.path(),
            vec![(
                "b".into(),
                KeyComponents {
                    shell: "sh".into(),
                    ..k("b")
                },
            )],
        )
        .unwrap();
        let keys = load_keys(dir.path());
        assert_eq!(keys.len(), 2);
        assert_eq!(keys["b"].shell, "sh");
        std::fs::write(keys_path(dir.path()), b"junk").unwrap();
        assert!(load_keys(dir.path()).is_empty());
    }
}
