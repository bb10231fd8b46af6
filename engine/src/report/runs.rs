//! The `.orch/` folder: run directories with ids, `runs/latest`, and pruning old runs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orch_store::{Backend, BlobDigest};

/// A node's log file name (without `.log`), readable and needing no quoting in a shell:
/// the job id with `/` as `.`, then `.axis=value` for each matrix value, anything outside
/// letters, digits and `_-+,@` percent-encoded (`=` too, but in a value) — so that no two
/// nodes share a name. `build[os=linux]` → `build.os=linux`, `setup/build` → `setup.build`.
pub fn node_file_name(graph: &crate::compile::graph::Graph, node: usize) -> String {
    let spec = &graph.nodes[node];
    log_name(&graph.jobs[spec.job].id, &spec.matrix)
}

/// [`node_file_name`] of a job id and matrix values.
pub fn log_name(job_id: &str, matrix: &crate::load::model::Combination) -> String {
    fn encode(out: &mut String, text: &str, keep: &[char]) {
        for c in text.chars() {
            if c.is_ascii_alphanumeric() || "_-+,@".contains(c) || keep.contains(&c) {
                out.push(c);
            } else {
                let mut bytes = [0u8; 4];
                for b in c.encode_utf8(&mut bytes).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    let mut name = String::with_capacity(job_id.len() + 16);
    for (i, part) in job_id.split('/').enumerate() {
        if i > 0 {
            name.push('.');
        }
        encode(&mut name, part, &[]);
    }
    for (axis, value) in matrix {
        name.push('.');
        encode(&mut name, axis, &[]);
        name.push('=');
        encode(&mut name, &value.to_string(), &['=']);
    }
    bounded(name, job_id, matrix)
}

/// Names longer than 200 bytes keep their start and a digest of what they stand for.
fn bounded(name: String, job_id: &str, matrix: &crate::load::model::Combination) -> String {
    const LONGEST: usize = 200;
    if name.len() <= LONGEST {
        return name;
    }
    let mut end = LONGEST - 17;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let identity: Vec<String> = matrix
        .iter()
        .map(|(a, v)| format!("{a}\0{}", v.key_text()))
        .collect();
    let digest =
        orch_store::Digest::of(format!("{job_id}\0{}", identity.join("\0")).as_bytes()).to_hex();
    format!("{}~{}", &name[..end], &digest[..16])
}

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

/// Points `runs/latest` at a run (a file holding its id, written whole, as the spec has
/// it), and `runs/last` too: a symbolic link to the run's folder, so that
/// `cat .orch/runs/last/summary.md` works. The link is made beside and renamed over the
/// old one, so a reader finds the previous run or the new one, never none.
pub fn set_latest(orch_dir: &Path, id: &str) -> std::io::Result<()> {
    let runs = orch_dir.join("runs");
    orch_store::replace_file(&runs.join("latest"), format!("{id}\n").as_bytes())?;
    let temp = runs.join(format!(".last-{}", orch_store::temp_name()));
    std::os::unix::fs::symlink(id, &temp)?;
    std::fs::rename(&temp, runs.join("last")).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Removes the oldest run directories beyond [`KEEP_RUNS`], then the log sets no run
/// links to any more.
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
    if excess > 0 {
        prune_log_sets(orch_dir, &ids[excess..]);
    }
    Ok(())
}

/// Where the log sets of fully cached runs live (see [`place_logs`]).
fn log_sets(orch_dir: &Path) -> PathBuf {
    orch_dir.join("logsets")
}

/// A log set younger than this is never removed: a run may be about to link to it.
const LOG_SET_GRACE: Duration = Duration::from_secs(600);

fn prune_log_sets(orch_dir: &Path, kept_runs: &[String]) {
    let Ok(entries) = std::fs::read_dir(log_sets(orch_dir)) else {
        return;
    };
    let runs = orch_dir.join("runs");
    let linked: HashSet<std::ffi::OsString> = kept_runs
        .iter()
        .filter_map(|id| std::fs::read_link(runs.join(id).join("logs")).ok())
        .filter_map(|target| target.file_name().map(ToOwned::to_owned))
        .collect();
    let now = SystemTime::now();
    for entry in entries.filter_map(Result::ok) {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > LOG_SET_GRACE);
        if old && !linked.contains(&entry.file_name()) {
            discard_folder(&entry.path());
        }
    }
}

/// Removes a folder as one step a reader can see: renamed aside first, so a log set is
/// either whole or gone, never half-removed (a crash mid-way leaves only the aside copy).
fn discard_folder(path: &Path) {
    let Some(name) = path.file_name() else {
        return;
    };
    let aside = path.with_file_name(format!(
        ".trash-{}-{}",
        std::process::id(),
        name.to_string_lossy()
    ));
    if std::fs::rename(path, &aside).is_ok() {
        let _ = std::fs::remove_dir_all(&aside);
    }
}

/// A cached node's log to place: its file name in `logs/` and its blob.
pub struct CachedLog {
    pub file_name: String,
    pub blob: Option<BlobDigest>,
}

/// Puts cached nodes' logs into a run's `logs/` when the run ends.
///
/// A run in which nothing ran (a no-op or a full hit, run again and again) links its
/// `logs` to a *log set*: `.orch/logsets/HEX/`, one folder per distinct set of (file,
/// blob), made once and shared by every such run. Creating a directory entry costs more
/// than anything else a no-op does, so this saves one per node per run. Otherwise each
/// cached log is linked (or copied) into the run's own `logs/`. A blob the cache no
/// longer has becomes a line saying so.
pub async fn place_logs(
    orch_dir: &Path,
    run_path: &Path,
    cached: &[CachedLog],
    anything_ran: bool,
    backend: &dyn Backend,
) {
    let logs = run_path.join("logs");
    if cached.is_empty() {
        return;
    }
    if !anything_ran
        && cached.iter().all(|c| c.blob.is_some())
        && let Some(set) = log_set(orch_dir, cached, backend).await
        && std::fs::remove_dir(&logs).is_ok()
    {
        let target = Path::new("../../logsets").join(&set);
        if std::os::unix::fs::symlink(&target, &logs).is_ok() {
            return;
        }
        let _ = std::fs::create_dir_all(&logs);
    }
    for log in cached {
        fill_log(&logs.join(&log.file_name), log.blob.as_ref(), backend).await;
    }
}

/// The log set holding exactly `cached`, made if missing; `None` when it cannot be made.
async fn log_set(orch_dir: &Path, cached: &[CachedLog], backend: &dyn Backend) -> Option<String> {
    let mut entries: Vec<(&str, &BlobDigest)> = cached
        .iter()
        .filter_map(|c| Some((c.file_name.as_str(), c.blob.as_ref()?)))
        .collect();
    entries.sort_unstable();
    let mut hasher = blake3::Hasher::new();
    for (name, blob) in &entries {
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        hasher.update(&blob.hash.0);
    }
    let name = hasher.finalize().to_hex()[..32].to_owned();
    let sets = log_sets(orch_dir);
    let set = sets.join(&name);
    // Marked as just used, so that a prune running beside us leaves it alone; then it
    // must hold every log (a file removed through a run's `logs` link is gone from the
    // set): if not, it is set aside and made again.
    if std::fs::File::open(&set)
        .and_then(|dir| dir.set_modified(SystemTime::now()))
        .is_ok()
    {
        let held = std::fs::read_dir(&set).map_or(0, |files| files.count());
        if held == entries.len() {
            return Some(name);
        }
        discard_folder(&set);
    }
    std::fs::create_dir_all(&sets).ok()?;
    let temp = sets.join(format!(".tmp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir(&temp).ok()?;
    let mut made = true;
    for (file, blob) in &entries {
        if !place_blob(backend, blob, &temp.join(file)).await {
            made = false;
            break;
        }
    }
    // Another process may have made the same set first: then use theirs.
    let placed = made && (std::fs::rename(&temp, &set).is_ok() || set.is_dir());
    let _ = std::fs::remove_dir_all(&temp);
    placed.then_some(name)
}

/// What stands for a cached node's log that the cache no longer has.
pub const MISSING_LOG: &str = "orch: restored from the cache; its log is no longer there\n";

async fn fill_log(path: &Path, blob: Option<&BlobDigest>, backend: &dyn Backend) {
    let linked = match blob {
        Some(blob) => place_blob(backend, blob, path).await,
        None => false,
    };
    if !linked {
        let _ = std::fs::write(path, MISSING_LOG);
    }
}

/// Puts a blob (a log) at `dest` for reading: a hard link to the backend's own file
/// where it keeps one (one call; a blob changed through the link fails its next
/// verification and is removed), else its verified bytes written. False when the backend
/// does not have it.
async fn place_blob(backend: &dyn Backend, blob: &BlobDigest, dest: &Path) -> bool {
    if let Some(file) = backend.local_file(blob) {
        match std::fs::hard_link(&file, dest) {
            Ok(()) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(dest);
                if std::fs::hard_link(&file, dest).is_ok() {
                    return true;
                }
            }
            Err(_) => {}
        }
    }
    match backend.read_blob(blob).await {
        Ok(Some(bytes)) => std::fs::write(dest, bytes).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_names_need_no_quoting_and_stay_apart() {
        use crate::load::model::Scalar;
        let m = |pairs: &[(&str, &str)]| -> crate::load::model::Combination {
            pairs
                .iter()
                .map(|(a, v)| ((*a).to_owned(), Scalar::Str((*v).to_owned())))
                .collect()
        };
        assert_eq!(log_name("build", &m(&[("os", "linux")])), "build.os=linux");
        assert_eq!(
            log_name("test", &m(&[("suite", "unit"), ("target", "x86_64")])),
            "test.suite=unit.target=x86_64"
        );
        assert_eq!(log_name("setup/build", &m(&[])), "setup.build");
        assert_eq!(
            log_name("t", &m(&[("v", "a b/c*[d]")])),
            "t.v=a%20b%2Fc%2A%5Bd%5D"
        );
        // A job path and a matrix value that read alike are still apart.
        assert_ne!(log_name("a/b", &m(&[])), log_name("a", &m(&[("b", "")])));
        assert_ne!(
            log_name("a", &m(&[("b.c", "d")])),
            log_name("a/b", &m(&[("c", "d")]))
        );
        assert_ne!(
            log_name("a", &m(&[("k", "1.x")])),
            log_name("a", &m(&[("k", "1"), ("x", "")]))
        );
        let safe = |c: char| c.is_ascii_alphanumeric() || "_-+,@%=.".contains(c);
        assert!(
            log_name("t", &m(&[("v", "$(rm -rf ~); `x` 'q' \"d\" ü")]))
                .chars()
                .all(safe)
        );
        let long = "x".repeat(300);
        assert!(log_name("t", &m(&[("v", &long)])).len() <= 200);
        assert_ne!(
            log_name("t", &m(&[("v", &long)])),
            log_name("t", &m(&[("v", &format!("{long}y"))]))
        );
    }

    #[test]
    fn long_ids_make_names_a_file_system_takes() {
        use crate::load::model::Scalar;
        let value = |v: String| vec![("value".to_owned(), Scalar::Str(v))];
        let name = log_name("test", &value("é".repeat(300)));
        assert!(name.len() <= 200, "{}", name.len());
        assert_ne!(
            name,
            log_name("test", &value(format!("{}x", "é".repeat(300)))),
            "still unique"
        );
        assert!(name.starts_with("test.value=%C3%A9"), "{name}");
    }

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

    #[test]
    fn prune_removes_log_sets_no_run_links_to() {
        let dir = tempfile::tempdir().unwrap();
        let orch = dir.path();
        let runs = orch.join("runs");
        let sets = orch.join("logsets");
        for set in ["old", "linked", "young"] {
            std::fs::create_dir_all(sets.join(set)).unwrap();
        }
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        for set in ["old", "linked"] {
            let folder = std::fs::File::open(sets.join(set)).unwrap();
            folder.set_modified(long_ago).unwrap();
        }
        for i in 0..(KEEP_RUNS + 1) {
            let run = runs.join(format!("20260101T0000{i:02}Z-abcd"));
            std::fs::create_dir_all(&run).unwrap();
            // The oldest run (pruned) links to "old", the newest to "linked".
            let set = if i == 0 { "old" } else { "linked" };
            std::os::unix::fs::symlink(Path::new("../../logsets").join(set), run.join("logs"))
                .unwrap();
        }
        prune(orch).unwrap();
        assert!(!sets.join("old").exists(), "unlinked and old: removed");
        assert!(sets.join("linked").exists(), "a kept run links to it");
        assert!(sets.join("young").exists(), "too young to remove");
        let newest = runs.join(format!("20260101T0000{KEEP_RUNS:02}Z-abcd"));
        assert!(newest.join("logs").is_dir(), "the link resolves");
    }
}
