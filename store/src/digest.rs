//! The blake3 digest that names everything in the store.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        blake3::Hash::from_hex(text)
            .ok()
            .map(|h| Digest(*h.as_bytes()))
    }

    /// `ab/cdef…`: the sharded relative path of an object.
    pub fn sharded_path(&self) -> String {
        self.sharded().as_str().to_owned()
    }

    /// [`Digest::sharded_path`] without a heap allocation (lookups make one per node).
    pub fn sharded(&self) -> ShardedPath {
        let hex = blake3::Hash::from_bytes(self.0).to_hex();
        let mut bytes = [0u8; 65];
        bytes[..2].copy_from_slice(&hex.as_bytes()[..2]);
        bytes[2] = b'/';
        bytes[3..].copy_from_slice(&hex.as_bytes()[2..]);
        ShardedPath(bytes)
    }
}

/// A blob's name as a remote cache needs it: its blake3 and its size in bytes (the
/// Remote Execution API's `Digest`). The local store names files by the hash alone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct BlobDigest {
    pub hash: Digest,
    pub size: u64,
}

impl BlobDigest {
    pub fn of(bytes: &[u8]) -> Self {
        BlobDigest {
            hash: Digest::of(bytes),
            size: bytes.len() as u64,
        }
    }
}

/// `ab/cdef…` (65 ASCII bytes), as [`Digest::sharded`] makes it.
pub struct ShardedPath([u8; 65]);

impl ShardedPath {
    pub fn as_str(&self) -> &str {
        // Hex digits and a slash: always ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Self {
        Digest(*hash.as_bytes())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_sharding() {
        let d = Digest::of(b"hello");
        assert_eq!(d.to_hex(), blake3::hash(b"hello").to_hex().to_string());
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(Digest::from_hex("zz"), None);
        let path = d.sharded_path();
        assert_eq!(&path[2..3], "/");
        assert_eq!(path.replace('/', ""), d.to_hex());
    }
}
