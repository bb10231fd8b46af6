//! Files that carry a blake3 of themselves: action records, the stat cache and the
//! key state. A flipped bit anywhere makes the whole file unreadable — a miss or
//! forgotten state, never a value that decodes to something else.

const SUM: usize = 32;

/// Appends the blake3 of everything in `bytes` so far.
pub fn seal(bytes: &mut Vec<u8>) {
    let sum = *blake3::hash(bytes).as_bytes();
    bytes.extend_from_slice(&sum);
}

/// The bytes before the checksum, when it matches them.
pub fn unseal(bytes: &[u8]) -> Option<&[u8]> {
    let (body, sum) = bytes.split_at(bytes.len().checked_sub(SUM)?);
    (blake3::hash(body).as_bytes() == sum).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flipped_bit_is_caught() {
        let mut sealed = b"some record".to_vec();
        seal(&mut sealed);
        assert_eq!(unseal(&sealed), Some(b"some record".as_slice()));
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut damaged = sealed.clone();
                damaged[byte] ^= 1 << bit;
                assert_eq!(unseal(&damaged), None, "byte {byte} bit {bit}");
            }
        }
        assert_eq!(unseal(&sealed[1..]), None);
        assert_eq!(unseal(b"short"), None);
    }
}
