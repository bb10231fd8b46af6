//! The digest function a server is spoken to in, and the remote names of blobs.
//!
//! orch names everything by blake3 (`orch_store::BlobDigest`). A server that offers
//! BLAKE3 (REAPI 2.3's `digest_function`) names blobs the same way; otherwise blobs go
//! by SHA-256, computed in the same read as the blake3 that verifies them.

use std::io::Read;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use orch_store::{BlobDigest, Digest};
use sha2::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    Blake3,
    Sha256,
}

impl DigestKind {
    /// BLAKE3 where the server lists it, else SHA-256 (which an empty list means, from
    /// servers older than the field); `None` when it offers neither.
    pub fn choose(offered: &[i32]) -> Option<DigestKind> {
        use reapi::digest_function::Value;
        if offered.contains(&(Value::Blake3 as i32)) {
            Some(DigestKind::Blake3)
        } else if offered.is_empty() || offered.contains(&(Value::Sha256 as i32)) {
            Some(DigestKind::Sha256)
        } else {
            None
        }
    }

    /// The value every request names.
    pub(crate) fn wire(self) -> i32 {
        use reapi::digest_function::Value;
        match self {
            DigestKind::Blake3 => Value::Blake3 as i32,
            DigestKind::Sha256 => Value::Sha256 as i32,
        }
    }

    /// What a ByteStream resource name puts before the hash (nothing for SHA-256).
    pub(crate) fn resource_prefix(self) -> &'static str {
        match self {
            DigestKind::Blake3 => "blake3/",
            DigestKind::Sha256 => "",
        }
    }

    pub(crate) fn of(self, bytes: &[u8]) -> RemoteDigest {
        let hash = match self {
            DigestKind::Blake3 => *blake3::hash(bytes).as_bytes(),
            DigestKind::Sha256 => sha2::Sha256::digest(bytes).into(),
        };
        RemoteDigest {
            hash,
            size: bytes.len() as u64,
        }
    }

    /// A blob's remote name from its blake3 and bytes already in hand.
    pub(crate) fn name(self, blob: &BlobDigest, bytes: impl FnOnce() -> Vec<u8>) -> RemoteDigest {
        match self {
            DigestKind::Blake3 => RemoteDigest {
                hash: blob.hash.0,
                size: blob.size,
            },
            DigestKind::Sha256 => self.of(&bytes()),
        }
    }
}

/// A blob's name on the server: its hash under the session's digest function, and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) struct RemoteDigest {
    pub(crate) hash: [u8; 32],
    pub(crate) size: u64,
}

impl RemoteDigest {
    pub(crate) fn hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn to_wire(self) -> reapi::Digest {
        reapi::Digest {
            hash: self.hex(),
            size_bytes: i64::try_from(self.size).unwrap_or(i64::MAX),
        }
    }

    /// `None` for a digest that is not 64 hex digits and a size (a server's reply is
    /// checked, not trusted).
    pub(crate) fn from_wire(digest: &reapi::Digest) -> Option<RemoteDigest> {
        let text = digest.hash.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut hash = [0u8; 32];
        for (n, pair) in text.chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).ok()?;
            hash[n] = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(RemoteDigest {
            hash,
            size: u64::try_from(digest.size_bytes).ok()?,
        })
    }
}

/// Both names of a stream's bytes in one read: orch's blake3 and the server's digest.
pub(crate) struct BothHashers {
    kind: DigestKind,
    blake3: blake3::Hasher,
    sha256: sha2::Sha256,
    size: u64,
}

impl BothHashers {
    pub(crate) fn new(kind: DigestKind) -> Self {
        BothHashers {
            kind,
            blake3: blake3::Hasher::new(),
            sha256: sha2::Sha256::new(),
            size: 0,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.blake3.update(bytes);
        if self.kind == DigestKind::Sha256 {
            self.sha256.update(bytes);
        }
        self.size += bytes.len() as u64;
    }

    pub(crate) fn finish(self) -> (BlobDigest, RemoteDigest) {
        let blake3: Digest = self.blake3.finalize().into();
        let hash = match self.kind {
            DigestKind::Blake3 => blake3.0,
            DigestKind::Sha256 => self.sha256.finalize().into(),
        };
        let blob = BlobDigest {
            hash: blake3,
            size: self.size,
        };
        (
            blob,
            RemoteDigest {
                hash,
                size: self.size,
            },
        )
    }
}

/// Both names of a file's content, read once.
pub(crate) fn name_file(
    kind: DigestKind,
    path: &std::path::Path,
) -> std::io::Result<(BlobDigest, RemoteDigest)> {
    let mut file = std::fs::File::open(path)?;
    let mut hashers = BothHashers::new(kind);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hashers.finish());
        }
        hashers.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reapi::digest_function::Value;

    #[test]
    fn choice_prefers_blake3_and_reads_empty_as_sha256() {
        let both = [Value::Sha256 as i32, Value::Blake3 as i32];
        assert_eq!(DigestKind::choose(&both), Some(DigestKind::Blake3));
        assert_eq!(
            DigestKind::choose(&[Value::Sha256 as i32]),
            Some(DigestKind::Sha256)
        );
        assert_eq!(DigestKind::choose(&[]), Some(DigestKind::Sha256));
        assert_eq!(DigestKind::choose(&[Value::Md5 as i32]), None);
    }

    #[test]
    fn names_agree_however_computed() {
        // sha256("abc"), as published.
        let abc = DigestKind::Sha256.of(b"abc");
        assert_eq!(
            abc.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for kind in [DigestKind::Sha256, DigestKind::Blake3] {
            let mut hashers = BothHashers::new(kind);
            hashers.update(b"a");
            hashers.update(b"bc");
            let (blob, remote) = hashers.finish();
            assert_eq!(blob, BlobDigest::of(b"abc"));
            assert_eq!(remote, kind.of(b"abc"));
            assert_eq!(kind.name(&blob, || b"abc".to_vec()), remote);
            assert_eq!(RemoteDigest::from_wire(&remote.to_wire()), Some(remote));
        }
        let mut wire = abc.to_wire();
        wire.hash.pop();
        assert_eq!(RemoteDigest::from_wire(&wire), None);
        wire.hash.push('g');
        assert_eq!(RemoteDigest::from_wire(&wire), None);
    }
}
