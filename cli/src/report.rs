//! Problems → miette reports on stderr: file:line:column and a caret under the place.

use std::io::IsTerminal;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource, SourceSpan};
use orch_engine::load::diag::{LoadError, Problem};

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
struct Report {
    message: String,
    #[source_code]
    source_code: Option<NamedSource<String>>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to color stderr: `--color`, then `NO_COLOR`, then whether it is a terminal.
    pub(crate) fn enabled(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
            }
        }
    }
}

pub(crate) fn problem(problem: &Problem, color: Color) {
    let report = Report {
        message: problem.message.clone(),
        source_code: problem
            .source
            .as_ref()
            .map(|s| NamedSource::new(s.path.display().to_string(), s.text.to_string())),
        span: problem
            .span
            .map(|s| SourceSpan::new(s.offset.into(), s.len.max(1))),
        label: problem.label.clone().unwrap_or_else(|| "here".into()),
        help: problem.help.clone(),
    };
    let theme = if color.enabled() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    match handler.render_report(&mut out, &report) {
        Ok(()) => {
            use std::io::Write as _;
            let _ = write!(std::io::stderr(), "{out}");
        }
        Err(_) => tell!("error: {problem}"),
    }
}

pub(crate) fn load_error(error: &LoadError, color: Color) {
    for p in &error.problems {
        problem(p, color);
    }
    if error.problems.len() > 1 {
        tell!("{} problems found; nothing was run", error.problems.len());
    }
}
