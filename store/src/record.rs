//! The action record: what a successful node produced, stored under its key.
//!
//! Encoded as `MAGIC`, a little-endian `u32` format version, postcard, then a blake3 of
//! all that (`sealed`). A record with another magic or version, or any damaged byte, does
//! not decode: to the engine it is a miss, not an error.

use serde::{Deserialize, Serialize};

use crate::{BlobDigest, Digest};

const MAGIC: &[u8; 8] = b"ORCHACv\0";
/// Bumped whenever `ActionResult` changes shape.
pub const FORMAT_VERSION: u32 = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The orch version that wrote it (informational; the format version decides).
    pub orch_version: String,
    pub exit_code: i32,
    pub duration_ms: u64,
    /// The node's log, as a blob.
    pub log: Option<BlobDigest>,
    pub files: Vec<OutputFile>,
    /// Job outputs (`$ORCH_OUTPUT`), in name order.
    pub outputs: Vec<(String, String)>,
    /// The node's `$ORCH_SUMMARY` markdown.
    pub summary: String,
    /// Digest of the files, outputs and artifacts together: what dependents' keys include.
    pub result_digest: Digest,
    /// The artifacts it kept for the run (`artifacts:`, `actions/upload-artifact`).
    pub artifacts: Vec<StoredArtifact>,
}

/// An artifact: files kept per run under `.orch/runs/RUN/artifacts/NAME/`, their paths
/// relative to that folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredArtifact {
    pub name: String,
    pub files: Vec<OutputFile>,
}

impl StoredArtifact {
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Its files' paths and contents, as one digest (what the summary shows).
    pub fn digest(&self) -> Digest {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"orch-artifact\0");
        for file in &self.files {
            hasher.update(file.path.as_bytes());
            hasher.update(b"\0");
            hasher.update(&file.digest.0);
        }
        hasher.finalize().into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Relative to the workspace, `/`-separated.
    pub path: String,
    /// The content's blob (unused for symlinks).
    pub digest: Digest,
    /// The content's size in bytes (0 for symlinks).
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
    /// The link's target, for a symbolic link.
    pub symlink: Option<String>,
}

impl OutputFile {
    /// The blob that holds a regular file's content.
    pub fn blob(&self) -> BlobDigest {
        BlobDigest {
            hash: self.digest,
            size: self.size,
        }
    }
}

pub fn encode_record(result: &ActionResult) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // Encoding plain data into a Vec cannot fail; an empty body would only decode as a miss.
    bytes.extend(postcard::to_allocvec(result).unwrap_or_default());
    crate::seal(&mut bytes);
    bytes
}

/// `None` for anything that is not a whole record of this format version.
pub fn decode_record(bytes: &[u8]) -> Option<ActionResult> {
    decode_body(crate::unseal(bytes)?)
}

/// A record kept inside a file whose own checksum was verified when it was read (the key
/// state remembers records so): its checksum is not computed a second time.
pub fn decode_kept_record(bytes: &[u8]) -> Option<ActionResult> {
    decode_body(bytes.get(..bytes.len().checked_sub(32)?)?)
}

fn decode_body(bytes: &[u8]) -> Option<ActionResult> {
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let (version, body) = body.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*version) != FORMAT_VERSION {
        return None;
    }
    match postcard::take_from_bytes::<ActionResult>(body) {
        Ok((result, [])) => Some(result),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ActionResult {
        ActionResult {
            orch_version: "0.1.0".into(),
            exit_code: 0,
            duration_ms: 12,
            log: Some(BlobDigest::of(b"log")),
            files: vec![OutputFile {
                path: "out/a".into(),
                digest: Digest::of(b"a"),
                size: 1,
                mode: 0o644,
                symlink: None,
            }],
            outputs: vec![("version".into(), "1.2".into())],
            summary: "## ok".into(),
            result_digest: Digest::of(b"r"),
            artifacts: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let bytes = encode_record(&sample());
        assert_eq!(decode_record(&bytes), Some(sample()));
        assert_eq!(decode_record(&bytes[..bytes.len() - 1]), None, "truncated");
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_record(&trailing), None, "trailing bytes");
        // Another version, properly sealed: refused for its version alone.
        let mut other_version = bytes[..bytes.len() - 32].to_vec();
        other_version[8] = 1;
        crate::seal(&mut other_version);
        assert_eq!(
            decode_record(&other_version),
            None,
            "another format version"
        );
        assert_eq!(decode_record(b"garbage"), None);
        // Every single-byte change, anywhere, is a miss: none decodes to another value.
        for at in 0..bytes.len() {
            for change in [1u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[at] ^= change;
                assert_eq!(decode_record(&damaged), None, "byte {at} ^ {change:#x}");
            }
        }
    }
}
