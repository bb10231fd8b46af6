//! Remote execution: a command as an REAPI Action (its Command, its input root), the
//! blobs the server lacks sent, Execute (WaitExecution when the stream breaks), and what
//! the action left brought into the local store, every blob verified by its digest and
//! orch's blake3 before the engine sees it. A dropped execution is cancelled on the
//! server (CancelOperation), and the run waits for those calls before it ends.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::longrunning;
use orch_store::{
    BlobDigest, LocalStore, Offload, OffloadEnd, OffloadError, OffloadFuture, OffloadOutcome,
    OffloadRequest, OutputFile,
};
use prost::Message;
use reapi::execution_client::ExecutionClient;

use crate::client::{CallError, Client, Session, Source};
use crate::digests::{BothHashers, RemoteDigest, name_file};
use crate::tree::{self, TreeFile};
use crate::{RemoteOptions, SettingsError};

/// The largest reply message accepted (an Operation with its result inline).
const REPLY_LIMIT: usize = 16 * 1024 * 1024;
/// A broken Execute stream is taken up again with WaitExecution this many times.
const REJOINS: u32 = 5;
/// The largest Tree (an output folder's listing) or log held in memory.
const LISTING_LIMIT: u64 = 64 * 1024 * 1024;

pub struct RemoteExecutor {
    client: Client,
    local: LocalStore,
    address: String,
    /// CancelOperation calls of executions dropped before they ended.
    cancels: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl RemoteExecutor {
    pub fn new(local: LocalStore, mut options: RemoteOptions) -> Result<Arc<Self>, SettingsError> {
        // It writes no action results itself (the farm does): nothing to say about that.
        options.mode = crate::Mode::Read;
        Ok(Arc::new(RemoteExecutor {
            address: options.address.text.clone(),
            client: Client::new(&options)?,
            local,
            cancels: Mutex::new(Vec::new()),
        }))
    }

    /// Waits for the cancellations under way: called before a run ends, in its runtime.
    pub async fn finish(&self) {
        let pending: Vec<_> = match self.cancels.lock() {
            Ok(mut cancels) => cancels.drain(..).collect(),
            Err(_) => return,
        };
        for cancel in pending {
            let _ = cancel.await;
        }
    }

    async fn run(&self, request: OffloadRequest) -> Result<OffloadOutcome, OffloadError> {
        let remote = |why: String| OffloadError::Remote(format!("{}: {why}", self.address));
        let session = self
            .client
            .session()
            .await
            .ok_or_else(|| remote("the server cannot be reached".into()))?;
        if !session.executes {
            return Err(remote("the server does not execute actions".into()));
        }
        let action = self
            .upload_action(session, &request)
            .await
            .map_err(|e| remote(e.to_string()))?;
        let (response, live) = self
            .execute_action(session, action, request.live_output.clone())
            .await
            .map_err(|e| remote(e.to_string()))?;
        let status = response.status.unwrap_or_default();
        let timed_out = status.code == tonic::Code::DeadlineExceeded as i32;
        if status.code != 0 && !timed_out {
            return Err(remote(format!(
                "{}: {}",
                tonic::Code::from_i32(status.code),
                status.message
            )));
        }
        let result = match response.result {
            Some(result) => result,
            None if timed_out => reapi::ActionResult::default(),
            None => return Err(remote("the operation ended without a result".into())),
        };
        let outcome = self
            .bring_back(session, &result, &request.output_paths)
            .await
            .map_err(|e| match e {
                CallError::Local(e) => OffloadError::Local(e),
                e => remote(e.to_string()),
            })?;
        let end = if timed_out {
            OffloadEnd::TimedOut
        } else {
            OffloadEnd::Exited(result.exit_code)
        };
        // What went out live counts only if it is how the final stdout begins.
        let streamed = if outcome.stdout.starts_with(&live) {
            live.len()
        } else {
            0
        };
        Ok(OffloadOutcome {
            end,
            streamed,
            cached: response.cached_result,
            ran_on: result
                .execution_metadata
                .as_ref()
                .map(|m| m.worker.clone())
                .unwrap_or_default(),
            ..outcome
        })
    }

    /// The Action of `request` and everything it names on the server: returns its digest.
    async fn upload_action(
        &self,
        session: &Session,
        request: &OffloadRequest,
    ) -> Result<RemoteDigest, CallError> {
        let kind = session.kind;
        let inputs = request.inputs.clone();
        // Input files are read once, for their remote names (their bytes go up later
        // only if the server lacks them).
        let named = tokio::task::spawn_blocking(move || {
            inputs
                .into_iter()
                .map(|input| {
                    let (_, digest) = name_file(kind, &input.local)?;
                    Ok((input, digest))
                })
                .collect::<std::io::Result<Vec<_>>>()
        })
        .await
        .map_err(|e| CallError::Reply(format!("naming the inputs failed: {e}")))??;
        let files: Vec<TreeFile> = named
            .iter()
            .map(|(input, digest)| TreeFile {
                path: input.path.clone(),
                digest: *digest,
                executable: input.executable,
                symlink: None,
            })
            .collect();
        let (root, folders) =
            tree::input_root(kind, &files).map_err(|e| CallError::Reply(e.to_string()))?;
        let mut environment: Vec<reapi::command::EnvironmentVariable> = request
            .environment
            .iter()
            .map(|(name, value)| reapi::command::EnvironmentVariable {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        environment.sort_by(|a, b| a.name.cmp(&b.name));
        environment.dedup_by(|later, earlier| later.name == earlier.name);
        let mut output_paths = request.output_paths.clone();
        output_paths.sort();
        output_paths.dedup();
        let mut properties: Vec<reapi::platform::Property> = request
            .platform
            .iter()
            .map(|(name, value)| reapi::platform::Property {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        properties.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
        let platform = (!properties.is_empty()).then_some(reapi::Platform { properties });
        let command = reapi::Command {
            arguments: request.arguments.clone(),
            environment_variables: environment,
            output_paths,
            ..Default::default()
        }
        .encode_to_vec();
        let command_digest = kind.of(&command);
        let action = reapi::Action {
            command_digest: Some(command_digest.to_wire()),
            input_root_digest: Some(root.to_wire()),
            timeout: request
                .timeout
                .map(|t| prost_types_duration(t.min(MAX_TIMEOUT))),
            do_not_cache: !request.cacheable,
            salt: request.salt.clone(),
            platform,
        }
        .encode_to_vec();
        let action_digest = kind.of(&action);
        let mut blobs: Vec<(RemoteDigest, Source)> = named
            .into_iter()
            .map(|(input, digest)| (digest, Source::File(input.local)))
            .collect();
        blobs.extend(folders.into_iter().map(|(d, b)| (d, Source::Bytes(b))));
        blobs.push((command_digest, Source::Bytes(command)));
        blobs.push((action_digest, Source::Bytes(action)));
        let mut seen = std::collections::HashSet::new();
        blobs.retain(|(d, _)| seen.insert(*d));
        let digests: Vec<RemoteDigest> = blobs.iter().map(|(d, _)| *d).collect();
        let missing: std::collections::HashSet<RemoteDigest> = self
            .client
            .find_missing(session, &digests)
            .await?
            .into_iter()
            .collect();
        blobs.retain(|(d, _)| missing.contains(d));
        self.client.upload(session, blobs).await?;
        Ok(action_digest)
    }

    /// Execute, followed to its end; a stream that breaks is joined again by the
    /// operation's name. Dropped before the end, the operation is cancelled.
    /// With `live`, the stdout stream the operation's metadata names (LogStream) is read
    /// as it grows and handed to it; returns what it was handed.
    async fn execute_action(
        &self,
        session: &Session,
        action: RemoteDigest,
        live: Option<orch_store::LiveOutput>,
    ) -> Result<(reapi::ExecuteResponse, Vec<u8>), CallError> {
        let client =
            || ExecutionClient::new(session.channel.clone()).max_decoding_message_size(REPLY_LIMIT);
        let message = reapi::ExecuteRequest {
            instance_name: self.client.instance.clone(),
            action_digest: Some(action.to_wire()),
            digest_function: session.kind.wire(),
            ..Default::default()
        };
        let mut stream = tokio::time::timeout(
            Duration::from_secs(60),
            client().execute(self.client.request(message)),
        )
        .await
        .map_err(|_| CallError::Timeout(Duration::from_secs(60)))??
        .into_inner();
        let mut guard = CancelOnDrop {
            executor: self,
            session,
            name: None,
            follower: None,
        };
        let mut rejoins = 0;
        loop {
            let broken = match stream.message().await {
                Ok(Some(operation)) => {
                    if guard.name.is_none() && !operation.name.is_empty() {
                        guard.name = Some(operation.name.clone());
                    }
                    if let (None, Some(live)) = (&guard.follower, &live)
                        && let Some(name) = stdout_stream(&operation)
                    {
                        guard.follower = Some(self.follow(session, name, live.clone()));
                    }
                    if !operation.done {
                        continue;
                    }
                    guard.name = None;
                    let response = response_of(operation)?;
                    // The stream ends when the log does; one that lingers is cut short.
                    let streamed = match guard.follower.take() {
                        Some(mut task) => {
                            match tokio::time::timeout(Duration::from_secs(2), &mut task).await {
                                Ok(Ok(bytes)) => bytes,
                                _ => {
                                    task.abort();
                                    Vec::new()
                                }
                            }
                        }
                        None => Vec::new(),
                    };
                    return Ok((response, streamed));
                }
                Ok(None) => CallError::Reply("the server ended the stream early".into()),
                Err(status) => CallError::Status(status),
            };
            let Some(name) = guard.name.clone().filter(|_| rejoins < REJOINS) else {
                return Err(broken);
            };
            rejoins += 1;
            tokio::time::sleep(Duration::from_millis(200 << rejoins)).await;
            let message = reapi::WaitExecutionRequest { name };
            match client().wait_execution(self.client.request(message)).await {
                Ok(answer) => stream = answer.into_inner(),
                Err(status) if status.code() == tonic::Code::NotFound => {
                    return Err(CallError::Status(status));
                }
                Err(_) => continue,
            }
        }
    }

    /// Reads a log stream (ByteStream `Read` of its name) to its end, each chunk handed to
    /// `live` as it comes; returns what was handed. A stream that fails just ends.
    fn follow(
        &self,
        session: &Session,
        name: String,
        live: orch_store::LiveOutput,
    ) -> tokio::task::JoinHandle<Vec<u8>> {
        let channel = session.channel.clone();
        let request = self
            .client
            .request(bazel_remote_apis::google::bytestream::ReadRequest {
                resource_name: name,
                read_offset: 0,
                read_limit: 0,
            });
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut client =
                bazel_remote_apis::google::bytestream::byte_stream_client::ByteStreamClient::new(
                    channel,
                )
                .max_decoding_message_size(REPLY_LIMIT);
            let Ok(answer) = client.read(request).await else {
                return seen;
            };
            let mut chunks = answer.into_inner();
            while let Ok(Some(chunk)) = chunks.message().await {
                if seen.len() as u64 + chunk.data.len() as u64 > LISTING_LIMIT {
                    break;
                }
                live(&chunk.data);
                seen.extend_from_slice(&chunk.data);
            }
            seen
        })
    }

    /// What the action left under its output paths, its stdout and stderr, each blob
    /// verified and kept in the local store.
    async fn bring_back(
        &self,
        session: &Session,
        result: &reapi::ActionResult,
        output_paths: &[String],
    ) -> Result<OffloadOutcome, CallError> {
        let kind = session.kind;
        let mut listed: Vec<TreeFile> = Vec::new();
        let bad = |what: &str| CallError::Reply(format!("the result names {what}"));
        for file in &result.output_files {
            let digest = file
                .digest
                .as_ref()
                .and_then(RemoteDigest::from_wire)
                .ok_or_else(|| bad("a malformed digest"))?;
            listed.push(TreeFile {
                path: file.path.clone(),
                digest,
                executable: file.is_executable,
                symlink: None,
            });
        }
        for link in &result.output_symlinks {
            listed.push(TreeFile {
                path: link.path.clone(),
                digest: kind.of(b""),
                executable: false,
                symlink: Some(link.target.clone()),
            });
        }
        for folder in &result.output_directories {
            let digest = folder
                .tree_digest
                .as_ref()
                .and_then(RemoteDigest::from_wire)
                .filter(|d| d.size <= LISTING_LIMIT)
                .ok_or_else(|| bad("an unreadable folder"))?;
            let bytes = self
                .client
                .read_verified(session, digest)
                .await?
                .ok_or_else(|| bad("a folder the server does not have"))?;
            let tree = reapi::Tree::decode(bytes.as_slice())
                .map_err(|_| bad("a folder listing that does not decode"))?;
            listed.extend(
                tree::files_of_tree(kind, &tree, &folder.path)
                    .ok_or_else(|| bad("a folder listing it cannot read"))?,
            );
        }
        // Only what the request asked for: a path under none of its output paths is
        // not taken.
        let asked = |path: &str| {
            output_paths.iter().any(|p| {
                path == p
                    || (path.len() > p.len()
                        && path.starts_with(p.as_str())
                        && path.as_bytes()[p.len()] == b'/')
            })
        };
        let mut files = Vec::new();
        for file in listed {
            let plain = !file.path.starts_with('/')
                && file
                    .path
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..");
            if !plain || !asked(&file.path) {
                return Err(bad(&format!("`{}`, which it was not asked for", file.path)));
            }
            let (digest, size, mode) = match &file.symlink {
                Some(_) => (orch_store::Digest::of(b""), 0, 0o777),
                None => {
                    let blob = self.fetch_blob(session, file.digest).await?;
                    let mode = if file.executable { 0o755 } else { 0o644 };
                    (blob.hash, blob.size, mode)
                }
            };
            files.push(OutputFile {
                path: file.path,
                digest,
                size,
                mode,
                symlink: file.symlink,
            });
        }
        let stdout = self
            .log(session, &result.stdout_raw, result.stdout_digest.as_ref())
            .await?;
        let stderr = self
            .log(session, &result.stderr_raw, result.stderr_digest.as_ref())
            .await?;
        Ok(OffloadOutcome {
            end: OffloadEnd::Exited(result.exit_code),
            stdout,
            stderr,
            files,
            cached: false,
            ran_on: String::new(),
            streamed: 0,
        })
    }

    async fn log(
        &self,
        session: &Session,
        raw: &[u8],
        digest: Option<&reapi::Digest>,
    ) -> Result<Vec<u8>, CallError> {
        if !raw.is_empty() {
            return Ok(raw.to_vec());
        }
        let Some(digest) = digest.and_then(RemoteDigest::from_wire) else {
            return Ok(Vec::new());
        };
        if digest.size == 0 {
            return Ok(Vec::new());
        }
        if digest.size > LISTING_LIMIT {
            return Err(CallError::Reply("a log larger than 64 MiB".into()));
        }
        self.client
            .read_verified(session, digest)
            .await?
            .ok_or_else(|| CallError::Reply("a log the server does not have".into()))
    }

    /// A blob into the local store, verified by its remote name as it arrives: its
    /// blake3 name there.
    async fn fetch_blob(
        &self,
        session: &Session,
        name: RemoteDigest,
    ) -> Result<BlobDigest, CallError> {
        if name.size <= session.batch_limit {
            let bytes = if name.size == 0 {
                Vec::new()
            } else {
                self.client
                    .read_verified(session, name)
                    .await?
                    .ok_or_else(|| CallError::Reply("an output the server does not have".into()))?
            };
            let hash = self.local.put_bytes(&bytes)?;
            return Ok(BlobDigest {
                hash,
                size: bytes.len() as u64,
            });
        }
        let temp = self.local.root().join("tmp").join(orch_store::temp_name());
        let kept = self.stream_into(session, name, &temp).await;
        let _ = std::fs::remove_file(&temp);
        kept
    }

    async fn stream_into(
        &self,
        session: &Session,
        name: RemoteDigest,
        temp: &Path,
    ) -> Result<BlobDigest, CallError> {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(temp)?);
        let mut hashers = BothHashers::new(session.kind);
        let mut sink = |chunk: &[u8]| {
            hashers.update(chunk);
            file.write_all(chunk)
        };
        if !self.client.read_stream(session, name, &mut sink).await? {
            return Err(CallError::Reply(
                "an output the server does not have".into(),
            ));
        }
        file.flush()?;
        drop(file);
        let (blob, got) = hashers.finish();
        if got != name {
            return Err(CallError::Reply(
                "the server sent a blob that is not what it names".into(),
            ));
        }
        self.local.store_file(&blob, temp)?;
        Ok(blob)
    }
}

/// REAPI servers commonly refuse longer (BuildGrid's default ceiling).
const MAX_TIMEOUT: Duration = Duration::from_secs(7200);

fn prost_types_duration(d: Duration) -> bazel_remote_apis::google::protobuf::Duration {
    bazel_remote_apis::google::protobuf::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// The stdout log stream an operation's metadata names, if any.
fn stdout_stream(operation: &longrunning::Operation) -> Option<String> {
    let metadata = operation.metadata.as_ref()?;
    let metadata = reapi::ExecuteOperationMetadata::decode(metadata.value.as_slice()).ok()?;
    Some(metadata.stdout_stream_name).filter(|name| !name.is_empty())
}

fn response_of(operation: longrunning::Operation) -> Result<reapi::ExecuteResponse, CallError> {
    match operation.result {
        Some(longrunning::operation::Result::Response(any)) => {
            reapi::ExecuteResponse::decode(any.value.as_slice())
                .map_err(|_| CallError::Reply("an ExecuteResponse that does not decode".into()))
        }
        Some(longrunning::operation::Result::Error(status)) => Err(CallError::Reply(format!(
            "{}: {}",
            tonic::Code::from_i32(status.code),
            status.message
        ))),
        None => Err(CallError::Reply(
            "a finished operation without a result".into(),
        )),
    }
}

/// While an execution is followed: its operation's name, cancelled if dropped, and the
/// task reading its log stream, stopped then.
struct CancelOnDrop<'a> {
    executor: &'a RemoteExecutor,
    session: &'a Session,
    name: Option<String>,
    follower: Option<tokio::task::JoinHandle<Vec<u8>>>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
        let Some(name) = self.name.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let channel = self.session.channel.clone();
        let request = self
            .executor
            .client
            .request(longrunning::CancelOperationRequest { name });
        let cancel = runtime.spawn(async move {
            let mut client = longrunning::operations_client::OperationsClient::new(channel);
            let _ = tokio::time::timeout(Duration::from_secs(10), client.cancel_operation(request))
                .await;
        });
        if let Ok(mut cancels) = self.executor.cancels.lock() {
            cancels.push(cancel);
        }
    }
}

impl Offload for RemoteExecutor {
    fn execute<'a>(&'a self, request: OffloadRequest) -> OffloadFuture<'a> {
        Box::pin(self.run(request))
    }

    fn describe(&self) -> String {
        self.address.clone()
    }
}
