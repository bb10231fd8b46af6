//! A step's command line: direct exec for plain commands, the shell inline, or a private
//! script file.

use std::io::Write;
use std::path::Path;

use crate::load::model::Shell;

/// Writes a file only its owner can read (rendered scripts may contain secrets).
pub(super) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// The words of a command that needs no shell to run (letters, digits and `-_./,:+@%`
/// only, on one line, no assignment), or `None`.
pub(super) fn plain_command(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./,:+@% ".contains(c);
    if text.is_empty() || !text.chars().all(safe) {
        return None;
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    // `cd`, `exit` and the like are shell builtins, not programs.
    const BUILTINS: &[&str] = &[
        "cd", "exit", "export", "set", "unset", "source", ".", "exec", "eval", "alias", "ulimit",
        "umask", "wait", "trap", "shift", "return", "read", "times", "type", "hash", "command",
        "builtin", "local", "declare", "readonly", "let", "shopt", "pushd", "popd", "dirs", "jobs",
        "fg", "bg", "kill",
    ];
    if BUILTINS.contains(&words[0].as_str()) {
        return None;
    }
    Some(words)
}

pub(super) fn split_command(mut line: Vec<String>) -> (String, Vec<String>) {
    if line.is_empty() {
        return (String::new(), line);
    }
    let program = line.remove(0);
    (program, line)
}

pub(super) fn script_extension(shell: &Shell) -> &'static str {
    match shell {
        Shell::Python => "py",
        Shell::Pwsh => "ps1",
        Shell::Node => "js",
        _ => "sh",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_commands_skip_the_shell() {
        assert_eq!(plain_command("true"), Some(vec!["true".to_owned()]));
        assert_eq!(
            plain_command(" make -j4 all "),
            Some(vec!["make".into(), "-j4".into(), "all".into()])
        );
        for shell_syntax in [
            "echo $HOME",
            "a | b",
            "a && b",
            "x=1 cmd",
            "echo 'q'",
            "ls *.rs",
            "a\nb",
            "cd dir",
            "exit 1",
            "",
        ] {
            assert_eq!(plain_command(shell_syntax), None, "{shell_syntax}");
        }
    }
}
