//! Tests of the remote layer against a server that lies: an in-memory REAPI server on
//! loopback whose entries a test rewrites into answers that are consistent with their
//! own digests but wrong for orch. Each must be a miss, with nothing wrong kept locally.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use orch_store::{ActionResult, Backend, BlobDigest, Digest, LocalStore, OutputFile};
use reapi::action_cache_server::{ActionCache, ActionCacheServer};
use reapi::capabilities_server::{Capabilities, CapabilitiesServer};
use reapi::content_addressable_storage_server::{
    ContentAddressableStorage, ContentAddressableStorageServer,
};
use tonic::{Request, Response, Status};

use crate::digests::{DigestKind, RemoteDigest};
use crate::mapping::{self, Manifest};
use crate::{Address, Mode, RemoteOptions, TieredStore, TlsFiles};

#[derive(Default, Clone)]
pub(crate) struct Fake {
    pub(crate) blobs: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    results: Arc<Mutex<HashMap<String, reapi::ActionResult>>>,
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Capabilities for Fake {
    async fn get_capabilities(
        &self,
        _: Request<reapi::GetCapabilitiesRequest>,
    ) -> Answer<reapi::ServerCapabilities> {
        Ok(Response::new(reapi::ServerCapabilities {
            cache_capabilities: Some(reapi::CacheCapabilities {
                digest_functions: vec![reapi::digest_function::Value::Sha256 as i32],
                max_batch_total_size_bytes: 4 << 20,
                action_cache_update_capabilities: Some(reapi::ActionCacheUpdateCapabilities {
                    update_enabled: true,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

fn hash_of(digest: &Option<reapi::Digest>) -> String {
    digest.as_ref().map(|d| d.hash.clone()).unwrap_or_default()
}

#[tonic::async_trait]
impl ActionCache for Fake {
    async fn get_action_result(
        &self,
        request: Request<reapi::GetActionResultRequest>,
    ) -> Answer<reapi::ActionResult> {
        let key = hash_of(&request.into_inner().action_digest);
        match self.results.lock().unwrap().get(&key) {
            Some(result) => Ok(Response::new(result.clone())),
            None => Err(Status::not_found("no such action")),
        }
    }
    async fn update_action_result(
        &self,
        request: Request<reapi::UpdateActionResultRequest>,
    ) -> Answer<reapi::ActionResult> {
        let request = request.into_inner();
        let result = request.action_result.unwrap_or_default();
        self.results
            .lock()
            .unwrap()
            .insert(hash_of(&request.action_digest), result.clone());
        Ok(Response::new(result))
    }
}

type Nothing<T> = tokio_stream::Empty<Result<T, Status>>;

#[tonic::async_trait]
impl ContentAddressableStorage for Fake {
    async fn find_missing_blobs(
        &self,
        request: Request<reapi::FindMissingBlobsRequest>,
    ) -> Answer<reapi::FindMissingBlobsResponse> {
        let blobs = self.blobs.lock().unwrap();
        let missing = request
            .into_inner()
            .blob_digests
            .into_iter()
            .filter(|d| !blobs.contains_key(&d.hash))
            .collect();
        Ok(Response::new(reapi::FindMissingBlobsResponse {
            missing_blob_digests: missing,
        }))
    }
    async fn batch_update_blobs(
        &self,
        request: Request<reapi::BatchUpdateBlobsRequest>,
    ) -> Answer<reapi::BatchUpdateBlobsResponse> {
        let mut blobs = self.blobs.lock().unwrap();
        for entry in request.into_inner().requests {
            blobs.insert(hash_of(&entry.digest), entry.data);
        }
        Ok(Response::new(reapi::BatchUpdateBlobsResponse::default()))
    }
    async fn batch_read_blobs(
        &self,
        request: Request<reapi::BatchReadBlobsRequest>,
    ) -> Answer<reapi::BatchReadBlobsResponse> {
        let blobs = self.blobs.lock().unwrap();
        let responses = request
            .into_inner()
            .digests
            .into_iter()
            .filter_map(|digest| {
                let data = blobs.get(&digest.hash)?.clone();
                Some(reapi::batch_read_blobs_response::Response {
                    digest: Some(digest),
                    data,
                    ..Default::default()
                })
            })
            .collect();
        Ok(Response::new(reapi::BatchReadBlobsResponse { responses }))
    }
    type GetTreeStream = Nothing<reapi::GetTreeResponse>;
    async fn get_tree(&self, _: Request<reapi::GetTreeRequest>) -> Answer<Self::GetTreeStream> {
        Err(Status::unimplemented("get_tree"))
    }
    async fn split_blob(
        &self,
        _: Request<reapi::SplitBlobRequest>,
    ) -> Answer<reapi::SplitBlobResponse> {
        Err(Status::unimplemented("split_blob"))
    }
    type GetChunkMappingStream = Nothing<reapi::GetChunkMappingResponse>;
    async fn get_chunk_mapping(
        &self,
        _: Request<reapi::GetChunkMappingRequest>,
    ) -> Answer<Self::GetChunkMappingStream> {
        Err(Status::unimplemented("get_chunk_mapping"))
    }
    async fn splice_blob(
        &self,
        _: Request<reapi::SpliceBlobRequest>,
    ) -> Answer<reapi::SpliceBlobResponse> {
        Err(Status::unimplemented("splice_blob"))
    }
    async fn register_chunk_mapping(
        &self,
        _: Request<tonic::Streaming<reapi::RegisterChunkMappingRequest>>,
    ) -> Answer<reapi::RegisterChunkMappingResponse> {
        Err(Status::unimplemented("register_chunk_mapping"))
    }
}

/// Serves `services` on a free loopback port (for as long as the test's runtime lives).
pub(crate) async fn serve_on_loopback(services: tonic::transport::server::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(services.serve_with_incoming(incoming));
    port
}

async fn serve(fake: Fake) -> u16 {
    serve_on_loopback(
        tonic::transport::Server::builder()
            .add_service(CapabilitiesServer::new(fake.clone()))
            .add_service(ActionCacheServer::new(fake.clone()))
            .add_service(ContentAddressableStorageServer::new(fake)),
    )
    .await
}

/// A client's options for the server at `port`, that checks records with `check`.
pub(crate) fn options_for(port: u16, check: fn(&ActionResult) -> bool) -> RemoteOptions {
    RemoteOptions {
        address: Address::parse(&format!("grpc://127.0.0.1:{port}")).unwrap(),
        instance: String::new(),
        mode: Mode::ReadWrite,
        token: None,
        tls: TlsFiles::default(),
        timeout: std::time::Duration::from_secs(5),
        salt: "orch key test".into(),
        warn: Arc::new(|text| panic!("no warning expected: {text}")),
        check: Arc::new(check),
    }
}

/// A store whose remote checks records with `check`, and the folder it lives in.
fn tiered(port: u16, check: fn(&ActionResult) -> bool) -> (tempfile::TempDir, Arc<TieredStore>) {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::open(&dir.path().join("cache")).unwrap();
    let options = options_for(port, check);
    (dir, TieredStore::new(local, options, false).unwrap())
}

const CONTENT: &[u8] = b"the output\n";

fn honest(result_digest: Digest) -> ActionResult {
    ActionResult {
        orch_version: "test".into(),
        exit_code: 0,
        duration_ms: 1,
        log: None,
        files: vec![OutputFile {
            path: "out.txt".into(),
            digest: Digest::of(CONTENT),
            size: CONTENT.len() as u64,
            mode: 0o644,
            symlink: None,
        }],
        outputs: Vec::new(),
        summary: String::new(),
        result_digest,
        artifacts: Vec::new(),
    }
}

fn good_digest() -> Digest {
    Digest::of(b"the honest result digest")
}

/// A writer stores the honest result under `key`; returns the server and the entry's
/// action digest.
async fn written(key: &Digest) -> (Fake, u16, String) {
    let fake = Fake::default();
    let port = serve(fake.clone()).await;
    let (_dir, writer) = tiered(port, |_| true);
    writer.local.put_bytes(CONTENT).unwrap();
    Backend::put_action(writer.as_ref(), key, &honest(good_digest()))
        .await
        .unwrap();
    writer.finish_uploads().await;
    let action = writer
        .key_action(DigestKind::Sha256)
        .action(DigestKind::Sha256, key)
        .1
        .hex();
    assert!(
        fake.results.lock().unwrap().contains_key(&action),
        "the writer wrote"
    );
    (fake, port, action)
}

/// Rewrites the entry's manifest with `change`, re-encoded and re-named so that every
/// digest the server gives is consistent.
fn rewrite(
    fake: &Fake,
    action: &str,
    key: &Digest,
    change: impl FnOnce(&mut ActionResult, &mut Vec<(BlobDigest, RemoteDigest)>),
) {
    let mut results = fake.results.lock().unwrap();
    let entry = results.get_mut(action).unwrap();
    let manifest_name = mapping::manifest_of(entry).unwrap();
    let mut blobs = fake.blobs.lock().unwrap();
    let (mut record, names) = Manifest::decode(&blobs[&manifest_name.hex()], key).unwrap();
    let mut names: Vec<_> = names.into_iter().collect();
    change(&mut record, &mut names);
    let bytes = Manifest {
        key: *key,
        record: orch_store::encode_record(&record),
        names,
    }
    .encode();
    let name = DigestKind::Sha256.of(&bytes);
    blobs.insert(name.hex(), bytes);
    let file = entry
        .output_files
        .iter_mut()
        .find(|f| f.path == mapping::RECORD_PATH)
        .unwrap();
    file.digest = Some(name.to_wire());
}

#[tokio::test]
async fn an_honest_entry_is_a_hit_with_its_blob_kept_locally() {
    let key = Digest::of(b"key");
    let (_fake, port, _) = written(&key).await;
    let (_dir, reader) = tiered(port, |r| r.result_digest == good_digest());
    let found = Backend::get_action(reader.as_ref(), &key).await.unwrap();
    assert_eq!(found, Some(honest(good_digest())));
    assert!(reader.served_remotely(&key));
    assert!(reader.local.holds(&BlobDigest::of(CONTENT)));
}

#[tokio::test]
async fn a_record_whose_result_digest_does_not_check_is_a_miss() {
    let key = Digest::of(b"key");
    let (fake, port, action) = written(&key).await;
    rewrite(&fake, &action, &key, |record, _| {
        record.result_digest = Digest::of(b"a lie")
    });
    let (_dir, reader) = tiered(port, |r| r.result_digest == good_digest());
    assert_eq!(
        Backend::get_action(reader.as_ref(), &key).await.unwrap(),
        None
    );
    assert!(
        !reader.local.has_action(&key).unwrap(),
        "a refused record was kept"
    );
}

#[tokio::test]
async fn an_entry_served_under_another_key_is_a_miss() {
    let key = Digest::of(b"key");
    let other = Digest::of(b"other key");
    let (fake, port, action) = written(&key).await;
    let (_dir, reader) = tiered(port, |_| true);
    let other_action = reader
        .key_action(DigestKind::Sha256)
        .action(DigestKind::Sha256, &other)
        .1
        .hex();
    let entry = fake.results.lock().unwrap()[&action].clone();
    fake.results.lock().unwrap().insert(other_action, entry);
    assert_eq!(
        Backend::get_action(reader.as_ref(), &other).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_blob_swapped_for_other_bytes_under_their_own_name_is_a_miss() {
    let key = Digest::of(b"key");
    let (fake, port, action) = written(&key).await;
    // Other bytes of the same size, stored under their SHA-256 and named in the manifest:
    // every server-side digest agrees; only orch's blake3 tells.
    let evil = b"evil output";
    assert_eq!(evil.len(), CONTENT.len());
    let evil_name = DigestKind::Sha256.of(evil);
    fake.blobs
        .lock()
        .unwrap()
        .insert(evil_name.hex(), evil.to_vec());
    rewrite(&fake, &action, &key, |_, names| {
        for (blob, name) in names.iter_mut() {
            if *blob == BlobDigest::of(CONTENT) {
                *name = evil_name;
            }
        }
    });
    let (_dir, reader) = tiered(port, |_| true);
    assert_eq!(
        Backend::get_action(reader.as_ref(), &key).await.unwrap(),
        None
    );
    assert!(!reader.local.holds(&BlobDigest::of(CONTENT)));
    assert!(!reader.local.has_action(&key).unwrap());
}

#[tokio::test]
async fn a_file_stored_locally_is_named_for_the_server_in_the_same_read() {
    let port = serve(Fake::default()).await;
    let (dir, store) = tiered(port, |_| true);
    let file = dir.path().join("out.txt");
    std::fs::write(&file, CONTENT).unwrap();
    let blob = BlobDigest::of(CONTENT);
    Backend::upload_files(store.as_ref(), &[(blob, file)])
        .await
        .unwrap();
    assert!(store.local.holds(&blob));
    let named = store.names.lock().unwrap().get(&blob).copied();
    assert_eq!(named, Some(DigestKind::Sha256.of(CONTENT)));
    // A later run (another store over the same folder) finds the name beside the blob:
    // the file is not read again to name it, even once it is gone from the workspace.
    let later = TieredStore::new(
        LocalStore::open(&dir.path().join("cache")).unwrap(),
        options_for(port, |_| true),
        false,
    )
    .unwrap();
    assert!(later.names.lock().unwrap().is_empty());
    assert_eq!(
        later.remembered(&blob),
        Some(DigestKind::Sha256.of(CONTENT))
    );
    // Collected with its blob.
    later.local.clear().unwrap();
    assert_eq!(later.remembered(&blob), None);
}
