//! One process of a node: spawned in its own process group, its stdout and stderr
//! through one pipe into the node's log file, ended with its whole tree on timeout or
//! cancellation.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::report::event::{Event, Observer};

/// How long a process tree gets between SIGTERM and SIGKILL: 1.5 s, or `ORCH_KILL_GRACE`.
pub fn kill_grace() -> Duration {
    static GRACE: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *GRACE.get_or_init(|| {
        std::env::var("ORCH_KILL_GRACE")
            .ok()
            .and_then(|v| crate::load::decode::values::parse_duration(&v).ok())
            .unwrap_or(Duration::from_millis(1500))
    })
}

/// Cancellation level: 0 none, 1 stop gracefully (SIGTERM, then SIGKILL), 2 kill now.
pub type Cancel = watch::Receiver<u8>;

pub struct Spawn {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// Secret values to mask in what the process prints.
    pub secrets: crate::exec::mask::Secrets,
}

#[derive(Debug)]
pub enum Outcome {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
    /// It could not start (a missing program, a bad working directory).
    NotStarted(String),
}

/// Where a program named without a `/` is on the PATH the child gets, found once per
/// run and remembered. The OS's own search tries every PATH entry with an `exec` until
/// one works (eight failed `exec`s per node here, for `true`). When a PATH entry is not
/// absolute, or nothing is found, the name is left to that search, as before.
pub(crate) fn resolve(program: &str, env: &[(String, String)]) -> PathBuf {
    static FOUND: OnceLock<Mutex<HashMap<(OsString, String), PathBuf>>> = OnceLock::new();
    if program.contains('/') || program.is_empty() {
        return PathBuf::from(program);
    }
    let path = child_path(env);
    let found = FOUND.get_or_init(Mutex::default);
    let key = (path, program.to_owned());
    if let Some(hit) = found.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return hit;
    }
    let dirs: Vec<PathBuf> = std::env::split_paths(&key.0).collect();
    if dirs.iter().any(|d| !d.is_absolute()) {
        return PathBuf::from(program);
    }
    let Some(hit) = dirs
        .iter()
        .map(|d| d.join(program))
        .find(|candidate| executable(candidate))
    else {
        return PathBuf::from(program);
    };
    if let Ok(mut m) = found.lock() {
        m.insert(key, hit.clone());
    }
    hit
}

/// The program the OS would run for `program`, started in `cwd` with `env`'s PATH (or
/// orch's): execvp's search, where an empty PATH entry is the current folder and a
/// relative one is relative to it. `None` when nothing executable is found.
pub(crate) fn locate(
    program: &str,
    env: &[(String, String)],
    cwd: &std::path::Path,
) -> Option<PathBuf> {
    if program.contains('/') {
        let candidate = cwd.join(program);
        return executable(&candidate).then_some(candidate);
    }
    let path = child_path(env);
    std::env::split_paths(&path)
        .map(|dir| cwd.join(dir).join(program))
        .find(|candidate| executable(candidate))
}

/// The PATH a child started with `env` searches: its own, or orch's.
fn child_path(env: &[(String, String)]) -> OsString {
    env.iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| OsString::from(v))
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default()
}

/// A file the OS would execute: a regular file with execute permission for us.
fn executable(candidate: &std::path::Path) -> bool {
    std::fs::metadata(candidate).is_ok_and(|m| m.is_file())
        && rustix::fs::access(candidate, rustix::fs::Access::EXEC_OK).is_ok()
}

/// Sends `signal` to every process of the group `pgid`: the group `spawn` created for
/// the node (pgid == the child's pid), never orch's own or init's.
fn kill_group(pgid: u32, signal: rustix::process::Signal) {
    let Some(pgid) = i32::try_from(pgid)
        .ok()
        .filter(|&p| p > 1)
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(pgid, signal);
}

/// Runs one process to its end, appending its output to `log`.
pub async fn run(
    spec: Spawn,
    log: &mut File,
    node: usize,
    observer: &Arc<dyn Observer>,
    mut cancel: Cancel,
) -> Outcome {
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return Outcome::NotStarted(format!("cannot create a pipe: {e}")),
    };
    let stderr = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return Outcome::NotStarted(format!("cannot create a pipe: {e}")),
    };
    let mut command = tokio::process::Command::new(resolve(&spec.program, &spec.env));
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        // orch's own credential (the remote cache's bearer token) is not the nodes'.
        .env_remove("ORCH_REMOTE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    let spawned = command.spawn();
    // Our copies of the pipe's write end must close, or the reader never sees EOF.
    drop(command);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let why = if e.kind() == std::io::ErrorKind::NotFound && !spec.cwd.is_dir() {
                format!("working directory {} does not exist", spec.cwd.display())
            } else {
                format!("cannot start `{}`: {e}", spec.program)
            };
            return Outcome::NotStarted(why);
        }
    };
    let pgid = child.id().unwrap_or(0);

    let pump = {
        let observer = observer.clone();
        let log = log.try_clone();
        let mut masker = spec.secrets.stream();
        tokio::spawn(async move {
            let Ok(mut log) = log else { return };
            let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into())
            else {
                return;
            };
            let mut buffer = vec![0u8; 64 * 1024];
            let mut lines = LatestLine::default();
            loop {
                match pipe.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let chunk = masker.feed(&buffer[..n]);
                        let _ = log.write_all(&chunk);
                        if let Some(line) = lines.feed(&chunk) {
                            observer.event(&Event::NodeOutput { node, line });
                        }
                    }
                }
            }
            let rest = masker.finish();
            let _ = log.write_all(&rest);
            if let Some(line) = lines.finish(&rest) {
                observer.event(&Event::NodeOutput { node, line });
            }
        })
    };

    let timeout = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => Outcome::Exited(s),
            Err(e) => Outcome::NotStarted(format!("cannot wait for the process: {e}")),
        },
        () = timeout => {
            stop_tree(pgid, &mut child, &mut cancel).await;
            Outcome::TimedOut
        }
        () = cancelled(&mut cancel) => {
            stop_tree(pgid, &mut child, &mut cancel).await;
            Outcome::Cancelled
        }
    };
    // Whatever the job left running in its group goes with it, as on a CI runner.
    kill_group(pgid, rustix::process::Signal::KILL);
    // A process that left the group may hold the pipe open: do not wait for it forever.
    let _ = tokio::time::timeout(Duration::from_secs(2), pump).await;
    outcome
}

async fn cancelled(cancel: &mut Cancel) {
    let _ = cancel.wait_for(|level| *level > 0).await;
    // A closed channel means nobody can cancel any more: never resolve.
    if *cancel.borrow() == 0 {
        std::future::pending::<()>().await;
    }
}

/// SIGTERM to the tree, then SIGKILL after the grace period (at once on a second Ctrl-C).
async fn stop_tree(pgid: u32, child: &mut tokio::process::Child, cancel: &mut Cancel) {
    if *cancel.borrow() < 2 {
        kill_group(pgid, rustix::process::Signal::TERM);
        let hurry = async {
            let _ = cancel.wait_for(|level| *level >= 2).await;
        };
        tokio::select! {
            _ = child.wait() => {}
            () = tokio::time::sleep(kill_grace()) => {}
            () = hurry => {}
        }
    }
    kill_group(pgid, rustix::process::Signal::KILL);
    let _ = child.wait().await;
}

/// The latest complete line of a node's output, read by read: a line the pipe delivered
/// in two pieces is reported whole, once its end arrives. Only the latest line of each
/// read is reported (a live view, not a copy of the log).
#[derive(Default)]
struct LatestLine {
    /// The text after the last newline so far (its first bytes only: a line without end
    /// must not grow without bound).
    partial: Vec<u8>,
}

impl LatestLine {
    const KEPT: usize = 4096;

    fn feed(&mut self, chunk: &[u8]) -> Option<String> {
        let Some(end) = chunk.iter().rposition(|b| *b == b'\n') else {
            self.keep(chunk);
            return None;
        };
        let mut complete = std::mem::take(&mut self.partial);
        complete.extend_from_slice(&chunk[..end]);
        self.keep(&chunk[end + 1..]);
        last_line(&complete)
    }

    fn finish(&mut self, rest: &[u8]) -> Option<String> {
        self.keep(rest);
        last_line(&std::mem::take(&mut self.partial))
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = Self::KEPT.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

fn last_line(chunk: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(chunk);
    text.lines()
        .rev()
        .map(str::trim_end)
        .find(|l| !l.is_empty())
        .map(|l| {
            let mut l = l.to_owned();
            if l.len() > 200 {
                let cut = (0..=200)
                    .rev()
                    .find(|i| l.is_char_boundary(*i))
                    .unwrap_or(0);
                l.truncate(cut);
            }
            l
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn output_lines_are_reported_whole() {
        let mut lines = LatestLine::default();
        assert_eq!(lines.feed(b"building wit"), None);
        assert_eq!(
            lines.feed(b"h ***\nnext par"),
            Some("building with ***".into())
        );
        assert_eq!(lines.feed(b"t\n\n"), Some("next part".into()));
        assert_eq!(lines.feed(b"no end"), None);
        assert_eq!(lines.finish(b" yet"), Some("no end yet".into()));
        // A line without end keeps its first bytes only.
        let mut long = LatestLine::default();
        long.feed(&vec![b'x'; 100_000]);
        assert!(long.partial.len() <= LatestLine::KEPT);
    }

    #[test]
    fn programs_are_found_on_the_childs_path_once() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, bin) = (dir.path().join("empty"), dir.path().join("bin"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let tool = bin.join("orch-test-tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Not executable: skipped, as exec would skip it.
        std::fs::write(empty.join("orch-test-tool"), "").unwrap();
        let path = format!("{}:{}", empty.display(), bin.display());
        let env = vec![("PATH".to_owned(), path)];
        assert_eq!(resolve("orch-test-tool", &env), tool);
        // Remembered: found again without looking (gone now, a search would not find it).
        std::fs::remove_file(&tool).unwrap();
        assert_eq!(resolve("orch-test-tool", &env), tool, "remembered");
        // Names with a slash, names not found, and relative PATH entries are left alone.
        assert_eq!(resolve("./x", &env), PathBuf::from("./x"));
        assert_eq!(
            resolve("orch-no-such-tool", &env),
            PathBuf::from("orch-no-such-tool")
        );
        let relative = vec![("PATH".to_owned(), format!("bin:{}", bin.display()))];
        assert_eq!(
            resolve("orch-test-tool", &relative),
            PathBuf::from("orch-test-tool")
        );
    }
}
