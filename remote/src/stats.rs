//! What the remote cache did, summed over runs, kept beside the local store
//! (`ROOT/remote-stats`, one `name value` line each) for `orch cache stats`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const FILE: &str = "remote-stats";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteStats {
    /// Results found on the server (and kept locally).
    pub hits: u64,
    /// Keys looked up there and not found (or not usable: damaged, incomplete).
    pub misses: u64,
    /// Results written there.
    pub uploads: u64,
    pub bytes_down: u64,
    pub bytes_up: u64,
    /// Calls that failed (unreachable, timed out, refused).
    pub errors: u64,
}

impl RemoteStats {
    fn fields(&mut self) -> [(&'static str, &mut u64); 6] {
        [
            ("hits", &mut self.hits),
            ("misses", &mut self.misses),
            ("uploads", &mut self.uploads),
            ("bytes_down", &mut self.bytes_down),
            ("bytes_up", &mut self.bytes_up),
            ("errors", &mut self.errors),
        ]
    }

    fn parse(text: &str) -> RemoteStats {
        let mut stats = RemoteStats::default();
        for line in text.lines() {
            let Some((name, value)) = line.split_once(' ') else {
                continue;
            };
            if let Some((_, field)) = stats.fields().into_iter().find(|(n, _)| *n == name) {
                *field = value.trim().parse().unwrap_or(0);
            }
        }
        stats
    }

    fn render(mut self) -> String {
        self.fields()
            .into_iter()
            .map(|(name, value)| format!("{name} {value}\n"))
            .collect()
    }
}

/// What the runs so far recorded in the store at `root`; `None` when no run used a
/// remote cache with it.
pub fn read_stats(root: &Path) -> Option<RemoteStats> {
    std::fs::read_to_string(root.join(FILE))
        .ok()
        .map(|text| RemoteStats::parse(&text))
}

/// This run's counts, added to the file when the run ends.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) uploads: AtomicU64,
    pub(crate) bytes_down: AtomicU64,
    pub(crate) bytes_up: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds the counts since the last save to the file, and starts them again (a watch
    /// saves after each run). Two runs ending at once may lose one's counts: these are
    /// statistics, not records.
    pub(crate) fn save(&self, root: &Path) -> std::io::Result<()> {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let run = RemoteStats {
            hits: take(&self.hits),
            misses: take(&self.misses),
            uploads: take(&self.uploads),
            bytes_down: take(&self.bytes_down),
            bytes_up: take(&self.bytes_up),
            errors: take(&self.errors),
        };
        if run == RemoteStats::default() {
            return Ok(());
        }
        let mut total = read_stats(root).unwrap_or_default();
        for ((_, sum), (_, this)) in total.fields().into_iter().zip(run.clone_fields()) {
            *sum += this;
        }
        let text = total.render();
        orch_store::replace_file(&root.join(FILE), text.as_bytes())
    }
}

impl RemoteStats {
    fn clone_fields(mut self) -> [(&'static str, u64); 6] {
        self.fields().map(|(name, value)| (name, *value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_stats(dir.path()), None);
        let run = Counters::default();
        Counters::add(&run.hits, 2);
        Counters::add(&run.bytes_down, 100);
        run.save(dir.path()).unwrap();
        run.save(dir.path()).unwrap();
        Counters::add(&run.hits, 1);
        run.save(dir.path()).unwrap();
        let total = read_stats(dir.path()).unwrap();
        assert_eq!(
            (total.hits, total.bytes_down, total.misses),
            (3, 100, 0),
            "each count saved once"
        );
    }
}
