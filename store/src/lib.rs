//! orch's content store: bytes and records, no playbook types.
//!
//! Today it holds the digest type that the engine already uses for run ids and keys.
//! The caching work fills in the rest of the sketch below: a blob store keyed by blake3
//! (temp file + fsync + rename, verified on read) and an action cache (node key →
//! postcard-encoded result record with a magic/version header), behind [`Backend`].

use std::fmt;

/// A blake3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
        let hex = self.to_hex();
        format!("{}/{}", &hex[..2], &hex[2..])
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("object {0} failed verification")]
    Corrupt(Digest),
}

/// Where blobs and action results live: a local directory now, HTTP or REAPI later.
/// The engine talks only to this trait.
pub trait Backend: Send + Sync {
    /// The bytes of a blob, verified against its digest; `None` when absent or corrupt.
    fn get_blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores bytes and returns their digest.
    fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError>;
    /// The encoded action result stored under a node key.
    fn get_action(&self, key: &Digest) -> Result<Option<Vec<u8>>, StoreError>;
    fn put_action(&self, key: &Digest, record: &[u8]) -> Result<(), StoreError>;
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
