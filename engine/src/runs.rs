//! The `.orch/` folder: run directories with ids, `runs/latest`, and pruning old runs.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many runs `runs/` keeps.
pub const KEEP_RUNS: usize = 50;

pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
    pub started_at: String,
}

/// `20261123T101500Z`-style UTC timestamp and `2026-11-23T10:15:00Z` of a time.
pub fn utc_stamps(time: SystemTime) -> (String, String) {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}Z"),
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
    )
}

/// Creates `.orch/runs/RUN_ID/logs` with a fresh, unique id.
pub fn create(orch_dir: &Path) -> std::io::Result<RunDir> {
    let runs = orch_dir.join("runs");
    std::fs::create_dir_all(&runs)?;
    let now = SystemTime::now();
    let (stamp, started_at) = utc_stamps(now);
    let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    for attempt in 0u32..1000 {
        let seed = format!("{nanos}-{}-{attempt}", std::process::id());
        let suffix = &blake3::hash(seed.as_bytes()).to_hex()[..4];
        let id = format!("{stamp}-{suffix}");
        let path = runs.join(&id);
        match std::fs::create_dir(&path) {
            Ok(()) => {
                std::fs::create_dir_all(path.join("logs"))?;
                return Ok(RunDir {
                    id,
                    path,
                    started_at,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not find a free run id"))
}

/// Points `runs/latest` at a run (written whole, then renamed, so readers never see half).
pub fn set_latest(orch_dir: &Path, id: &str) -> std::io::Result<()> {
    let runs = orch_dir.join("runs");
    let temp = runs.join(format!(".latest-{}", std::process::id()));
    std::fs::write(&temp, format!("{id}\n"))?;
    std::fs::rename(&temp, runs.join("latest"))
}

/// Removes the oldest run directories beyond [`KEEP_RUNS`].
pub fn prune(orch_dir: &Path) -> std::io::Result<()> {
    let runs = orch_dir.join("runs");
    let mut ids: Vec<String> = std::fs::read_dir(&runs)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.len() > 16 && name.as_bytes()[8] == b'T')
        .collect();
    ids.sort();
    let excess = ids.len().saturating_sub(KEEP_RUNS);
    for id in &ids[..excess] {
        let _ = std::fs::remove_dir_all(runs.join(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_stamps_are_right() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_428_900); // 2026-11-23T10:15:00Z
        assert_eq!(
            utc_stamps(t),
            ("20261123T101500Z".into(), "2026-11-23T10:15:00Z".into())
        );
        assert_eq!(utc_stamps(UNIX_EPOCH).1, "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_stamps(leap).1, "2000-02-29T00:00:00Z");
    }

    #[test]
    fn prune_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        for i in 0..(KEEP_RUNS + 3) {
            std::fs::create_dir_all(runs.join(format!("20260101T0000{i:02}Z-abcd"))).unwrap();
        }
        prune(dir.path()).unwrap();
        let left = std::fs::read_dir(&runs).unwrap().count();
        assert_eq!(left, KEEP_RUNS);
        assert!(!runs.join("20260101T000000Z-abcd").exists());
        assert!(
            runs.join(format!("20260101T0000{:02}Z-abcd", KEEP_RUNS + 2))
                .exists()
        );
    }
}
