//! The one way orch writes a file that others read while it may be running (store
//! entries, `.orch/state`, summaries, `runs/latest`): into a temporary file on the same
//! filesystem, then renamed over the destination, so a reader sees the old file or the
//! new one, never half of either. A failed write removes its temporary file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// A temporary file name no other writer (thread or process) uses at the same time.
pub fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{n}-{nanos}.tmp", std::process::id())
}

/// A temporary path beside `dest` (hidden, in the same folder, so on the same filesystem).
pub fn temp_beside(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    dest.with_file_name(format!(".{name}.{}", temp_name()))
}

/// Writes `dest` whole through `temp` (which the caller chose on `dest`'s filesystem); the
/// folders of both are created when missing.
///
/// Never fsynced, so no run waits on the disk: store entries and state files are verified
/// or unsealed when read (what a power loss damages is a miss, DESIGN.md, "Caching"), and
/// the rest (summaries, `runs/latest`, an imported playbook) is written again by the next
/// run or command.
pub fn replace_through(
    temp: &Path,
    dest: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let result = (|| {
        let mut file = match File::create(temp) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(folder) = temp.parent() {
                    fs::create_dir_all(folder)?;
                }
                File::create(temp)?
            }
            created => created?,
        };
        write(&mut file)?;
        drop(file);
        if let Some(parent) = dest.parent()
            && Some(parent) != temp.parent()
        {
            fs::create_dir_all(parent)?;
        }
        fs::rename(temp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

/// Writes `bytes` to `dest` whole, through a temporary file beside it.
pub fn replace_file(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace_through(&temp_beside(dest), dest, |f| f.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("state/keys");
        replace_file(&dest, b"old").unwrap();
        let failed = replace_through(&temp_beside(&dest), &dest, |f| {
            f.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        let left: Vec<_> = fs::read_dir(dest.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the destination remains");
        replace_file(&dest, b"new").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
    }
}
