//! How orch's cache entries look on an REAPI server.
//!
//! A node's key becomes an Action: a fixed Command (`orch node`), the empty input root,
//! and a `salt` of orch's key version and the key itself, so the Action's digest stands
//! for exactly one orch key; what went into the key is orch's (`orch explain`), not the
//! server's. The result becomes an ActionResult whose output files are the node's
//! outputs (the server keeps their blobs alive and may check they exist), its artifacts
//! under `.orch/artifacts/`, its log as stdout, and at [`RECORD_PATH`] the *manifest*:
//! orch's own record (sealed, as the local store keeps it) with the key it is for and the
//! server's name of every blob it refers to. A hit is read from the manifest alone; the
//! ActionResult's other fields are for the server and other tools.

use std::collections::HashMap;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use orch_store::{ActionResult, BlobDigest, Digest};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::digests::{DigestKind, RemoteDigest};

/// Where the manifest sits among an ActionResult's output files: under `.orch/`, where
/// no output of a node is ever collected from.
pub(crate) const RECORD_PATH: &str = ".orch/record";

const MAGIC: &[u8; 8] = b"ORCHRMv1";

/// The blobs an action's Command and input root name (the same for every key action).
pub(crate) struct KeyAction {
    command: Vec<u8>,
    command_digest: RemoteDigest,
    input_root_digest: RemoteDigest,
    salt: String,
}

impl KeyAction {
    pub(crate) fn new(kind: DigestKind, salt: &str) -> Self {
        let command = reapi::Command {
            arguments: vec!["orch".into(), "node".into()],
            ..Default::default()
        }
        .encode_to_vec();
        KeyAction {
            command_digest: kind.of(&command),
            command,
            input_root_digest: kind.of(&reapi::Directory::default().encode_to_vec()),
            salt: salt.to_owned(),
        }
    }

    /// The Action standing for `key`, encoded, and its digest.
    pub(crate) fn action(&self, kind: DigestKind, key: &Digest) -> (Vec<u8>, RemoteDigest) {
        let mut salt = self.salt.as_bytes().to_vec();
        salt.push(0);
        salt.extend_from_slice(&key.0);
        let action = reapi::Action {
            command_digest: Some(self.command_digest.to_wire()),
            input_root_digest: Some(self.input_root_digest.to_wire()),
            salt,
            ..Default::default()
        }
        .encode_to_vec();
        let digest = kind.of(&action);
        (action, digest)
    }

    /// The Command blob and its digest (the input root is empty: always present).
    pub(crate) fn command(&self) -> (RemoteDigest, &[u8]) {
        (self.command_digest, &self.command)
    }
}

/// orch's record as the server keeps it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Manifest {
    /// The node key the record is for: an entry served under another key is refused.
    pub(crate) key: Digest,
    /// `orch_store::encode_record`: sealed, so damage is a miss.
    pub(crate) record: Vec<u8>,
    /// The server's name of every blob the record refers to.
    pub(crate) names: Vec<(BlobDigest, RemoteDigest)>,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        // Plain data into a Vec cannot fail; an empty body would only decode as a miss.
        bytes.extend(postcard::to_allocvec(self).unwrap_or_default());
        orch_store::seal(&mut bytes);
        bytes
    }

    /// The record and the names of its blobs, when the manifest is whole, for `key`,
    /// and names every blob the record refers to; `None` otherwise (a miss).
    pub(crate) fn decode(
        bytes: &[u8],
        key: &Digest,
    ) -> Option<(ActionResult, HashMap<BlobDigest, RemoteDigest>)> {
        let body = orch_store::unseal(bytes)?.strip_prefix(MAGIC.as_slice())?;
        let manifest: Manifest = match postcard::take_from_bytes(body) {
            Ok((manifest, [])) => manifest,
            _ => return None,
        };
        if manifest.key != *key {
            return None;
        }
        let record = orch_store::decode_record(&manifest.record)?;
        let names: HashMap<BlobDigest, RemoteDigest> = manifest.names.into_iter().collect();
        // Every blob named, by a name of its own size (sizes drive batching and streams).
        blobs_of(&record)
            .iter()
            .all(|blob| names.get(blob).is_some_and(|name| name.size == blob.size))
            .then_some((record, names))
    }
}

/// Every blob a record refers to, once each: its regular output files, log and
/// artifacts' files.
pub(crate) fn blobs_of(record: &ActionResult) -> Vec<BlobDigest> {
    let mut seen = std::collections::HashSet::new();
    record
        .files
        .iter()
        .filter(|f| f.symlink.is_none())
        .map(|f| f.blob())
        .chain(record.log)
        .chain(
            record
                .artifacts
                .iter()
                .flat_map(|a| a.files.iter().map(|f| f.blob())),
        )
        .filter(|blob| seen.insert(*blob))
        .collect()
}

/// The ActionResult the server keeps for a record whose manifest is `manifest`.
pub(crate) fn action_result(
    record: &ActionResult,
    names: &HashMap<BlobDigest, RemoteDigest>,
    manifest: RemoteDigest,
) -> reapi::ActionResult {
    let name = |blob: &BlobDigest| names.get(blob).map(|d| d.to_wire());
    let file = |path: String, blob: &BlobDigest, mode: u32| reapi::OutputFile {
        path,
        digest: name(blob),
        is_executable: mode & 0o111 != 0,
        ..Default::default()
    };
    let mut output_files: Vec<reapi::OutputFile> = Vec::new();
    let mut output_symlinks = Vec::new();
    for f in record.files.iter().filter(|f| f.path != RECORD_PATH) {
        match &f.symlink {
            Some(target) => output_symlinks.push(reapi::OutputSymlink {
                path: f.path.clone(),
                target: target.clone(),
                ..Default::default()
            }),
            None => output_files.push(file(f.path.clone(), &f.blob(), f.mode)),
        }
    }
    for artifact in &record.artifacts {
        for f in &artifact.files {
            let path = format!(".orch/artifacts/{}/{}", artifact.name, f.path);
            output_files.push(file(path, &f.blob(), f.mode));
        }
    }
    output_files.push(reapi::OutputFile {
        path: RECORD_PATH.into(),
        digest: Some(manifest.to_wire()),
        ..Default::default()
    });
    reapi::ActionResult {
        output_files,
        output_symlinks,
        exit_code: record.exit_code,
        stdout_digest: record.log.as_ref().and_then(name),
        ..Default::default()
    }
}

/// The manifest's name in an ActionResult; `None` for a result orch did not write.
pub(crate) fn manifest_of(result: &reapi::ActionResult) -> Option<RemoteDigest> {
    let file = result.output_files.iter().find(|f| f.path == RECORD_PATH)?;
    RemoteDigest::from_wire(file.digest.as_ref()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_store::OutputFile;

    fn record() -> ActionResult {
        ActionResult {
            orch_version: "0".into(),
            exit_code: 0,
            duration_ms: 1,
            log: Some(BlobDigest::of(b"log")),
            files: vec![OutputFile {
                path: "out/a".into(),
                digest: Digest::of(b"a"),
                size: 1,
                mode: 0o755,
                symlink: None,
            }],
            outputs: Vec::new(),
            summary: String::new(),
            result_digest: Digest::of(b"r"),
            artifacts: Vec::new(),
        }
    }

    fn names(kind: DigestKind) -> Vec<(BlobDigest, RemoteDigest)> {
        vec![
            (BlobDigest::of(b"log"), kind.of(b"log")),
            (BlobDigest::of(b"a"), kind.of(b"a")),
        ]
    }

    #[test]
    fn a_manifest_is_read_back_only_whole_for_its_key_and_naming_every_blob() {
        let key = Digest::of(b"key");
        let manifest = Manifest {
            key,
            record: orch_store::encode_record(&record()),
            names: names(DigestKind::Sha256),
        };
        let bytes = manifest.encode();
        let (back, named) = Manifest::decode(&bytes, &key).expect("whole");
        assert_eq!(back, record());
        assert_eq!(named.len(), 2);
        assert!(Manifest::decode(&bytes, &Digest::of(b"other key")).is_none());
        let mut damaged = bytes.clone();
        damaged[12] ^= 1;
        assert!(Manifest::decode(&damaged, &key).is_none());
        let partial = Manifest {
            names: names(DigestKind::Sha256)[..1].to_vec(),
            ..manifest
        };
        let mut wrong_size = names(DigestKind::Sha256);
        wrong_size[1].1.size = 1 << 40;
        let lying = Manifest {
            key,
            record: orch_store::encode_record(&record()),
            names: wrong_size,
        };
        assert!(
            Manifest::decode(&lying.encode(), &key).is_none(),
            "a name of another size"
        );
        assert!(
            Manifest::decode(&partial.encode(), &key).is_none(),
            "a blob without a name"
        );
    }

    #[test]
    fn actions_differ_by_key_and_salt_and_results_list_the_manifest() {
        let kind = DigestKind::Sha256;
        let action = KeyAction::new(kind, "orch key v4");
        let (_, a) = action.action(kind, &Digest::of(b"1"));
        let (_, b) = action.action(kind, &Digest::of(b"2"));
        let (_, c) = KeyAction::new(kind, "orch key v5").action(kind, &Digest::of(b"1"));
        assert!(a != b && a != c && b != c);
        assert_eq!(action.action(kind, &Digest::of(b"1")).1, a);
        let names: HashMap<_, _> = names(kind).into_iter().collect();
        let manifest = kind.of(b"manifest");
        let result = action_result(&record(), &names, manifest);
        assert_eq!(manifest_of(&result), Some(manifest));
        assert_eq!(result.output_files[0].path, "out/a");
        assert!(result.output_files[0].is_executable);
        assert_eq!(result.stdout_digest, Some(kind.of(b"log").to_wire()));
    }
}
