//! `orch cache stats|verify|gc|clear`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_engine::load::diag::Problem;
use orch_store::LocalStore;

use crate::{Cli, Failure};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum CacheCommand {
    /// Entries, bytes, and the hit rate of recent runs
    Stats,
    /// Check every object's hash and every record; remove what is broken
    Verify,
    /// Evict least recently used entries
    Gc {
        /// Keep the cache under this size (e.g. 2GiB, 500MB); entries used within --grace stay
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
        /// Remove entries unused for this long (e.g. 7d, 7days, 12h, 1h 30m)
        #[arg(long, value_name = "AGE")]
        max_age: Option<String>,
        /// Never remove entries written or used less than this long ago, so that a run
        /// beside gc is not broken (default 10m; 0s removes whatever the limits say)
        #[arg(long, value_name = "AGE", default_value = "10m")]
        grace: String,
    },
    /// Remove everything
    Clear,
}

/// A duration as people write it (`7d`, `7days`, `12h`, `1h 30m`, `90s`, `0`).
fn age(flag: &str, text: &str) -> Result<Duration, Problem> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        Problem::general(format!("{flag} {text}: {e}"))
            .with_help("a duration such as 7d, 7days, 12h, 1h 30m, 90s or 0")
    })
}

pub(crate) fn cache(
    cli: &Cli,
    own: &crate::CacheArgs,
    command: &CacheCommand,
) -> Result<u8, Failure> {
    let options = cli.cache(own);
    let (dir, orch_dir) = cache_dir(cli, options.dir.as_ref())?;
    let store = LocalStore::open_with_mode(&dir, options.mode == crate::CacheMode::Group)
        .map_err(|e| Problem::general(format!("cannot open the cache: {e}")))?;
    match command {
        CacheCommand::Stats => {
            let stats = store.stats();
            println!("cache      {}", dir.display());
            println!("blobs      {} ({})", stats.blobs, bytes(stats.blob_bytes));
            println!(
                "records    {} ({})",
                stats.actions,
                bytes(stats.action_bytes)
            );
            if let Some(orch_dir) = orch_dir
                && let Some((cached, ran, runs)) = hit_rate(&orch_dir)
            {
                let rate = if cached + ran == 0 {
                    0.0
                } else {
                    100.0 * cached as f64 / (cached + ran) as f64
                };
                // The rate is the recent runs', not the cache's: an emptied cache says so.
                let now = if stats.actions == 0 {
                    "; the cache is empty now"
                } else {
                    ""
                };
                println!(
                    "hit rate   {rate:.1}% ({cached} cached, {ran} run, over the last {runs} runs{now})"
                );
            }
            if let Some(remote) = orch_remote::read_stats(&dir) {
                println!(
                    "remote: {} hits, {} misses, {} results written, {} down, {} up, {} failed calls",
                    remote.hits,
                    remote.misses,
                    remote.uploads,
                    bytes(remote.bytes_down),
                    bytes(remote.bytes_up),
                    remote.errors
                );
            }
            Ok(0)
        }
        CacheCommand::Verify => {
            let report = store.verify();
            for entry in &report.removed {
                println!("removed broken entry {entry}");
            }
            println!(
                "{} entries checked, {} broken",
                report.checked,
                report.removed.len()
            );
            Ok(u8::from(!report.removed.is_empty()))
        }
        CacheCommand::Gc {
            max_size,
            max_age,
            grace,
        } => {
            let max_size = max_size.as_deref().map(parse_size).transpose()?;
            let max_age = max_age
                .as_deref()
                .map(|a| age("--max-age", a))
                .transpose()?;
            if max_size.is_none() && max_age.is_none() {
                return Err(Problem::general("gc needs --max-size or --max-age").into());
            }
            let grace_time = age("--grace", grace)?;
            let report = store.gc(max_size, max_age, grace_time);
            println!(
                "removed {} entries ({}), kept {} ({}); entries used in the last {grace} are always kept (--grace)",
                report.removed,
                bytes(report.freed_bytes),
                report.kept,
                bytes(report.kept_bytes)
            );
            Ok(0)
        }
        CacheCommand::Clear => {
            store
                .clear()
                .map_err(|e| Problem::general(format!("cannot clear the cache: {e}")))?;
            println!("cleared {}", dir.display());
            Ok(0)
        }
    }
}

/// `--cache-dir`, or `.orch/cache` of the workspace (with the `.orch` folder, for stats).
fn cache_dir(cli: &Cli, dir: Option<&PathBuf>) -> Result<(PathBuf, Option<PathBuf>), Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Problem::general(format!("cannot read the current directory: {e}")))?;
    let located = crate::locate(cli, &cwd);
    let orch_dir = located.as_ref().ok().map(|l| l.workspace.join(".orch"));
    match (dir, orch_dir) {
        (Some(dir), orch_dir) => Ok((cwd.join(dir), orch_dir)),
        (None, Some(orch_dir)) => Ok((orch_dir.join("cache"), Some(orch_dir))),
        (None, None) => Err(located
            .err()
            .unwrap_or_else(|| Problem::general("no cache directory").into())),
    }
}

/// Cached and run node counts over the recent runs' summaries.
fn hit_rate(orch_dir: &Path) -> Option<(u64, u64, usize)> {
    let runs = std::fs::read_dir(orch_dir.join("runs")).ok()?;
    let (mut cached, mut ran, mut count) = (0, 0, 0);
    // Run folders only: `last` links to one of them.
    for run in runs
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
    {
        let Ok(text) = std::fs::read_to_string(run.path().join("summary.json")) else {
            continue;
        };
        let Ok(summary) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let c = &summary["counts"];
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        cached += n("cached");
        ran += (n("success") + n("failure")).saturating_sub(n("cached"));
        count += 1;
    }
    (count > 0).then_some((cached, ran, count))
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `2GiB`, `500MB`, `10k`, `1048576`.
fn parse_size(text: &str) -> Result<u64, Problem> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| Problem::general(format!("--max-size {text}: expected a size like 2GiB")))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => {
            return Err(Problem::general(format!(
                "--max-size {text}: unknown unit `{other}`"
            )));
        }
    };
    Ok((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GiB").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("10").unwrap(), 10);
        assert!(parse_size("lots").is_err());
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
