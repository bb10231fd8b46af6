//! `orch worker`: a worker for a farm that speaks the Remote Workers (Bots) API, such
//! as BuildGrid. It keeps one bot session, takes the leases it is given (up to its
//! capacity), and for each: the Action and Command from the CAS, the input root written
//! into a private folder, the command run there with exactly its environment and its
//! time limit, its outputs and logs uploaded, and the ActionResult handed back with the
//! lease. A lease the server withdraws is cancelled: its process group is killed.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::protobuf::Any;
use bazel_remote_apis::google::rpc::Status;
use prost::Message;

use crate::bots::{
    BotSession, BotStatus, BotsClient, CreateBotSessionRequest, Device, KeyValue, LeaseState,
    UpdateBotSessionRequest, Worker,
};
use crate::client::{CallError, Client, Session, Source};
use crate::digests::{RemoteDigest, name_file};
use crate::{RemoteOptions, SettingsError};

/// How long the server may hold an UpdateBotSession waiting for work (it answers after
/// ~80 % of the deadline): short enough that a finished lease is told soon.
const POLL_DEADLINE: Duration = Duration::from_secs(20);
/// An action without a time limit gets this one.
const DEFAULT_LIMIT: Duration = Duration::from_secs(3600);
/// UpdateBotSession failures in a row that end the worker.
const MAX_FAILURES: u32 = 10;
const ACTION_TYPE: &str = "type.googleapis.com/build.bazel.remote.execution.v2.Action";
const RESULT_TYPE: &str = "type.googleapis.com/build.bazel.remote.execution.v2.ActionResult";

pub struct WorkerOptions {
    pub remote: RemoteOptions,
    /// Leases run at once.
    pub capacity: usize,
    /// Where each lease gets its private folder (`None`: a new folder of its own under
    /// the system's temp, not a name another user could take first).
    pub work_dir: Option<PathBuf>,
    pub bot_id: String,
    /// Offered to the scheduler beside `OSFamily` and `ISA` (matched against actions'
    /// platforms).
    pub properties: Vec<(String, String)>,
    /// What the worker says about its work (one line each).
    pub say: Arc<dyn Fn(String) + Send + Sync>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Server(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

type LeaseEnd = (String, Result<reapi::ActionResult, Status>);

/// Serves leases until `stop` resolves (Ctrl-C), then ends its session.
pub async fn serve(
    options: WorkerOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), WorkerError> {
    let own_dir = match &options.work_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("orch-worker-")
                .tempdir()
                .map_err(|source| WorkerError::Io {
                    path: std::env::temp_dir().display().to_string(),
                    source,
                })?,
        ),
    };
    let work_dir = match (&options.work_dir, &own_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(own)) => own.path().to_path_buf(),
        (None, None) => std::env::temp_dir(),
    };
    std::fs::create_dir_all(&work_dir).map_err(|source| WorkerError::Io {
        path: work_dir.display().to_string(),
        source,
    })?;
    let client = Arc::new(Client::new(&options.remote)?);
    let session = client.session().await.ok_or_else(|| {
        WorkerError::Server(format!(
            "{}: cannot be reached",
            options.remote.address.text
        ))
    })?;
    let mut bots = BotsClient::new(session.channel.clone());
    let mut properties = vec![
        KeyValue {
            key: "OSFamily".into(),
            value: std::env::consts::OS.into(),
        },
        KeyValue {
            key: "ISA".into(),
            value: std::env::consts::ARCH.into(),
        },
    ];
    properties.extend(options.properties.iter().map(|(k, v)| KeyValue {
        key: k.clone(),
        value: v.clone(),
    }));
    let mut bot = BotSession {
        bot_id: options.bot_id.clone(),
        status: BotStatus::Ok as i32,
        worker: Some(Worker {
            devices: vec![Device {
                handle: options.bot_id.clone(),
                properties,
            }],
            configs: vec![KeyValue {
                key: "capacity".into(),
                value: options.capacity.max(1).to_string(),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let create = CreateBotSessionRequest {
        parent: client.instance.clone(),
        bot_session: Some(bot.clone()),
    };
    bot = bots
        .create(polling(client.request(create)))
        .await
        .map_err(|s| WorkerError::Server(format!("CreateBotSession: {}", s.message())))?;
    (options.say)(format!(
        "orch worker {}: session {}",
        options.bot_id, bot.name
    ));
    let (ended_tx, mut ended_rx) = tokio::sync::mpsc::unbounded_channel::<LeaseEnd>();
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut finished: Vec<LeaseEnd> = Vec::new();
    let mut failures: u32 = 0;
    tokio::pin!(stop);
    loop {
        // Start what is new; what the server withdrew (or cancelled) is stopped.
        let offered: Vec<String> = bot.leases.iter().map(|l| l.id.clone()).collect();
        for lease in &bot.leases {
            if lease.state == LeaseState::Active as i32 && !running.contains_key(&lease.id) {
                let id = lease.id.clone();
                (options.say)(format!("lease {id}: started"));
                let task = tokio::spawn(run_lease(
                    client.clone(),
                    work_dir.clone(),
                    options.bot_id.clone(),
                    lease.payload.clone(),
                    id.clone(),
                    ended_tx.clone(),
                ));
                running.insert(id, task);
            }
        }
        running.retain(|id, task| {
            let keep = bot
                .leases
                .iter()
                .any(|l| &l.id == id && l.state == LeaseState::Active as i32);
            if !keep {
                (options.say)(format!("lease {id}: cancelled by the server"));
                task.abort();
            }
            keep
        });
        finished.retain(|(id, _)| offered.contains(id));
        // Tell what ended: each lease that finished goes back completed, with its result.
        for lease in bot.leases.iter_mut() {
            if let Some((_, end)) = finished.iter().find(|(id, _)| *id == lease.id) {
                lease.state = LeaseState::Completed as i32;
                match end {
                    Ok(result) => {
                        lease.status = Some(Status::default());
                        lease.result = Some(Any {
                            type_url: RESULT_TYPE.into(),
                            value: result.encode_to_vec(),
                        });
                    }
                    Err(status) => lease.status = Some(status.clone()),
                }
                running.remove(&lease.id);
            }
        }
        // At capacity the server answers at once: a pause (or an end) comes first, so
        // the session is not asked again and again for nothing.
        if running.len() >= options.capacity.max(1) && finished.is_empty() {
            tokio::select! {
                Some(end) = ended_rx.recv() => finished.push(end),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = &mut stop => {
                    for task in running.values() {
                        task.abort();
                    }
                    return Ok(());
                }
            }
            if !finished.is_empty() {
                continue;
            }
        }
        let update = UpdateBotSessionRequest {
            name: bot.name.clone(),
            bot_session: Some(bot.clone()),
        };
        let reported = !finished.is_empty();
        let call = bots.update(polling(client.request(update)));
        tokio::pin!(call);
        let answer = tokio::select! {
            answer = &mut call => Some(answer),
            // A lease ended while the server held the call: asked again at once, with it
            // (only when nothing is being reported, so no report is lost).
            Some(end) = ended_rx.recv(), if !reported => {
                finished.push(end);
                None
            }
            () = &mut stop => {
                for task in running.values() {
                    task.abort();
                }
                return Ok(());
            }
        };
        match answer {
            Some(Ok(next)) => {
                if reported {
                    for (id, _) in finished.drain(..) {
                        (options.say)(format!("lease {id}: reported"));
                    }
                }
                bot = next;
                while let Ok(end) = ended_rx.try_recv() {
                    finished.push(end);
                }
            }
            Some(Err(status)) => {
                // A busy or briefly unreachable server is asked again (what ended is
                // still to be told); many failures in a row end the worker.
                failures += 1;
                let why = format!("UpdateBotSession: {}: {}", status.code(), status.message());
                if failures >= MAX_FAILURES {
                    for task in running.values() {
                        task.abort();
                    }
                    return Err(WorkerError::Server(why));
                }
                (options.say)(format!("{why} (asking again)"));
                tokio::time::sleep(Duration::from_secs(failures.min(10).into())).await;
                continue;
            }
            None => {}
        }
        failures = 0;
    }
}

/// A call the server may hold until work comes: its deadline says for how long.
fn polling<T>(mut request: tonic::Request<T>) -> tonic::Request<T> {
    request.set_timeout(POLL_DEADLINE);
    request
}

async fn run_lease(
    client: Arc<Client>,
    work_dir: PathBuf,
    bot_id: String,
    payload: Option<Any>,
    id: String,
    ended: tokio::sync::mpsc::UnboundedSender<LeaseEnd>,
) {
    // Run as a task of its own, so that a panic still ends the lease (as a failure).
    let work = tokio::spawn(async move {
        match client.session().await {
            Some(session) => run_action(&client, session, &work_dir, &bot_id, payload)
                .await
                .map_err(|e| status(tonic::Code::Internal, e.to_string())),
            None => Err(status(
                tonic::Code::Unavailable,
                "the CAS cannot be reached".into(),
            )),
        }
    });
    // Aborted itself (the lease was withdrawn), it takes the work with it.
    let abort = work.abort_handle();
    let _stop_work = scopeguard(move || abort.abort());
    let end = match work.await {
        Ok(end) => end.and_then(|r| r),
        Err(e) => Err(status(
            tonic::Code::Internal,
            format!("the lease's work failed: {e}"),
        )),
    };
    let _ = ended.send((id, end));
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

fn status(code: tonic::Code, message: String) -> Status {
    Status {
        code: code as i32,
        message,
        details: Vec::new(),
    }
}

/// One action: its result, or the status that says why it has none (a timed-out
/// action's outputs are uploaded, but only DEADLINE_EXCEEDED is told).
async fn run_action(
    client: &Client,
    session: &Session,
    work_dir: &Path,
    bot_id: &str,
    payload: Option<Any>,
) -> Result<Result<reapi::ActionResult, Status>, CallError> {
    let bad = |why: &str| Ok(Err(status(tonic::Code::InvalidArgument, why.into())));
    let Some(payload) = payload.filter(|p| p.type_url == ACTION_TYPE) else {
        return bad("the lease carries no Action");
    };
    let Ok(action) = reapi::Action::decode(payload.value.as_slice()) else {
        return bad("the lease's Action does not decode");
    };
    let fetch = |digest: Option<reapi::Digest>| async move {
        let digest = digest
            .as_ref()
            .and_then(RemoteDigest::from_wire)
            .ok_or_else(|| CallError::Reply("a malformed digest".into()))?;
        client
            .read_verified(session, digest)
            .await?
            .ok_or_else(|| CallError::Reply(format!("blob {} is not in the CAS", digest.hex())))
    };
    let Ok(command) = reapi::Command::decode(fetch(action.command_digest).await?.as_slice()) else {
        return bad("the Command does not decode");
    };
    let folder = tempfile::Builder::new()
        .prefix("lease-")
        .tempdir_in(work_dir)?;
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o700))?;
    let root = folder.path().join("root");
    std::fs::create_dir(&root)?;
    // The input root, folder by folder.
    let mut folders = vec![(root.clone(), action.input_root_digest)];
    while let Some((at, digest)) = folders.pop() {
        let Ok(directory) = reapi::Directory::decode(fetch(digest).await?.as_slice()) else {
            return bad("a Directory of the input root does not decode");
        };
        for file in &directory.files {
            let Some(path) = child(&at, &file.name) else {
                return bad("a file name that is not one plain name");
            };
            let bytes = fetch(file.digest.clone()).await?;
            std::fs::write(&path, bytes)?;
            let mode = if file.is_executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        }
        for link in &directory.symlinks {
            let Some(path) = child(&at, &link.name) else {
                return bad("a link name that is not one plain name");
            };
            if !link_stays_inside(&root, &at, &link.target) {
                return bad("a link out of the input root");
            }
            std::os::unix::fs::symlink(&link.target, &path)?;
        }
        for sub in &directory.directories {
            let Some(path) = child(&at, &sub.name) else {
                return bad("a folder name that is not one plain name");
            };
            std::fs::create_dir(&path)?;
            folders.push((path, sub.digest.clone()));
        }
    }
    let Some(cwd) = inside(&root, &command.working_directory) else {
        return bad("a working directory outside the input root");
    };
    let mut outputs = Vec::new();
    for path in &command.output_paths {
        let Some(full) = inside(&cwd, path).filter(|p| p != &cwd) else {
            return bad("an output path outside the input root");
        };
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        outputs.push((path.clone(), full));
    }
    let Some((program, args)) = command.arguments.split_first() else {
        return bad("a Command without arguments");
    };
    let limit = action
        .timeout
        .map(|t| {
            Duration::new(
                u64::try_from(t.seconds).unwrap_or(0),
                u32::try_from(t.nanos).unwrap_or(0),
            )
        })
        .filter(|t| !t.is_zero())
        .unwrap_or(DEFAULT_LIMIT);
    let stdout_path = folder.path().join("stdout");
    let stderr_path = folder.path().join("stderr");
    let mut process = tokio::process::Command::new(resolve(program, &command, &cwd));
    process
        .args(args)
        .current_dir(&cwd)
        .env_clear()
        .envs(
            command
                .environment_variables
                .iter()
                .map(|v| (v.name.clone(), v.value.clone())),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout_path)?)
        .stderr(std::fs::File::create(&stderr_path)?)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match process.spawn() {
        Ok(child) => child,
        Err(e) => {
            std::fs::write(
                &stderr_path,
                format!("orch worker: cannot run {program}: {e}\n"),
            )?;
            return finish(
                client,
                session,
                bot_id,
                127,
                &[],
                (&stdout_path, &stderr_path),
                None,
            )
            .await;
        }
    };
    // Killed with its whole group however the wait ends (time limit, cancellation).
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let kill_group = KillGroup(group);
    let waited = tokio::time::timeout(limit, child.wait()).await;
    drop(kill_group);
    let (code, timed_out) = match waited {
        Ok(status) => {
            let status = status?;
            (status.code().unwrap_or(128 + signal_of(&status)), false)
        }
        Err(_) => (-1, true),
    };
    let deadline = timed_out.then(|| format!("the action ran past its time limit of {limit:?}"));
    finish(
        client,
        session,
        bot_id,
        code,
        &outputs,
        (&stdout_path, &stderr_path),
        deadline,
    )
    .await
}

fn signal_of(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(0)
}

/// Kills a process group when dropped.
struct KillGroup(Option<i32>);

impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Some(group) = self.0.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

/// The program as the Command's own PATH finds it (not the worker's).
fn resolve(program: &str, command: &reapi::Command, cwd: &Path) -> PathBuf {
    if program.contains('/') {
        return cwd.join(program);
    }
    let path = command
        .environment_variables
        .iter()
        .find(|v| v.name == "PATH")
        .map_or("/usr/local/bin:/usr/bin:/bin", |v| v.value.as_str());
    path.split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| PathBuf::from(program))
}

/// Whether a link in folder `at` (under `root`) to `target` resolves inside `root`, read
/// as written (no `..` above the root, not absolute).
fn link_stays_inside(root: &Path, at: &Path, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth = at.strip_prefix(root).map_or(0, |p| p.components().count());
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." if depth == 0 => return false,
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    true
}

fn child(at: &Path, name: &str) -> Option<PathBuf> {
    (!name.is_empty() && name != "." && name != ".." && !name.contains('/')).then(|| at.join(name))
}

/// `relative` under `base`, if it is a plain relative path (no `..`, not absolute).
fn inside(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for part in relative.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return None;
        }
        path.push(part);
    }
    (!relative.starts_with('/')).then_some(path)
}

/// The outputs and logs uploaded, and the ActionResult that names them.
async fn finish(
    client: &Client,
    session: &Session,
    bot_id: &str,
    exit_code: i32,
    outputs: &[(String, PathBuf)],
    (stdout, stderr): (&Path, &Path),
    deadline: Option<String>,
) -> Result<Result<reapi::ActionResult, Status>, CallError> {
    let kind = session.kind;
    let mut result = reapi::ActionResult {
        exit_code,
        execution_metadata: Some(reapi::ExecutedActionMetadata {
            worker: bot_id.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut blobs: Vec<(RemoteDigest, Source)> = Vec::new();
    let name =
        |path: &Path, blobs: &mut Vec<(RemoteDigest, Source)>| -> Result<RemoteDigest, CallError> {
            let (_, digest) = name_file(kind, path)?;
            blobs.push((digest, Source::File(path.to_path_buf())));
            Ok(digest)
        };
    for (relative, full) in outputs {
        let Ok(meta) = std::fs::symlink_metadata(full) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            result.output_symlinks.push(reapi::OutputSymlink {
                path: relative.clone(),
                target: std::fs::read_link(full)?.to_string_lossy().into_owned(),
                ..Default::default()
            });
        } else if meta.is_file() {
            let digest = name(full, &mut blobs)?;
            result.output_files.push(reapi::OutputFile {
                path: relative.clone(),
                digest: Some(digest.to_wire()),
                is_executable: meta.permissions().mode() & 0o111 != 0,
                ..Default::default()
            });
        } else if meta.is_dir() {
            let tree = tree_of(kind, full, &mut |path| name(path, &mut blobs))?;
            let bytes = tree.encode_to_vec();
            let digest = kind.of(&bytes);
            blobs.push((digest, Source::Bytes(bytes)));
            result.output_directories.push(reapi::OutputDirectory {
                path: relative.clone(),
                tree_digest: Some(digest.to_wire()),
                ..Default::default()
            });
        }
    }
    result.stdout_digest = Some(name(stdout, &mut blobs)?.to_wire());
    result.stderr_digest = Some(name(stderr, &mut blobs)?.to_wire());
    let mut seen = std::collections::HashSet::new();
    blobs.retain(|(d, _)| seen.insert(*d));
    let digests: Vec<RemoteDigest> = blobs.iter().map(|(d, _)| *d).collect();
    let missing: std::collections::HashSet<RemoteDigest> = client
        .find_missing(session, &digests)
        .await?
        .into_iter()
        .collect();
    blobs.retain(|(d, _)| missing.contains(d));
    client.upload(session, blobs).await?;
    Ok(match deadline {
        None => Ok(result),
        Some(why) => Err(Status {
            code: tonic::Code::DeadlineExceeded as i32,
            message: why,
            details: Vec::new(),
        }),
    })
}

/// A folder as a `Tree`: its Directory and every subfolder's, files named by `name`.
fn tree_of(
    kind: crate::digests::DigestKind,
    folder: &Path,
    name: &mut dyn FnMut(&Path) -> Result<RemoteDigest, CallError>,
) -> Result<reapi::Tree, CallError> {
    fn directory(
        folder: &Path,
        name: &mut dyn FnMut(&Path) -> Result<RemoteDigest, CallError>,
        children: &mut Vec<reapi::Directory>,
        kind_of: &dyn Fn(&[u8]) -> RemoteDigest,
    ) -> Result<reapi::Directory, CallError> {
        let mut entries: Vec<_> = std::fs::read_dir(folder)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        let mut dir = reapi::Directory::default();
        for entry in entries {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                dir.symlinks.push(reapi::SymlinkNode {
                    name: file_name,
                    target: std::fs::read_link(&path)?.to_string_lossy().into_owned(),
                    ..Default::default()
                });
            } else if meta.is_dir() {
                let sub = directory(&path, name, children, kind_of)?;
                let digest = kind_of(&sub.encode_to_vec());
                children.push(sub);
                dir.directories.push(reapi::DirectoryNode {
                    name: file_name,
                    digest: Some(digest.to_wire()),
                });
            } else if meta.is_file() {
                dir.files.push(reapi::FileNode {
                    name: file_name,
                    digest: Some(name(&path)?.to_wire()),
                    is_executable: meta.permissions().mode() & 0o111 != 0,
                    ..Default::default()
                });
            }
        }
        Ok(dir)
    }
    let mut children = Vec::new();
    let root = directory(folder, name, &mut children, &|bytes| kind.of(bytes))?;
    Ok(reapi::Tree {
        root: Some(root),
        children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_the_input_root_stay_inside_it() {
        let root = Path::new("/lease/root");
        let deep = root.join("a/b");
        assert!(link_stays_inside(root, &deep, "../c"));
        assert!(link_stays_inside(root, &deep, "../../x/./y"));
        assert!(!link_stays_inside(root, &deep, "../../../etc"));
        assert!(!link_stays_inside(root, root, ".."));
        assert!(!link_stays_inside(root, &deep, "/etc/passwd"));
        assert_eq!(inside(root, "a/../b"), None);
        assert_eq!(inside(root, "a/./b"), Some(root.join("a/b")));
    }
}
