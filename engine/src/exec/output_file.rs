//! `$ORCH_OUTPUT`: the file a node writes its outputs to, read as GitHub reads
//! `$GITHUB_OUTPUT`.

use std::collections::BTreeMap;

/// What is wrong in an `$ORCH_OUTPUT` file: the node fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum OutputFileError {
    #[error("`{name}<<{delimiter}` has no closing `{delimiter}` line")]
    Unclosed { name: String, delimiter: String },
    #[error("line `{0}` is neither `name=value` nor `name<<DELIMITER`")]
    BadLine(String),
}

/// The values a step wrote to one of its files (`$ORCH_OUTPUT`, `$ORCH_ENV`): none when
/// it wrote nothing.
pub(super) fn read_values(
    path: &std::path::Path,
) -> Result<BTreeMap<String, String>, OutputFileError> {
    std::fs::read_to_string(path).map_or_else(|_| Ok(BTreeMap::new()), |t| parse_outputs(&t))
}

/// `name=value` lines and `name<<DELIM` … `DELIM` blocks, as GitHub's `$GITHUB_OUTPUT`.
pub(super) fn parse_outputs(text: &str) -> Result<BTreeMap<String, String>, OutputFileError> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<")
            && !name.contains('=')
        {
            let mut value = Vec::new();
            let mut closed = false;
            for l in lines.by_ref() {
                if l == delimiter {
                    closed = true;
                    break;
                }
                value.push(l);
            }
            if !closed {
                return Err(OutputFileError::Unclosed {
                    name: name.to_owned(),
                    delimiter: delimiter.to_owned(),
                });
            }
            outputs.insert(name.trim().to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.trim().to_owned(), value.to_owned());
        } else {
            return Err(OutputFileError::BadLine(line.to_owned()));
        }
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_like_github() {
        let out = parse_outputs("a=1\nb=x=y\nlong<<EOF\nline 1\nline 2\nEOF\n").unwrap();
        assert_eq!(out["a"], "1");
        assert_eq!(out["b"], "x=y");
        assert_eq!(out["long"], "line 1\nline 2");
        assert!(parse_outputs("x<<EOF\nno end\n").is_err());
        assert!(parse_outputs("just words\n").is_err());
    }
}
