//! One process of a node: spawned in its own process group, its stdout and stderr
//! through one pipe into the node's log file, ended with its whole tree on timeout or
//! cancellation.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::event::{Event, Observer};

/// How long a process tree gets between SIGTERM and SIGKILL: 1.5 s, or `ORCH_KILL_GRACE`.
pub fn kill_grace() -> Duration {
    static GRACE: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *GRACE.get_or_init(|| {
        std::env::var("ORCH_KILL_GRACE")
            .ok()
            .and_then(|v| crate::playbook::decode::parse_duration(&v).ok())
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
    pub secrets: crate::mask::Secrets,
}

#[derive(Debug)]
pub enum Outcome {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
    /// It could not start (a missing program, a bad working directory).
    NotStarted(String),
}

/// Sends `signal` to every process of the group `pgid`.
#[allow(unsafe_code)]
fn kill_group(pgid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) has no memory effects; a negative pid addresses the process group
    // that `spawn` created for this node (pgid == the child's pid), never orch's own.
    unsafe {
        libc::kill(-pgid, signal);
    }
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
    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
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
            loop {
                match pipe.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let chunk = masker.feed(&buffer[..n]);
                        let _ = log.write_all(&chunk);
                        if let Some(line) = last_line(&chunk) {
                            observer.event(&Event::NodeOutput { node, line });
                        }
                    }
                }
            }
            let _ = log.write_all(&masker.finish());
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
    kill_group(pgid, libc::SIGKILL);
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
        kill_group(pgid, libc::SIGTERM);
        let hurry = async {
            let _ = cancel.wait_for(|level| *level >= 2).await;
        };
        tokio::select! {
            _ = child.wait() => {}
            () = tokio::time::sleep(kill_grace()) => {}
            () = hurry => {}
        }
    }
    kill_group(pgid, libc::SIGKILL);
    let _ = child.wait().await;
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
