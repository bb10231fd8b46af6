//! PowerShell data files (`.psd1`), read without running PowerShell: the data subset
//! (hashtables `@{}`, arrays `@()` and comma lists, strings in both quote styles with their
//! escapes, here-strings, numbers, `$true`/`$false`/`$null`, comments) into the same tree
//! of spanned values YAML and JSON give. What is code rather than data — a script block
//! `{ $IsWindows }`, a variable `$env:CI`, a parenthesized expression — is kept as its
//! text and listed in [`Psd1::opaque`], for the importer to say where it would have had
//! an effect. The engine orch replaces executed these files to load them; orch never does.

use crate::load::diag::{Problem, SourceFile, Span};
use crate::load::tree::{Node, Value};

/// A parsed data file: its tree, and the places that held code, not data.
#[derive(Debug, Clone, PartialEq)]
pub struct Psd1 {
    pub root: Node,
    pub opaque: Vec<Opaque>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opaque {
    pub span: Span,
    pub kind: OpaqueKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpaqueKind {
    ScriptBlock,
    Variable,
    Expression,
    /// A `"…"` string that expands a variable (`"$HOME/x"`): kept as written.
    Expanding,
}

/// PowerShell's single quotes: the ASCII one and the typographic ones it also takes.
fn is_single_quote(c: char) -> bool {
    matches!(c, '\'' | '‘' | '’' | '‚' | '‛')
}

/// PowerShell's double quotes, likewise.
fn is_double_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”' | '„')
}

/// A literal as PowerShell's cast to `type_name` gives it, where that is plain data.
fn converted(type_name: &str, value: Value) -> Option<Value> {
    // `[int]` rounds half to even, as .NET's conversion does.
    let whole = |f: f64| {
        let rounded = f.round_ties_even();
        (rounded.is_finite() && rounded.abs() < i64::MAX as f64)
            .then_some(Value::Int(rounded as i64))
    };
    match (type_name, value) {
        ("int" | "int32" | "long" | "int64" | "byte" | "uint32", value) => match value {
            Value::Int(i) => Some(Value::Int(i)),
            Value::Float(f) => whole(f),
            Value::Bool(b) => Some(Value::Int(i64::from(b))),
            Value::Str(s) => match s.trim().parse::<i64>() {
                Ok(i) => Some(Value::Int(i)),
                Err(_) => s.trim().parse::<f64>().ok().and_then(whole),
            },
            _ => None,
        },
        ("double" | "float" | "single" | "decimal", value) => match value {
            Value::Int(i) => Some(Value::Float(i as f64)),
            Value::Float(f) => Some(Value::Float(f)),
            Value::Str(s) => s.trim().parse::<f64>().ok().map(Value::Float),
            _ => None,
        },
        ("string", value) => match value {
            Value::Str(s) => Some(Value::Str(s)),
            Value::Int(i) => Some(Value::Str(i.to_string())),
            Value::Float(f) => Some(Value::Str(f.to_string())),
            Value::Bool(b) => Some(Value::Str(if b { "True" } else { "False" }.into())),
            Value::Null => Some(Value::Str(String::new())),
            _ => None,
        },
        ("bool" | "boolean" | "switch", value) => match value {
            Value::Bool(b) => Some(Value::Bool(b)),
            Value::Int(i) => Some(Value::Bool(i != 0)),
            Value::Float(f) => Some(Value::Bool(f != 0.0)),
            Value::Str(s) => Some(Value::Bool(!s.is_empty())),
            Value::Null => Some(Value::Bool(false)),
            _ => None,
        },
        // What holds data as it is.
        ("hashtable" | "ordered" | "pscustomobject", value @ Value::Map(_)) => Some(value),
        ("array" | "object[]" | "string[]" | "int[]", value @ Value::Seq(_)) => Some(value),
        _ => None,
    }
}

pub fn parse(source: &SourceFile) -> Result<Psd1, Problem> {
    let mut p = Parser {
        source,
        text: &source.text,
        at: 0,
        opaque: Vec::new(),
        depth: 0,
    };
    p.blank();
    let root = p.value()?;
    p.blank();
    if p.at < p.text.len() {
        return Err(p.error(p.at, "unexpected text after the data"));
    }
    Ok(Psd1 {
        root,
        opaque: p.opaque,
    })
}

/// Nesting deeper than this is refused (a hostile file must not exhaust the stack).
const MAX_DEPTH: usize = 64;

struct Parser<'s> {
    source: &'s SourceFile,
    text: &'s str,
    at: usize,
    opaque: Vec<Opaque>,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> Problem {
        Problem::at(self.source, Span::new(at.min(self.text.len()), 1), message)
    }

    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Skips spaces, tabs, comments and (with `newlines`) line breaks.
    fn skip(&mut self, newlines: bool) {
        loop {
            let rest = self.rest();
            if let Some(c) = rest.chars().next()
                && (c == ' '
                    || c == '\t'
                    || c == '\u{feff}'
                    || (newlines && (c == '\n' || c == '\r')))
            {
                self.at += c.len_utf8();
            } else if rest.starts_with("<#") {
                match rest.find("#>") {
                    Some(end) => self.at += end + 2,
                    None => self.at = self.text.len(),
                }
            } else if rest.starts_with('#') {
                self.at += rest.find('\n').unwrap_or(rest.len());
            } else if rest.starts_with("`\n") || rest.starts_with("`\r\n") {
                // A line continuation.
                self.at += if rest.starts_with("`\r\n") { 3 } else { 2 };
            } else {
                return;
            }
        }
    }

    fn blank(&mut self) {
        self.skip(true);
    }

    fn value(&mut self) -> Result<Node, Problem> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(self.at, "nested too deeply"));
        }
        let first = self.single()?;
        // `'a', 'b'` is an array, as in `Scripts = '0201','0207'`.
        self.skip(false);
        let node = if self.peek() == Some(',') {
            let start = first.span.offset;
            let mut items = vec![first];
            while self.peek() == Some(',') {
                self.at += 1;
                self.blank();
                items.push(self.single()?);
                self.skip(false);
            }
            let end = self.at;
            Node {
                value: Value::Seq(items),
                span: Span::new(start, end - start),
            }
        } else {
            first
        };
        self.depth -= 1;
        Ok(node)
    }

    fn single(&mut self) -> Result<Node, Problem> {
        let start = self.at;
        let rest = self.rest();
        let node = |value, end: usize| Node {
            value,
            span: Span::new(start, end - start),
        };
        if rest.starts_with("@{") {
            self.at += 2;
            return self.hashtable(start);
        }
        if rest.starts_with("@(") {
            self.at += 2;
            return self.array(start, ')');
        }
        if let Some(quote) = rest.strip_prefix('@').and_then(|r| r.chars().next())
            && (is_single_quote(quote) || is_double_quote(quote))
        {
            return self.here_string(start, is_single_quote(quote));
        }
        match rest.chars().next() {
            None => Err(self.error(start, "a value is missing here")),
            Some(c) if is_single_quote(c) => {
                let text = self.single_quoted()?;
                Ok(node(Value::Str(text), self.at))
            }
            Some(c) if is_double_quote(c) => {
                let (text, expands) = self.double_quoted()?;
                if expands {
                    self.note(start, OpaqueKind::Expanding);
                }
                Ok(node(Value::Str(text), self.at))
            }
            Some('{') => {
                self.balanced('{', '}')?;
                self.note(start, OpaqueKind::ScriptBlock);
                Ok(node(
                    Value::Str(self.text[start..self.at].to_owned()),
                    self.at,
                ))
            }
            Some('(') => {
                self.balanced('(', ')')?;
                self.note(start, OpaqueKind::Expression);
                Ok(node(
                    Value::Str(self.text[start..self.at].to_owned()),
                    self.at,
                ))
            }
            Some('$') => {
                let word = self.word(1).to_owned();
                self.at += word.len();
                let value = match word.to_ascii_lowercase().as_str() {
                    "$true" => Value::Bool(true),
                    "$false" => Value::Bool(false),
                    "$null" => Value::Null,
                    _ => {
                        self.note(start, OpaqueKind::Variable);
                        Value::Str(word)
                    }
                };
                Ok(node(value, self.at))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number(start),
            Some('[') => self.cast(start),
            Some(_) => {
                let word = self.word(0);
                if word.is_empty() {
                    return Err(self.error(
                        start,
                        format!(
                            "unexpected `{}`",
                            &rest[..rest.chars().next().map_or(1, char::len_utf8)]
                        ),
                    ));
                }
                Err(self.error(
                    start,
                    format!("`{word}` is not data: strings need quotes in a data file"),
                ))
            }
        }
    }

    /// `[int]5`, `[string]3`, `[bool]1`: a cast of a literal, read as PowerShell converts
    /// it. A cast of code, to a type this reader does not convert, or a static member
    /// (`[Environment]::GetEnvironmentVariable('X')`) is kept as text and noted.
    fn cast(&mut self, start: usize) -> Result<Node, Problem> {
        let mut depth = 0;
        let close = self.rest().char_indices().find_map(|(at, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                '\n' => return Some(None),
                _ => {}
            }
            (depth == 0).then_some(Some(at))
        });
        let Some(Some(close)) = close else {
            return Err(self.error(start, "this type `[` is not closed on its line"));
        };
        let type_name = self.rest()[1..close].trim().to_ascii_lowercase();
        self.at += close + 1;
        let kept_as_text = |parser: &mut Self| {
            parser.note(start, OpaqueKind::Expression);
            Ok(Node {
                value: Value::Str(parser.text[start..parser.at].to_owned()),
                span: Span::new(start, parser.at - start),
            })
        };
        if self.rest().starts_with("::") {
            self.at += 2;
            self.at += self.word(0).len();
            if self.peek() == Some('(') {
                self.balanced('(', ')')?;
            }
            return kept_as_text(self);
        }
        self.skip(false);
        let notes_before = self.opaque.len();
        let inner = self.single()?;
        if self.opaque.len() > notes_before {
            self.opaque.truncate(notes_before);
            return kept_as_text(self);
        }
        let type_name = type_name.strip_prefix("system.").unwrap_or(&type_name);
        let Some(value) = converted(type_name, inner.value) else {
            return kept_as_text(self);
        };
        Ok(Node {
            value,
            span: Span::new(start, self.at - start),
        })
    }

    fn note(&mut self, start: usize, kind: OpaqueKind) {
        self.opaque.push(Opaque {
            span: Span::new(start, self.at - start),
            kind,
        });
    }

    /// A bare word from `skip` bytes in: letters, digits, `_`, `:`, `.`, `-`, `$`.
    fn word(&self, skip: usize) -> &str {
        let rest = self.rest();
        let end = rest[skip..]
            .find(|c: char| !(c.is_alphanumeric() || "_:.-$".contains(c)))
            .map_or(rest.len(), |e| e + skip);
        &rest[..end]
    }

    fn number(&mut self, start: usize) -> Result<Node, Problem> {
        let word = self.word(0);
        let end = start + word.len();
        let lower = word.to_ascii_lowercase();
        let (digits, negative) = match lower.strip_prefix('-') {
            Some(rest) => (rest.to_owned(), true),
            None => (lower.strip_prefix('+').unwrap_or(&lower).to_owned(), false),
        };
        // PowerShell's `1KB` … `1PB` multiply by powers of 1024, after the type
        // suffixes (`L`, `D`, `U`, `UL`, …) that change only the number's .NET type.
        let (digits, multiplier) = ["kb", "mb", "gb", "tb", "pb"]
            .iter()
            .zip(1u32..)
            .find_map(|(unit, power)| Some((digits.strip_suffix(unit)?, 1024i64.pow(power))))
            .unwrap_or((digits.as_str(), 1));
        let value = if let Some(hex) = digits.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok().map(Value::Int)
        } else {
            let digits = ["ul", "us", "uy", "l", "d", "u", "s", "y", "n"]
                .iter()
                .find_map(|suffix| digits.strip_suffix(suffix))
                .filter(|d| d.ends_with(|c: char| c.is_ascii_digit() || c == '.'))
                .unwrap_or(digits);
            match digits.parse::<i64>() {
                Ok(v) => Some(Value::Int(v)),
                Err(_) => digits
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(Value::Float),
            }
        };
        let value = match value {
            Some(Value::Int(v)) => v
                .checked_mul(multiplier)
                .map(|v| Value::Int(if negative { -v } else { v })),
            Some(Value::Float(f)) => Some(Value::Float(
                if negative { -f } else { f } * multiplier as f64,
            )),
            _ => None,
        };
        let Some(value) = value else {
            return Err(self.error(start, format!("`{word}` is not a number")));
        };
        self.at = end;
        Ok(Node {
            value,
            span: Span::new(start, end - start),
        })
    }

    fn single_quoted(&mut self) -> Result<String, Problem> {
        let start = self.at;
        self.at += self.peek().map_or(1, char::len_utf8);
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(start, "this string is not closed"));
            };
            self.at += c.len_utf8();
            if is_single_quote(c) {
                if let Some(next) = self.peek().filter(|n| is_single_quote(*n)) {
                    self.at += next.len_utf8();
                    out.push(next);
                    continue;
                }
                return Ok(out);
            }
            out.push(c);
        }
    }

    /// A `"…"` string with its backtick escapes; whether it expands a variable.
    fn double_quoted(&mut self) -> Result<(String, bool), Problem> {
        let start = self.at;
        self.at += self.peek().map_or(1, char::len_utf8);
        let mut out = String::new();
        let mut expands = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(start, "this string is not closed"));
            };
            self.at += c.len_utf8();
            match c {
                q if is_double_quote(q) && self.peek().is_some_and(is_double_quote) => {
                    let next = self.peek().unwrap_or('"');
                    self.at += next.len_utf8();
                    out.push(next);
                }
                q if is_double_quote(q) => return Ok((out, expands)),
                '`' => {
                    let Some(escaped) = self.peek() else {
                        return Err(self.error(start, "this string is not closed"));
                    };
                    self.at += escaped.len_utf8();
                    out.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        'a' => '\x07',
                        'b' => '\x08',
                        'e' => '\x1b',
                        'f' => '\x0c',
                        'v' => '\x0b',
                        other => other,
                    });
                }
                '$' if self
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() || n == '_' || n == '{' || n == '(') =>
                {
                    expands = true;
                    out.push('$');
                }
                c => out.push(c),
            }
        }
    }

    /// `@'` … `'@` (literal) or `@"` … `"@` (escapes read), either with any of the quotes
    /// PowerShell takes for its kind (`@‘` … `’@`); the body is the lines between.
    fn here_string(&mut self, start: usize, literal: bool) -> Result<Node, Problem> {
        let of_kind = if literal {
            is_single_quote
        } else {
            is_double_quote
        };
        let open_end = self.rest().find('\n').map(|e| self.at + e + 1);
        let Some(body_start) = open_end else {
            return Err(self.error(start, "a here-string starts a line of its own"));
        };
        // The first line that starts with a quote of its kind and `@`.
        let closing = self.text[body_start - 1..]
            .match_indices('\n')
            .find_map(|(at, _)| {
                let mut line = self.text[body_start + at..].chars();
                let quote = line.next().filter(|&c| of_kind(c))?;
                (line.next() == Some('@'))
                    .then_some((body_start - 1 + at, 1 + quote.len_utf8() + 1))
            });
        let Some((body_end, closing_len)) = closing else {
            let quote = if literal { '\'' } else { '"' };
            return Err(self.error(
                start,
                format!("this here-string has no closing `{quote}@` at a line's start"),
            ));
        };
        let mut body = self.text[body_start..body_end.max(body_start)].to_owned();
        if body.ends_with('\r') {
            body.pop();
        }
        self.at = body_end + closing_len;
        if !literal && body.contains('$') {
            self.note(start, OpaqueKind::Expanding);
        }
        Ok(Node {
            value: Value::Str(body),
            span: Span::new(start, self.at - start),
        })
    }

    /// Skips a `{…}` or `(…)` with what nests inside, strings included.
    fn balanced(&mut self, open: char, close: char) -> Result<(), Problem> {
        let start = self.at;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                q if is_single_quote(q) => {
                    self.single_quoted()?;
                    continue;
                }
                q if is_double_quote(q) => {
                    self.double_quoted()?;
                    continue;
                }
                '#' => {
                    self.skip(false);
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.at += c.len_utf8();
        }
        Err(self.error(start, format!("this `{open}` is not closed")))
    }

    /// After `@{`: `key = value` entries, separated by `;` or line breaks.
    fn hashtable(&mut self, start: usize) -> Result<Node, Problem> {
        let mut pairs = Vec::new();
        loop {
            self.blank();
            while self.peek() == Some(';') {
                self.at += 1;
                self.blank();
            }
            match self.peek() {
                None => return Err(self.error(start, "this `@{` is not closed")),
                Some('}') => {
                    self.at += 1;
                    return Ok(Node {
                        value: Value::Map(pairs),
                        span: Span::new(start, self.at - start),
                    });
                }
                _ => {}
            }
            let key_start = self.at;
            let key = match self.peek() {
                Some(q) if is_single_quote(q) => self.single_quoted()?,
                Some(q) if is_double_quote(q) => self.double_quoted()?.0,
                _ => {
                    let word = self.word(0).to_owned();
                    if word.is_empty() {
                        return Err(self.error(self.at, "a key is expected here (`Name = value`)"));
                    }
                    self.at += word.len();
                    word
                }
            };
            let key = Node {
                value: Value::Str(key),
                span: Span::new(key_start, self.at - key_start),
            };
            self.skip(false);
            if self.peek() != Some('=') {
                return Err(self.error(self.at, "`=` is expected after a key"));
            }
            self.at += 1;
            self.blank();
            let value = self.value()?;
            pairs.push((key, value));
            self.skip(false);
            match self.peek() {
                Some(';' | '\n' | '\r' | '}') | None => {}
                Some(_) => {
                    return Err(
                        self.error(self.at, "`;` or a line break is expected between entries")
                    );
                }
            }
        }
    }

    /// After `@(`: values separated by `,` or line breaks.
    fn array(&mut self, start: usize, close: char) -> Result<Node, Problem> {
        let mut items = Vec::new();
        loop {
            self.blank();
            while self.peek() == Some(',') || self.peek() == Some(';') {
                self.at += 1;
                self.blank();
            }
            match self.peek() {
                None => return Err(self.error(start, "this `@(` is not closed")),
                Some(c) if c == close => {
                    self.at += 1;
                    return Ok(Node {
                        value: Value::Seq(items),
                        span: Span::new(start, self.at - start),
                    });
                }
                _ => {}
            }
            // Inside `@()`, commas and line breaks separate items.
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.error(self.at, "nested too deeply"));
            }
            items.push(self.single()?);
            self.depth -= 1;
            self.skip(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Psd1, Problem> {
        parse(&SourceFile {
            path: "p.psd1".into(),
            text: text.into(),
        })
    }

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        let Value::Map(pairs) = &node.value else {
            panic!("not a map: {node:?}")
        };
        &pairs
            .iter()
            .find(|(k, _)| k.value == Value::Str(key.into()))
            .unwrap_or_else(|| panic!("no {key}"))
            .1
    }

    #[test]
    fn the_data_subset() {
        let text = "# a playbook\n@{\n    Name = 'it''s'\n    Path = \"a`tb `\"q`\" \"\"x\"\"\"; Count = 3\n    Rate = -1.5\n    On = $true; Off = $FALSE; None = $null\n    List = @('0201', \"0207\"\n        '0208')\n    Bare = '1','2'\n    <# block\n       comment #>\n    Nested = @{ A = @{} ; B = @() }\n    Here = @'\nline one\n  $not expanded\n'@\n}\n";
        let psd1 = parse_text(text).unwrap();
        let root = &psd1.root;
        assert_eq!(get(root, "Name").value, Value::Str("it's".into()));
        assert_eq!(
            get(root, "Path").value,
            Value::Str("a\tb \"q\" \"x\"".into())
        );
        assert_eq!(get(root, "Count").value, Value::Int(3));
        assert_eq!(get(root, "Rate").value, Value::Float(-1.5));
        for (written, read) in [
            ("1KB", Value::Int(1024)),
            ("2mb", Value::Int(2 * 1024 * 1024)),
            ("-1kb", Value::Int(-1024)),
            ("10L", Value::Int(10)),
            ("1.5KB", Value::Float(1536.0)),
            ("0x10", Value::Int(16)),
            ("0x1d", Value::Int(29)),
            ("1e3", Value::Float(1000.0)),
        ] {
            let psd1 = parse_text(&format!("@{{ Size = {written} }}")).unwrap();
            assert_eq!(get(&psd1.root, "Size").value, read, "{written}");
        }
        // Typographic quotes are PowerShell's quotes too (`’’` is one quote inside).
        let curly = parse_text("@{ A = ‘it’’s’; B = “x””y” }").unwrap();
        assert_eq!(get(&curly.root, "A").value, Value::Str("it’s".into()));
        assert_eq!(get(&curly.root, "B").value, Value::Str("x”y".into()));
        // And they open and close here-strings of their kind.
        let here = parse_text("@{ A = @‘\nit’s\n’@; B = @“\nx\n”@ }").unwrap();
        assert_eq!(get(&here.root, "A").value, Value::Str("it’s".into()));
        assert_eq!(get(&here.root, "B").value, Value::Str("x".into()));
        let mixed = parse_text("@{ A = @‘\nx\n\"@\n }").map(|_| ());
        assert!(mixed.is_err_and(|e| e.message.contains("no closing")));
        let too_big = parse_text("@{ Size = 9223372036854775807KB }").map(|_| ());
        assert!(too_big.is_err_and(|e| e.message.contains("is not a number")));
        assert_eq!(get(root, "On").value, Value::Bool(true));
        assert_eq!(get(root, "Off").value, Value::Bool(false));
        assert_eq!(get(root, "None").value, Value::Null);
        let Value::Seq(list) = &get(root, "List").value else {
            panic!()
        };
        assert_eq!(list.len(), 3);
        let Value::Seq(bare) = &get(root, "Bare").value else {
            panic!()
        };
        assert_eq!(bare.len(), 2);
        assert_eq!(
            get(root, "Here").value,
            Value::Str("line one\n  $not expanded".into())
        );
        assert!(psd1.opaque.is_empty(), "{:?}", psd1.opaque);
        // Spans point at the value.
        let name = get(root, "Name");
        assert_eq!(
            &text[name.span.offset..name.span.offset + name.span.len],
            "'it''s'"
        );
    }

    #[test]
    fn code_is_kept_as_text_and_noted() {
        let psd1 = parse_text("@{ If = { $IsWindows -and ($x -eq '}') }; Ci = $env:CI; Home = \"$HOME/x\"; At = (Get-Date) }").unwrap();
        assert_eq!(
            get(&psd1.root, "If").value,
            Value::Str("{ $IsWindows -and ($x -eq '}') }".into())
        );
        assert_eq!(get(&psd1.root, "Ci").value, Value::Str("$env:CI".into()));
        let kinds: Vec<OpaqueKind> = psd1.opaque.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                OpaqueKind::ScriptBlock,
                OpaqueKind::Variable,
                OpaqueKind::Expanding,
                OpaqueKind::Expression
            ]
        );
    }

    #[test]
    fn casts_of_literals_are_read_and_casts_of_code_kept() {
        let psd1 = parse_text(
            "@{ A = [int]'5'; B = [int] 12.5; C = [string]3; D = [bool]0; E = [ordered]@{ X = 1 }\n F = [int]$env:N; G = [Environment]::GetEnvironmentVariable('X'); H = [datetime]'2020-01-01' }",
        )
        .unwrap();
        let root = &psd1.root;
        assert_eq!(get(root, "A").value, Value::Int(5));
        assert_eq!(get(root, "B").value, Value::Int(12));
        assert_eq!(get(root, "C").value, Value::Str("3".into()));
        assert_eq!(get(root, "D").value, Value::Bool(false));
        assert!(matches!(get(root, "E").value, Value::Map(_)));
        assert_eq!(get(root, "F").value, Value::Str("[int]$env:N".into()));
        assert_eq!(
            get(root, "G").value,
            Value::Str("[Environment]::GetEnvironmentVariable('X')".into())
        );
        // Each kept cast is noted by its whole span, which is the value's.
        let spans: Vec<Span> = psd1.opaque.iter().map(|o| o.span).collect();
        assert_eq!(
            spans,
            [
                get(root, "F").span,
                get(root, "G").span,
                get(root, "H").span
            ]
        );
        let open = parse_text("@{ A = [int 5 }").map(|_| ());
        assert!(open.is_err_and(|e| e.message.contains("type `[` is not closed")));
    }

    #[test]
    fn errors_say_where() {
        for (text, message, at) in [
            (
                "@{\n  Name = 'x\n}",
                "this string is not closed",
                "p.psd1:2:10",
            ),
            (
                "@{\n  Name 'x'\n}",
                "`=` is expected after a key",
                "p.psd1:2:8",
            ),
            ("@{\n  Name = bare\n}", "`bare` is not data", "p.psd1:2:10"),
            ("@{ A = 1", "this `@{` is not closed", "p.psd1:1:1"),
            (
                "@{ A = 1 } extra",
                "unexpected text after the data",
                "p.psd1:1:12",
            ),
            ("@{ A = 1 B = 2 }", "`;` or a line break", "p.psd1:1:10"),
        ] {
            let problem = parse_text(text).unwrap_err();
            assert!(
                problem.message.contains(message),
                "{text:?}: {}",
                problem.message
            );
            assert_eq!(problem.location().as_deref(), Some(at), "{text:?}");
        }
        let deep = format!("{}{}", "@(".repeat(100), ")".repeat(100));
        assert!(
            parse_text(&deep)
                .unwrap_err()
                .message
                .contains("nested too deeply")
        );
    }

    #[test]
    fn every_corpus_data_file_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/aitherzero-playbooks");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: ../shared/corpus/aitherzero-playbooks is not there");
            return;
        };
        let mut count = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "psd1") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let source = SourceFile {
                path: path.clone(),
                text: text.into(),
            };
            let parsed = parse(&source).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                matches!(parsed.root.value, Value::Map(_)),
                "{}",
                path.display()
            );
            count += 1;
        }
        assert_eq!(count, 30);
    }
}
