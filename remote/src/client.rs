//! The calls orch makes, each bounded by the timeout: capabilities once per run, the
//! action cache, the CAS in batches under the server's limit, ByteStream for blobs too
//! large for a batch. Replies are checked, not trusted: verification is the caller's.

use std::path::PathBuf;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::bytestream;
use reapi::action_cache_client::ActionCacheClient;
use reapi::capabilities_client::CapabilitiesClient;
use reapi::content_addressable_storage_client::ContentAddressableStorageClient;
use tokio::io::AsyncReadExt;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::breaker::Breaker;
use crate::digests::{DigestKind, RemoteDigest};
use crate::{RemoteOptions, SettingsError};

/// The most one message may carry: gRPC's customary 4 MiB, less room for the framing.
const MESSAGE_LIMIT: u64 = 4 * 1024 * 1024 - 64 * 1024;
/// A ByteStream chunk.
const CHUNK: usize = 1024 * 1024;
/// The largest reply message accepted: a batch under the limit, or a stream's chunk, with
/// room to spare; a server cannot make orch hold more than this per message.
const REPLY_LIMIT: usize = 16 * 1024 * 1024;
/// What one batch entry costs beyond its bytes (digest, status, framing): counted so that
/// many small blobs do not make a request larger than a message may be.
pub(crate) const ENTRY_OVERHEAD: u64 = 128;
/// Digests per FindMissingBlobs request (each ~80 bytes on the wire).
const DIGESTS_PER_REQUEST: usize = 10_000;
/// Calls in flight at once: a run asks for hundreds of nodes together, and servers limit
/// concurrent calls (BuildGrid answers RESOURCE_EXHAUSTED past its limit).
const CALLS_IN_FLIGHT: usize = 8;
/// A busy server's answer (RESOURCE_EXHAUSTED, UNAVAILABLE) is asked again this many
/// times, after 50, 100, 200… ms, before it counts as a failure.
const RETRIES: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Reply(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The local store could not keep what came (or give what goes).
    #[error("the local cache: {0}")]
    Local(#[from] orch_store::StoreError),
    /// The breaker opened while the call waited: not a failure of its own.
    #[error("the remote cache is off for this run")]
    Off,
}

/// What GetCapabilities settled for this run.
pub(crate) struct Session {
    pub(crate) channel: Channel,
    pub(crate) kind: DigestKind,
    /// The largest batch (sum of blob sizes) one request may carry.
    pub(crate) batch_limit: u64,
    /// Whether the server takes action results (its `update_enabled`; absent means no,
    /// as Bazel reads it).
    pub(crate) takes_results: bool,
    /// Whether the server runs actions (its execution capabilities' `exec_enabled`).
    pub(crate) executes: bool,
}

pub(crate) struct Client {
    endpoint: Endpoint,
    pub(crate) instance: String,
    authorization: Option<MetadataValue<Ascii>>,
    timeout: Duration,
    session: tokio::sync::OnceCell<Option<Session>>,
    in_flight: tokio::sync::Semaphore,
    pub(crate) breaker: Breaker,
    /// Whether this run would write (a server that takes no results is told once).
    writes: bool,
    address: String,
    warn: std::sync::Arc<dyn Fn(String) + Send + Sync>,
}

/// Where an upload's bytes are.
pub(crate) enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Client {
    pub(crate) fn new(options: &RemoteOptions) -> Result<Client, SettingsError> {
        let authorization = match &options.token {
            Some(_) if !options.address.tls && !options.address.is_loopback() => {
                return Err(SettingsError::Token(
                    "it would be sent unencrypted: use grpcs:// (plain grpc:// only to 127.0.0.1 or ::1)"
                        .into(),
                ));
            }
            Some(token) => {
                let mut value: MetadataValue<Ascii> =
                    format!("Bearer {token}").parse().map_err(|_| {
                        SettingsError::Token("it holds characters a header cannot".into())
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Client {
            endpoint: crate::endpoint::endpoint(options)?,
            instance: options.instance.clone(),
            authorization,
            timeout: options.timeout,
            session: tokio::sync::OnceCell::new(),
            in_flight: tokio::sync::Semaphore::new(CALLS_IN_FLIGHT),
            breaker: Breaker::new(options.address.text.clone(), options.warn.clone()),
            writes: options.mode.writes(),
            address: options.address.text.clone(),
            warn: options.warn.clone(),
        })
    }

    /// The run's session: the first call asks for the server's capabilities; a server
    /// that cannot be reached then, or offers no digest function orch can use, is left
    /// alone for the run.
    pub(crate) async fn session(&self) -> Option<&Session> {
        if self.breaker.is_open() {
            return None;
        }
        let session = self
            .session
            .get_or_init(|| async {
                match self.open_session().await {
                    Ok(session) => Some(session),
                    Err(why) => {
                        self.breaker.trip(&why);
                        None
                    }
                }
            })
            .await;
        session.as_ref().filter(|_| !self.breaker.is_open())
    }

    async fn open_session(&self) -> Result<Session, String> {
        let channel = self.endpoint.connect_lazy();
        let message = reapi::GetCapabilitiesRequest {
            instance_name: self.instance.clone(),
        };
        let answer = self
            .unary(message, |request| {
                let mut client = CapabilitiesClient::new(channel.clone());
                async move { client.get_capabilities(request).await }
            })
            .await
            .map_err(|e| format!("GetCapabilities failed: {e}"))?;
        let cache = answer.cache_capabilities.unwrap_or_default();
        let kind = DigestKind::choose(&cache.digest_functions)
            .ok_or("the server offers neither BLAKE3 nor SHA-256")?;
        let server_limit = u64::try_from(cache.max_batch_total_size_bytes).unwrap_or(0);
        let batch_limit = match server_limit {
            0 => MESSAGE_LIMIT,
            limit => limit.min(MESSAGE_LIMIT),
        };
        let takes_results = cache
            .action_cache_update_capabilities
            .is_some_and(|c| c.update_enabled);
        if !takes_results && self.writes {
            (self.warn)(format!(
                "note: remote cache {} does not take results from this client; they are only read",
                self.address
            ));
        }
        let executes = answer
            .execution_capabilities
            .is_some_and(|e| e.exec_enabled);
        Ok(Session {
            channel,
            kind,
            batch_limit,
            takes_results,
            executes,
        })
    }

    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }

    /// One unary call within the timeout, among at most [`CALLS_IN_FLIGHT`]; a busy
    /// server is asked again after a pause. `call` makes the call from its request.
    pub(crate) async fn unary<M, T, F, Fut>(&self, message: M, mut call: F) -> Result<T, CallError>
    where
        M: Clone,
        F: FnMut(tonic::Request<M>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let _permit = self.in_flight.acquire().await;
        let mut pause = Duration::from_millis(50);
        let mut tries = 0;
        loop {
            // Calls queued behind a server that stopped answering end at once.
            if self.breaker.is_open() {
                return Err(CallError::Off);
            }
            tries += 1;
            let answer = self.within(call(self.request(message.clone()))).await?;
            match answer {
                Err(status) if tries <= RETRIES && busy(&status) => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                answer => return Ok(answer?.into_inner()),
            }
        }
    }

    async fn within<F: std::future::Future>(&self, future: F) -> Result<F::Output, CallError> {
        tokio::time::timeout(self.timeout, future)
            .await
            .map_err(|_| CallError::Timeout(self.timeout))
    }

    fn cas(&self, session: &Session) -> ContentAddressableStorageClient<Channel> {
        ContentAddressableStorageClient::new(session.channel.clone())
            .max_decoding_message_size(REPLY_LIMIT)
    }

    fn resource(&self, session: &Session, digest: &RemoteDigest, upload: Option<&str>) -> String {
        let mut name = String::new();
        if !self.instance.is_empty() {
            name.push_str(&self.instance);
            name.push('/');
        }
        if let Some(id) = upload {
            name.push_str("uploads/");
            name.push_str(id);
            name.push('/');
        }
        name.push_str("blobs/");
        name.push_str(session.kind.resource_prefix());
        name.push_str(&digest.hex());
        name.push('/');
        name.push_str(&digest.size.to_string());
        name
    }

    /// The ActionResult under an action's digest; `None` when the server has none.
    pub(crate) async fn get_action_result(
        &self,
        session: &Session,
        action: RemoteDigest,
    ) -> Result<Option<reapi::ActionResult>, CallError> {
        let message = reapi::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.to_wire()),
            digest_function: session.kind.wire(),
            ..Default::default()
        };
        let answer = self.unary(message, |request| {
            let mut client = ActionCacheClient::new(session.channel.clone());
            async move { client.get_action_result(request).await }
        });
        match answer.await {
            Ok(answer) => Ok(Some(answer)),
            Err(CallError::Status(status)) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn update_action_result(
        &self,
        session: &Session,
        action: RemoteDigest,
        result: reapi::ActionResult,
    ) -> Result<(), CallError> {
        let message = reapi::UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.to_wire()),
            action_result: Some(result),
            digest_function: session.kind.wire(),
            ..Default::default()
        };
        self.unary(message, |request| {
            let mut client = ActionCacheClient::new(session.channel.clone());
            async move { client.update_action_result(request).await }
        })
        .await?;
        Ok(())
    }

    /// Those of `digests` the server lacks.
    pub(crate) async fn find_missing(
        &self,
        session: &Session,
        digests: &[RemoteDigest],
    ) -> Result<Vec<RemoteDigest>, CallError> {
        let mut missing = Vec::new();
        for part in digests.chunks(DIGESTS_PER_REQUEST) {
            let message = reapi::FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: part.iter().map(|d| d.to_wire()).collect(),
                digest_function: session.kind.wire(),
            };
            let answer = self
                .unary(message, |request| {
                    let mut client = self.cas(session);
                    async move { client.find_missing_blobs(request).await }
                })
                .await?;
            for digest in &answer.missing_blob_digests {
                missing.push(
                    RemoteDigest::from_wire(digest)
                        .ok_or_else(|| CallError::Reply("a malformed digest".into()))?,
                );
            }
        }
        Ok(missing)
    }

    /// Sends blobs: those that fit in batches under the server's limit, the others
    /// through ByteStream in chunks. Returns the bytes sent.
    pub(crate) async fn upload(
        &self,
        session: &Session,
        blobs: Vec<(RemoteDigest, Source)>,
    ) -> Result<u64, CallError> {
        let mut sent = 0;
        let mut batch: Vec<reapi::batch_update_blobs_request::Request> = Vec::new();
        let mut batch_size = 0;
        for (digest, source) in blobs {
            if digest.size > session.batch_limit {
                sent += self.write_stream(session, digest, source).await?;
                continue;
            }
            if batch_size + digest.size + ENTRY_OVERHEAD > session.batch_limit {
                self.send_batch(session, std::mem::take(&mut batch)).await?;
                batch_size = 0;
            }
            let data = match source {
                Source::Bytes(bytes) => bytes,
                Source::File(path) => tokio::fs::read(&path).await?,
            };
            // What is sent is what it is named: a local blob that changed is not sent.
            if data.len() as u64 != digest.size || session.kind.of(&data) != digest {
                return Err(CallError::Reply(
                    "a local blob is not what it was named: not sent".into(),
                ));
            }
            batch_size += digest.size + ENTRY_OVERHEAD;
            sent += digest.size;
            batch.push(reapi::batch_update_blobs_request::Request {
                digest: Some(digest.to_wire()),
                data,
                ..Default::default()
            });
        }
        if !batch.is_empty() {
            self.send_batch(session, batch).await?;
        }
        Ok(sent)
    }

    async fn send_batch(
        &self,
        session: &Session,
        requests: Vec<reapi::batch_update_blobs_request::Request>,
    ) -> Result<(), CallError> {
        let message = reapi::BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests,
            digest_function: session.kind.wire(),
        };
        let answer = self
            .unary(message, |request| {
                let mut client = self.cas(session);
                async move { client.batch_update_blobs(request).await }
            })
            .await?;
        for response in answer.responses {
            if let Some(status) = response.status.filter(|s| s.code != 0) {
                return Err(CallError::Reply(format!(
                    "a blob was refused: {}",
                    status.message
                )));
            }
        }
        Ok(())
    }

    async fn write_stream(
        &self,
        session: &Session,
        digest: RemoteDigest,
        source: Source,
    ) -> Result<u64, CallError> {
        let upload_id = upload_id();
        let resource = self.resource(session, &digest, Some(&upload_id));
        let (chunks, receiver) = tokio::sync::mpsc::channel(4);
        let size = digest.size;
        // The file is read as the stream is sent; a read error ends the stream early,
        // and the server then refuses the short write.
        let reader = tokio::spawn(async move {
            let mut offset = 0u64;
            let mut send = |data: Vec<u8>, finish: bool, resource_name: String| {
                let message = bytestream::WriteRequest {
                    resource_name,
                    write_offset: i64::try_from(offset).unwrap_or(i64::MAX),
                    finish_write: finish,
                    data,
                };
                offset += message.data.len() as u64;
                message
            };
            let mut first = Some(resource);
            match source {
                Source::Bytes(bytes) => {
                    let mut parts = bytes.chunks(CHUNK).peekable();
                    while let Some(part) = parts.next() {
                        let name = first.take().unwrap_or_default();
                        let message = send(part.to_vec(), parts.peek().is_none(), name);
                        if chunks.send(message).await.is_err() {
                            return;
                        }
                    }
                }
                Source::File(path) => {
                    let Ok(mut file) = tokio::fs::File::open(&path).await else {
                        return;
                    };
                    let mut read = 0u64;
                    while read < size {
                        let mut buffer =
                            vec![0u8; CHUNK.min(usize::try_from(size - read).unwrap_or(CHUNK))];
                        if file.read_exact(&mut buffer).await.is_err() {
                            return;
                        }
                        read += buffer.len() as u64;
                        let name = first.take().unwrap_or_default();
                        if chunks.send(send(buffer, read == size, name)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut stream =
            bytestream::byte_stream_client::ByteStreamClient::new(session.channel.clone());
        let stream_request = self.request(tokio_stream::wrappers::ReceiverStream::new(receiver));
        // A large blob may take longer than one call's timeout: bounded by its size too.
        let allowed = self.timeout + Duration::from_secs(size / (1024 * 1024));
        let permit = self.in_flight.acquire().await;
        let answer = tokio::time::timeout(allowed, stream.write(stream_request)).await;
        drop(permit);
        reader.abort();
        let committed = match answer {
            Ok(answer) => answer?.into_inner().committed_size,
            Err(_) => return Err(CallError::Timeout(allowed)),
        };
        if u64::try_from(committed).ok() != Some(size) {
            return Err(CallError::Reply(format!(
                "the server committed {committed} of {size} bytes"
            )));
        }
        Ok(size)
    }

    /// Small blobs in batches; each answer is `(digest, bytes)`, unverified. A blob the
    /// server lacks is absent from the answer.
    pub(crate) async fn read_batch(
        &self,
        session: &Session,
        digests: &[RemoteDigest],
    ) -> Result<Vec<(RemoteDigest, Vec<u8>)>, CallError> {
        let mut found = Vec::new();
        let mut start = 0;
        while start < digests.len() {
            let mut end = start;
            let mut size = 0;
            while end < digests.len()
                && (end == start
                    || size + digests[end].size + ENTRY_OVERHEAD <= session.batch_limit)
            {
                size += digests[end].size + ENTRY_OVERHEAD;
                end += 1;
            }
            let message = reapi::BatchReadBlobsRequest {
                instance_name: self.instance.clone(),
                digests: digests[start..end].iter().map(|d| d.to_wire()).collect(),
                digest_function: session.kind.wire(),
                ..Default::default()
            };
            let answer = self
                .unary(message, |request| {
                    let mut client = self.cas(session);
                    async move { client.batch_read_blobs(request).await }
                })
                .await?;
            for response in answer.responses {
                if response.status.as_ref().is_some_and(|s| s.code != 0) {
                    continue;
                }
                let digest = response
                    .digest
                    .as_ref()
                    .and_then(RemoteDigest::from_wire)
                    .ok_or_else(|| CallError::Reply("a malformed digest".into()))?;
                found.push((digest, response.data));
            }
            start = end;
        }
        Ok(found)
    }

    /// A blob through ByteStream, each chunk handed to `sink` as it arrives; `false`
    /// when the server does not have it.
    pub(crate) async fn read_stream(
        &self,
        session: &Session,
        digest: RemoteDigest,
        sink: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<bool, CallError> {
        let message = bytestream::ReadRequest {
            resource_name: self.resource(session, &digest, None),
            read_offset: 0,
            read_limit: 0,
        };
        let answer = self.unary(message, |request| {
            let mut client =
                bytestream::byte_stream_client::ByteStreamClient::new(session.channel.clone())
                    .max_decoding_message_size(REPLY_LIMIT);
            async move { client.read(request).await }
        });
        let mut chunks = match answer.await {
            Ok(chunks) => chunks,
            Err(CallError::Status(status)) if status.code() == tonic::Code::NotFound => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        // Each chunk within the timeout (a stalled stream fails), the whole within the
        // timeout and a second per MiB (a trickle fails too), and never more bytes than
        // the blob has.
        let allowed = self.timeout + Duration::from_secs(digest.size / (1024 * 1024));
        let whole = async {
            let mut received = 0u64;
            while let Some(chunk) = self.within(chunks.message()).await?? {
                received += chunk.data.len() as u64;
                if received > digest.size {
                    return Err(CallError::Reply(
                        "the server sent more than the blob's size".into(),
                    ));
                }
                sink(&chunk.data)?;
            }
            Ok(true)
        };
        tokio::time::timeout(allowed, whole)
            .await
            .map_err(|_| CallError::Timeout(allowed))?
    }
}

impl Client {
    /// A blob read whole (a batch, or a stream when it is larger) and verified against
    /// its name; `None` when the server lacks it or sent something else.
    pub(crate) async fn read_verified(
        &self,
        session: &Session,
        digest: RemoteDigest,
    ) -> Result<Option<Vec<u8>>, CallError> {
        let bytes = if digest.size <= session.batch_limit {
            let found = self.read_batch(session, &[digest]).await?;
            match found.into_iter().find(|(d, _)| *d == digest) {
                Some((_, bytes)) => bytes,
                None => return Ok(None),
            }
        } else {
            let mut bytes = Vec::new();
            let mut sink = |chunk: &[u8]| {
                bytes.extend_from_slice(chunk);
                Ok(())
            };
            if !self.read_stream(session, digest, &mut sink).await? {
                return Ok(None);
            }
            bytes
        };
        Ok((session.kind.of(&bytes) == digest).then_some(bytes))
    }
}

/// A server's way of saying "not now" rather than "no".
fn busy(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::ResourceExhausted | tonic::Code::Unavailable
    )
}

/// A name unique to this upload (ByteStream wants a UUID's place filled).
fn upload_id() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = format!(
        "{:?} {} {count}",
        std::time::SystemTime::now(),
        std::process::id()
    );
    let hex = blake3::hash(seed.as_bytes()).to_hex();
    let h = hex.as_str();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
