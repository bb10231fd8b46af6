//! `orch import FILE`: an AitherZero playbook (JSON or PSD1) written as an orch
//! playbook, checked by loading it, with a warning at its file:line for every field the
//! old engine ignored or orch cannot express (errors with `--strict`).

use std::path::{Path, PathBuf};

use orch_engine::load::aither::import::{ScriptsFolder, import};
use orch_engine::load::aither::sequence::Order;
use orch_engine::load::diag::{LoadError, Problem, SourceFile, Span};
use orch_engine::load::workspace::read_source;

use crate::{Cli, Failure};

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The playbook to import (`.json` or `.psd1`)
    file: PathBuf,
    /// Where to write the orch playbook (default: print it)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// How an AitherZero playbook is read: by `orch import`, and by every command given one
/// with `-f` (global options, so `orch run -f pr.psd1 --strict` means what it says).
#[derive(Debug, clap::Args)]
pub(crate) struct ImportOptions {
    /// An AitherZero playbook's numbered scripts' folder (default: `automation-scripts/`
    /// or `library/automation-scripts/` beside the playbook or above it)
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        help_heading = "AitherZero playbooks"
    )]
    pub(crate) scripts: Option<PathBuf>,
    /// Every warning of an AitherZero playbook's import is an error
    #[arg(long, global = true, help_heading = "AitherZero playbooks")]
    pub(crate) strict: bool,
    /// Run a sequence's scripts by ascending number, as the old engine did (default: as
    /// written)
    #[arg(long, global = true, help_heading = "AitherZero playbooks")]
    pub(crate) old_order: bool,
}

impl ImportOptions {
    pub(crate) fn order(&self) -> Order {
        if self.old_order {
            Order::Ascending
        } else {
            Order::Declared
        }
    }

    /// The warnings of an import, or with `--strict` the error they are.
    pub(crate) fn warnings_allowed(&self, warnings: Vec<Problem>) -> Result<Vec<Problem>, Failure> {
        if self.strict && !warnings.is_empty() {
            return Err(LoadError { problems: warnings }.into());
        }
        Ok(warnings)
    }
}

const SCRIPTS_FOLDERS: &[&str] = &["automation-scripts", "library/automation-scripts"];

pub(crate) fn run(cli: &Cli, args: &ImportArgs) -> Result<u8, Failure> {
    let options = &cli.import_options;
    let cwd = std::env::current_dir()
        .map_err(|e| Problem::general(format!("cannot read the current directory: {e}")))?;
    let source = read_source(&cwd.join(&args.file), &args.file)?;
    let out_dir = args
        .output
        .as_ref()
        .and_then(|o| cwd.join(o).parent().map(Path::to_path_buf))
        .unwrap_or_else(|| cwd.clone());
    let scripts = options.scripts.as_ref().map(|d| cwd.join(d));
    if args.output.is_some() {
        // An orch playbook reaches only files inside its folder: the scripts must be there.
        let scripts_dir = match &scripts {
            Some(dir) => dir.clone(),
            None => scripts_folder(&source, &cwd.join(&args.file))?.0,
        };
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if !real(&scripts_dir).starts_with(real(&out_dir)) {
            return Err(Problem::general(format!(
                "{} would not reach the scripts: {} is outside {}, and an orch playbook reaches only files inside its folder",
                args.output.as_deref().unwrap_or(Path::new("")).display(),
                scripts_dir.display(),
                out_dir.display()
            ))
            .with_help("write the playbook in the folder that holds the scripts folder, or above it")
            .into());
        }
    }
    let imported = imported(
        &source,
        &cwd.join(&args.file),
        scripts.as_deref(),
        &out_dir,
        options.order(),
    )?;
    let warnings = options.warnings_allowed(imported.warnings)?;
    for warning in &warnings {
        tell!("warning: {warning}");
    }
    // What was written must load as an orch playbook: checked before it is kept.
    let written_path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("orch.yml"));
    let written = SourceFile {
        path: written_path.clone(),
        text: imported.yaml.clone().into(),
    };
    let tree = orch_engine::load::tree::parse(&written).map_err(LoadError::from)?;
    orch_engine::load::decode::decode(&written, &tree)?;
    match &args.output {
        Some(path) => {
            orch_store::replace_file(&cwd.join(path), imported.yaml.as_bytes())
                .map_err(|e| Problem::general(format!("cannot write {}: {e}", path.display())))?;
            if !cli.quiet {
                tell!(
                    "{}: {} warnings; wrote {}",
                    args.file.display(),
                    warnings.len(),
                    path.display()
                );
            }
        }
        None => print!("{}", imported.yaml),
    }
    Ok(0)
}

/// Whether `-f FILE` names an AitherZero playbook rather than an orch one: a `.psd1`, or
/// a `.json` whose top level has no `jobs` (an orch playbook in JSON has them).
pub(crate) fn is_aitherzero(source: &SourceFile) -> bool {
    let extension = |x: &str| {
        source
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(x))
    };
    extension("psd1")
        || (extension("json")
            && serde_json::from_str::<serde_json::Value>(&source.text)
                .is_ok_and(|v| v.as_object().is_some_and(|top| !top.contains_key("jobs"))))
}

/// For a playbook that was imported from AitherZero's (`locate` marks it), its scripts
/// folder, relative to the workspace.
pub(crate) fn scripts_of_import(
    cli: &Cli,
    located: &orch_engine::load::workspace::Located,
) -> Option<String> {
    if !located
        .source
        .path
        .to_string_lossy()
        .ends_with(IMPORTED_MARK)
    {
        return None;
    }
    let folder = match &cli.import_options.scripts {
        Some(dir) => std::env::current_dir().ok()?.join(dir),
        None => scripts_folder(&located.source, &located.path).ok()?.0,
    };
    let relative = folder.strip_prefix(&located.workspace).ok()?;
    Some(relative.to_string_lossy().into_owned())
}

/// What `locate` adds to an imported playbook's name (its problems are positions in the
/// imported text).
pub(crate) const IMPORTED_MARK: &str = " (imported)";

/// The scripts folder of the AitherZero playbook at `file`: `automation-scripts/` or
/// `library/automation-scripts/` beside it or above it. With the folder that holds
/// it: the repository's root, which is the workspace of a playbook run directly.
pub(crate) fn scripts_folder(
    source: &SourceFile,
    file: &Path,
) -> Result<(PathBuf, PathBuf), Problem> {
    file.parent()
        .into_iter()
        .flat_map(Path::ancestors)
        .flat_map(|a| {
            SCRIPTS_FOLDERS
                .iter()
                .map(move |f| (a.join(f), a.to_path_buf()))
        })
        .find(|(d, _)| d.is_dir())
        .ok_or_else(|| {
            Problem::general(format!(
                "no scripts folder ({}) beside {} or above it",
                SCRIPTS_FOLDERS.join(" or "),
                source.path.display()
            ))
            .with_help("name it with --scripts DIR")
        })
}

/// The orch playbook an AitherZero one (`source`, at `file`) is: its scripts folder
/// (`scripts`, else [`scripts_folder`]), script paths written relative to `out_dir`.
pub(crate) fn imported(
    source: &SourceFile,
    file: &Path,
    scripts: Option<&Path>,
    out_dir: &Path,
    order: Order,
) -> Result<orch_engine::load::aither::import::Imported, Failure> {
    let scripts_dir = match scripts {
        Some(dir) => dir.to_path_buf(),
        None => scripts_folder(source, file)?.0,
    };
    let shown = relative(out_dir, &scripts_dir);
    let folder = ScriptsFolder::read(&scripts_dir, shown)
        .map_err(|e| Problem::general(format!("cannot read {}: {e}", scripts_dir.display())))?;
    let (root, powershell) = parse(source)?;
    Ok(import(source, (&root, &powershell), &folder, order)?)
}

/// The playbook's tree, and where a PSD1 has PowerShell kept as text.
fn parse(source: &SourceFile) -> Result<(orch_engine::load::tree::Node, Vec<Span>), LoadError> {
    let is_psd1 = source
        .path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("psd1"));
    if is_psd1 {
        let psd1 = orch_engine::load::psd1::parse(source)?;
        Ok((psd1.root, psd1.opaque.iter().map(|o| o.span).collect()))
    } else {
        Ok((orch_engine::load::tree::parse(source)?, Vec::new()))
    }
}

/// `to` as seen from `from` (both absolute), `../` where needed.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to_parts[common..] {
        out.push(part);
    }
    out
}
