//! Secret masking: every secret value becomes `***` in what orch writes or shows, also
//! when a job prints a secret split across several writes.

use std::sync::Arc;

pub const MASK: &str = "***";

/// The secret values to hide, longest first (so a secret containing another is hidden whole).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Arc<Vec<Vec<u8>>>,
}

/// Every text that gives a secret away: the value, each of its lines on its own (a job
/// that prints line by line, as GitHub masks), and its common encodings (base64, JSON
/// string escapes, URL escapes). Lines of fewer than three characters (`{`, `}`, `--`)
/// are not secrets on their own: masking them would garble every log and output.
pub fn forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_owned()];
    if value.contains('\n') {
        forms.extend(
            value
                .lines()
                .map(|line| line.trim())
                .filter(|line| line.chars().count() >= 3)
                .map(str::to_owned),
        );
    }
    forms.push(base64(value.as_bytes()));
    let json = serde_json::to_string(value).unwrap_or_default();
    forms.push(json[1..json.len().saturating_sub(1).max(1)].to_owned());
    forms.push(url_escaped(value));
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    forms
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn url_escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Secrets {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values: Vec<Vec<u8>> = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .flat_map(forms)
            .map(String::into_bytes)
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

    #[test]
    fn each_line_and_common_encodings_are_masked() {
        let key = "-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA\r\n\n-----END KEY-----\n";
        let s = Secrets::new([key]);
        assert_eq!(s.mask("line two: MIIEpAIBAAKCAQEA!"), "line two: ***!");
        assert_eq!(s.mask("-----END KEY-----"), "***");
        assert_eq!(s.mask(key), "***");
        let s = Secrets::new(["p@ss word\\"]);
        assert_eq!(s.mask("b64 cEBzcyB3b3JkXA=="), "b64 ***");
        assert_eq!(s.mask(r#"{"pw":"p@ss word\\"}"#), r#"{"pw":"***"}"#);
        assert_eq!(s.mask("?pw=p%40ss%20word%5C"), "?pw=***");
        // Short lines of a JSON secret are not secrets on their own.
        let s = Secrets::new(["{\n  \"token\": \"abcdef\"\n}"]);
        assert_eq!(s.mask("{ } ok"), "{ } ok");
        assert_eq!(s.mask("\"token\": \"abcdef\""), "***");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"abc"), "YWJj");
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
