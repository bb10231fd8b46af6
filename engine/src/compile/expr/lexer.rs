//! Tokens of an expression, with the byte offset of each.

use super::{ExprError, err};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Punct(&'static str),
}

pub(super) fn lex(text: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match text[i..].find('\'') {
                    None => return err(start, "unterminated string"),
                    Some(j) => {
                        s.push_str(&text[i..i + j]);
                        i += j + 1;
                        if bytes.get(i) == Some(&b'\'') {
                            s.push('\'');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            tokens.push((Tok::Str(s), start));
            continue;
        }
        let digit_at = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_digit);
        // A number may start with a sign or a `.` (`-1`, `+1`, `.5`, `-.5`) where no value
        // precedes it (after one, `.` is a property access).
        let after_value = matches!(
            tokens.last(),
            Some((
                Tok::Ident(_) | Tok::Str(_) | Tok::Num(_) | Tok::Punct(")" | "]" | "*"),
                _
            ))
        );
        // `-Infinity`, `+Infinity`: a signed name, where a number may start.
        if !after_value && matches!(c, b'-' | b'+') && text[i + 1..].starts_with("Infinity") {
            let end = i + 1 + "Infinity".len();
            let word_goes_on = bytes
                .get(end)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
            if !word_goes_on {
                let n = if c == b'-' {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                };
                tokens.push((Tok::Num(n), start));
                i = end;
                continue;
            }
        }
        let starts_number = c.is_ascii_digit()
            || (!after_value
                && ((c == b'.' && digit_at(i + 1))
                    || (matches!(c, b'-' | b'+')
                        && (digit_at(i + 1)
                            || (bytes.get(i + 1) == Some(&b'.') && digit_at(i + 2))))));
        if starts_number {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'.'
                    // An exponent's sign: `2.99e-2`, `1e+16`.
                    || (matches!(bytes[i], b'+' | b'-') && matches!(bytes[i - 1], b'e' | b'E') && !text[start..i].contains("0x")))
            {
                i += 1;
            }
            let word = &text[start..i];
            let (negative, unsigned) = match word.as_bytes()[0] {
                b'-' => (true, &word[1..]),
                b'+' => (false, &word[1..]),
                _ => (false, word),
            };
            let signed = unsigned.len() < word.len();
            let magnitude = if let Some(hex) = unsigned.strip_prefix("0x") {
                // A sign belongs to decimals only.
                i64::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| !signed)
                    .map(|n| n as f64)
            } else if let Some(octal) = unsigned.strip_prefix("0o") {
                i64::from_str_radix(octal, 8)
                    .ok()
                    .filter(|_| !signed)
                    .map(|n| n as f64)
            } else if unsigned
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
            {
                unsigned.parse::<f64>().ok()
            } else {
                None
            };
            let number = magnitude.map(|n| if negative { -n } else { n });
            match number {
                Some(n) => tokens.push((Tok::Num(n), start)),
                None => return err(start, format!("bad number `{word}`")),
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
            {
                i += 1;
            }
            tokens.push((Tok::Ident(text[start..i].to_owned()), start));
            continue;
        }
        let two = text.get(i..i + 2).unwrap_or("");
        let punct = match two {
            "&&" | "||" | "==" | "!=" | "<=" | ">=" => {
                i += 2;
                ["&&", "||", "==", "!=", "<=", ">="]
                    .into_iter()
                    .find(|p| *p == two)
            }
            _ => {
                i += 1;
                ["(", ")", "[", "]", ".", ",", "!", "<", ">", "*"]
                    .into_iter()
                    .find(|p| p.as_bytes()[0] == c)
            }
        };
        match punct {
            Some(p) => tokens.push((Tok::Punct(p), start)),
            None => {
                let ch = text[start..].chars().next().unwrap_or('?');
                return err(start, format!("unexpected character `{ch}`"));
            }
        }
    }
    Ok(tokens)
}
