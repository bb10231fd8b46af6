//! Secret masking: every secret value becomes `***` in what orch writes or shows, also
//! when a job prints a secret split across several writes.

use std::sync::Arc;

pub const MASK: &str = "***";

/// The secret values to hide, longest first (so a secret containing another is hidden whole).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Arc<Vec<Vec<u8>>>,
}

impl Secrets {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values: Vec<Vec<u8>> = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(|v| v.as_bytes().to_vec())
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Self {
            values: Arc::new(values),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether any secret value occurs in `text`.
    pub fn appears_in(&self, text: &str) -> bool {
        self.values
            .iter()
            .any(|v| text.as_bytes().windows(v.len()).any(|w| w == v.as_slice()))
    }

    /// `text` with every secret replaced.
    pub fn mask(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_owned();
        }
        let mut stream = self.stream();
        let mut out = stream.feed(text.as_bytes());
        out.extend(stream.finish());
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A masker for a byte stream that arrives in pieces.
    pub fn stream(&self) -> MaskStream {
        MaskStream {
            secrets: self.clone(),
            pending: Vec::new(),
        }
    }
}

/// Holds back the last few bytes of each piece, which may be the start of a secret that
/// the next piece completes.
pub struct MaskStream {
    secrets: Secrets,
    pending: Vec<u8>,
}

impl MaskStream {
    /// Masked bytes that are safe to write now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.secrets.is_empty() {
            return chunk.to_vec();
        }
        self.pending.extend_from_slice(chunk);
        let longest = self.secrets.values[0].len();
        let safe_end = self.pending.len().saturating_sub(longest - 1);
        self.drain(safe_end)
    }

    /// What is still held back, masked: call at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let end = self.pending.len();
        self.drain(end)
    }

    /// Masks and removes the bytes before `end`; a secret starting before `end` lies
    /// wholly in the buffer, because `end` is at least the longest secret from its end.
    fn drain(&mut self, end: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(end + 8);
        let mut i = 0;
        while i < end {
            let rest = &self.pending[i..];
            match self.secrets.values.iter().find(|s| rest.starts_with(s)) {
                Some(secret) => {
                    out.extend_from_slice(MASK.as_bytes());
                    i += secret.len();
                }
                None => {
                    out.push(self.pending[i]);
                    i += 1;
                }
            }
        }
        self.pending.drain(..i.min(self.pending.len()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_whole_and_overlapping_secrets() {
        let s = Secrets::new(["hunter2", "hunter2-long", ""]);
        assert_eq!(s.mask("pw=hunter2-long and hunter2."), "pw=*** and ***.");
        assert_eq!(Secrets::new([]).mask("plain"), "plain");
    }

    proptest! {
        /// However the output is split into writes, no secret survives and nothing else changes.
        #[test]
        fn split_writes_never_leak(
            before in "[a-z ]{0,20}",
            after in "[a-z ]{0,20}",
            cuts in proptest::collection::vec(0usize..60, 0..6),
        ) {
            let secrets = Secrets::new(["S3cr3t!"]);
            let text = format!("{before}S3cr3t!{after}S3cr3t!");
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut stream = secrets.stream();
            let mut out = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                out.extend(stream.feed(&bytes[start..cut]));
                start = cut;
            }
            out.extend(stream.finish());
            let out = String::from_utf8(out).unwrap();
            prop_assert_eq!(out, format!("{before}***{after}***"));
        }
    }
}
