//! Remote execution against a farm that is a test's puppet: an in-memory Execution
//! service whose answer a test writes (CAS from `lying_server`), with a LogStream-like
//! stdout stream read through ByteStream. What it says is checked, not trusted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::bytestream;
use bazel_remote_apis::google::longrunning::{Operation, operation};
use bazel_remote_apis::google::protobuf::Any;
use orch_store::{
    Digest, LocalStore, Offload, OffloadEnd, OffloadError, OffloadOutcome, OffloadRequest,
};
use prost::Message;
use reapi::capabilities_server::{Capabilities, CapabilitiesServer};
use reapi::execution_server::{Execution, ExecutionServer};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::RemoteExecutor;
use crate::digests::DigestKind;
use crate::lying_server::Fake;

#[derive(Clone, Default)]
struct Farm {
    cas: Fake,
    /// What every Execute ends with.
    result: Arc<Mutex<reapi::ActionResult>>,
    /// The stdout stream's chunks, sent 100 ms apart.
    log: Arc<Mutex<Vec<Vec<u8>>>>,
}

type Answer<T> = Result<Response<T>, Status>;
const STREAM: &str = "logstreams/stdout-1";

#[tonic::async_trait]
impl Capabilities for Farm {
    async fn get_capabilities(
        &self,
        _: Request<reapi::GetCapabilitiesRequest>,
    ) -> Answer<reapi::ServerCapabilities> {
        Ok(Response::new(reapi::ServerCapabilities {
            cache_capabilities: Some(reapi::CacheCapabilities {
                digest_functions: vec![reapi::digest_function::Value::Sha256 as i32],
                max_batch_total_size_bytes: 4 << 20,
                ..Default::default()
            }),
            execution_capabilities: Some(reapi::ExecutionCapabilities {
                exec_enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl Execution for Farm {
    type ExecuteStream = ReceiverStream<Result<Operation, Status>>;
    async fn execute(&self, _: Request<reapi::ExecuteRequest>) -> Answer<Self::ExecuteStream> {
        let (send, receive) = tokio::sync::mpsc::channel(4);
        let result = self.result.lock().unwrap().clone();
        tokio::spawn(async move {
            let metadata = reapi::ExecuteOperationMetadata {
                stage: 3,
                stdout_stream_name: STREAM.into(),
                ..Default::default()
            };
            let running = Operation {
                name: "operations/1".into(),
                metadata: Some(Any {
                    type_url: "type.googleapis.com/build.bazel.remote.execution.v2.ExecuteOperationMetadata".into(),
                    value: metadata.encode_to_vec(),
                }),
                ..Default::default()
            };
            let _ = send.send(Ok(running)).await;
            tokio::time::sleep(Duration::from_millis(600)).await;
            let response = reapi::ExecuteResponse {
                result: Some(result),
                ..Default::default()
            };
            let done = Operation {
                name: "operations/1".into(),
                done: true,
                result: Some(operation::Result::Response(Any {
                    type_url: "type.googleapis.com/build.bazel.remote.execution.v2.ExecuteResponse"
                        .into(),
                    value: response.encode_to_vec(),
                })),
                ..Default::default()
            };
            let _ = send.send(Ok(done)).await;
        });
        Ok(Response::new(ReceiverStream::new(receive)))
    }
    type WaitExecutionStream = ReceiverStream<Result<Operation, Status>>;
    async fn wait_execution(
        &self,
        _: Request<reapi::WaitExecutionRequest>,
    ) -> Answer<Self::WaitExecutionStream> {
        Err(Status::not_found("no such operation"))
    }
}

#[tonic::async_trait]
impl bytestream::byte_stream_server::ByteStream for Farm {
    type ReadStream = ReceiverStream<Result<bytestream::ReadResponse, Status>>;
    async fn read(&self, request: Request<bytestream::ReadRequest>) -> Answer<Self::ReadStream> {
        if request.into_inner().resource_name != STREAM {
            return Err(Status::not_found("no such stream"));
        }
        let chunks = self.log.lock().unwrap().clone();
        let (send, receive) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for data in chunks {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = send.send(Ok(bytestream::ReadResponse { data })).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(receive)))
    }
    async fn write(
        &self,
        _: Request<tonic::Streaming<bytestream::WriteRequest>>,
    ) -> Answer<bytestream::WriteResponse> {
        Err(Status::unimplemented("write"))
    }
    async fn query_write_status(
        &self,
        _: Request<bytestream::QueryWriteStatusRequest>,
    ) -> Answer<bytestream::QueryWriteStatusResponse> {
        Err(Status::unimplemented("query_write_status"))
    }
}

async fn serve(farm: Farm) -> u16 {
    crate::lying_server::serve_on_loopback(
        tonic::transport::Server::builder()
            .add_service(CapabilitiesServer::new(farm.clone()))
            .add_service(ExecutionServer::new(farm.clone()))
            .add_service(bytestream::byte_stream_server::ByteStreamServer::new(
                farm.clone(),
            ))
            .add_service(
                reapi::content_addressable_storage_server::ContentAddressableStorageServer::new(
                    farm.cas,
                ),
            ),
    )
    .await
}

fn executor(port: u16) -> (tempfile::TempDir, Arc<RemoteExecutor>) {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::open(&dir.path().join("cache")).unwrap();
    let options = crate::lying_server::options_for(port, |_| true);
    (dir, RemoteExecutor::new(local, options).unwrap())
}

type Heard = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

fn request(heard: &Heard) -> OffloadRequest {
    let heard = heard.clone();
    OffloadRequest {
        arguments: vec!["true".into()],
        environment: Vec::new(),
        inputs: Vec::new(),
        output_paths: vec!["out".into()],
        timeout: None,
        platform: Vec::new(),
        cacheable: true,
        salt: Vec::new(),
        live_output: Some(Arc::new(move |chunk: &[u8]| {
            heard.lock().unwrap().push((Instant::now(), chunk.to_vec()));
        })),
    }
}

/// A farm whose result names `path` with `content`'s digest, the blob stored as `stored`.
async fn farm(path: &str, content: &[u8], stored: Option<&[u8]>) -> u16 {
    let farm = Farm::default();
    let name = DigestKind::Sha256.of(content);
    if let Some(stored) = stored {
        farm.cas
            .blobs
            .lock()
            .unwrap()
            .insert(name.hex(), stored.to_vec());
    }
    *farm.result.lock().unwrap() = reapi::ActionResult {
        output_files: vec![reapi::OutputFile {
            path: path.into(),
            digest: Some(name.to_wire()),
            is_executable: true,
            ..Default::default()
        }],
        exit_code: 3,
        stdout_raw: b"line 1\nline 2\n".to_vec(),
        ..Default::default()
    };
    *farm.log.lock().unwrap() = vec![b"line 1\n".to_vec(), b"line 2\n".to_vec()];
    serve(farm).await
}

async fn run(port: u16) -> (Result<OffloadOutcome, OffloadError>, Heard, Instant) {
    let (_dir, executor) = executor(port);
    let heard: Heard = Arc::default();
    let outcome = executor.execute(request(&heard)).await;
    (outcome, heard, Instant::now())
}

#[tokio::test]
async fn stdout_streams_while_the_action_runs_and_outputs_come_back_verified() {
    let port = farm("out/tool", b"#!/bin/sh\n", Some(b"#!/bin/sh\n")).await;
    let (outcome, heard, ended) = run(port).await;
    let outcome = outcome.expect("executed");
    assert!(matches!(outcome.end, OffloadEnd::Exited(3)));
    let heard = heard.lock().unwrap().clone();
    let streamed: Vec<u8> = heard.iter().flat_map(|(_, c)| c.clone()).collect();
    assert_eq!(streamed, b"line 1\nline 2\n");
    assert!(
        ended.duration_since(heard[0].0) > Duration::from_millis(300),
        "heard before the end"
    );
    assert_eq!(outcome.streamed, streamed.len(), "nothing to write twice");
    assert_eq!(outcome.files.len(), 1);
    let file = &outcome.files[0];
    assert_eq!(file.path, "out/tool");
    assert_eq!(file.digest, Digest::of(b"#!/bin/sh\n"));
    assert_eq!(file.mode, 0o755);
}

#[tokio::test]
async fn a_result_that_names_what_was_not_asked_or_lacks_its_blob_is_refused() {
    for (path, stored) in [
        ("elsewhere/tool", Some(&b"#!/bin/sh\n"[..])),
        ("out/../../etc/passwd", Some(&b"#!/bin/sh\n"[..])),
        ("out/tool", None),
        ("out/tool", Some(&b"other bytes"[..])),
    ] {
        let port = farm(path, b"#!/bin/sh\n", stored).await;
        let (outcome, _, _) = run(port).await;
        assert!(
            matches!(outcome, Err(OffloadError::Remote(_))),
            "{path} {stored:?}: {outcome:?}"
        );
    }
}
