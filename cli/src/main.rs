//! The `orch` command: arguments → one function per command. All decisions live in
//! orch-engine; this crate parses, prints and exits.

/// `println!` that ignores a reader gone away: `orch run | head` goes on with its jobs.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed stderr, for the same reason.
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cache_cmd;
mod completions;
mod graph_out;
mod history;
mod import;
mod init;
mod plan;
mod prepare;
mod remote;
mod report;
mod run;
mod schema;
mod ui;
mod watch;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use orch_engine::compile::graph::{Graph, Overrides};
use orch_engine::db;
use orch_engine::load::diag::{LoadError, Problem};
use orch_engine::load::workspace::{self, Located};

use report::Color;

/// mimalloc instead of glibc's malloc: a 1,000-node no-op run makes ~140 allocations per
/// node, and glibc's malloc and free were a quarter of its instructions (DESIGN.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  orch run                      run every job of ./orch.yml (or a parent's)
  orch run test -j 4            run `test` and what it needs, 4 at a time
  orch run 'test*' '!test-slow' globs and exclusions
  orch plan                     what would run, what is cached, and why
  orch explain build            what went into build's key and what changed
  orch run --var profile=release --matrix os=linux
  orch graph --format dot | dot -Tsvg > graph.svg
  orch validate -f ci/orch.yml

Exit status: 0 success, 1 a node failed, 2 invalid playbook or command line, 130 interrupted.
Every playbook key, with an example: docs/reference.md in orch's repository; expressions:
docs/expressions.md; `orch schema` prints the playbook's JSON Schema.";

#[derive(Debug, Parser)]
#[command(name = "orch", version, about = "A content-addressed DAG engine for automation playbooks", after_help = EXAMPLES)]
struct Cli {
    /// The playbook (default: orch.yml, orch.yaml or orch.json here or in a parent)
    #[arg(
        short = 'f',
        long = "file",
        env = "ORCH_FILE",
        global = true,
        help_heading = "Global options"
    )]
    file: Option<PathBuf>,
    /// A GitHub Actions workflow by name: `.github/workflows/NAME.yml` (or `.yaml`) of
    /// this repository
    #[arg(
        long,
        value_name = "NAME",
        global = true,
        conflicts_with = "file",
        help_heading = "Global options"
    )]
    workflow: Option<String>,
    /// `--cache-dir` before the subcommand, as the spec's global options are written;
    /// shown in the help of the commands that use the cache (`CacheArgs`).
    #[arg(long = "cache-dir", hide = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// `--cache-mode` before the subcommand.
    #[arg(long = "cache-mode", hide = true, value_enum)]
    cache_mode: Option<CacheMode>,
    /// When to use colors
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        global = true,
        help_heading = "Global options"
    )]
    color: Color,
    /// Print less
    #[arg(short, long, global = true, help_heading = "Global options")]
    quiet: bool,
    /// Print more (repeatable)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Global options")]
    verbose: u8,
    #[command(flatten)]
    import_options: import::ImportOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum CacheMode {
    #[default]
    Private,
    Group,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the targets and everything they need
    Run(run::RunArgs),
    /// Show what a run would do: each node cached, run or blocked, and why
    Plan(plan::PlanArgs),
    /// What went into a node's key, and what changed since its last run
    Explain(plan::ExplainArgs),
    /// Run, then re-run what each edit affects, as files change
    Watch(watch::WatchArgs),
    /// Write a starter orch.yml for the project here (Cargo, npm, Python, make)
    Init {
        /// Replace an orch.yml that is already there
        #[arg(long)]
        force: bool,
    },
    /// The kept runs, newest first: status, duration, nodes, cached, failed
    Runs,
    /// A node's log from the latest run (every node's, for a job id; all of them without one)
    Logs {
        /// A node id (`test[suite=unit]`) or a job id (default: every node of the run)
        node: Option<String>,
        /// A run id from `orch runs` (default: the latest)
        #[arg(long, value_name = "ID")]
        run: Option<String>,
    },
    /// Inspect and maintain the cache
    Cache {
        #[command(flatten)]
        cache: CacheArgs,
        #[command(subcommand)]
        command: cache_cmd::CacheCommand,
    },
    /// Show the DAG after matrix expansion
    Graph {
        /// Job ids, node ids or globs; `!PATTERN` removes
        targets: Vec<String>,
        /// How to draw it: text (one node a line, with what it needs), dot (Graphviz),
        /// mermaid, or json
        #[arg(long, value_enum, default_value = "text")]
        format: graph_out::Format,
        /// Set a var (repeatable)
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Replace the values of a matrix axis, in the jobs that have it (of the targets, when named)
        #[arg(long = "matrix", value_name = "AXIS=V1,V2")]
        matrix: Vec<String>,
    },
    /// List the jobs with their descriptions and matrix sizes
    List {
        /// Only the ids, a line each: every job, then every node that is not its job's
        /// only one (what shell completion offers)
        #[arg(long)]
        ids: bool,
    },
    /// Load and check the playbook; exit 0 or 2
    Validate,
    /// Print shell completions
    Completions { shell: clap_complete::Shell },
    /// Print the JSON Schema of the playbook format
    Schema,
    /// Write an AitherZero playbook (JSON or PSD1) as an orch playbook
    Import(import::ImportArgs),
    /// Run leases of a Remote Execution farm (BuildGrid's Bots API) until Ctrl-C
    Worker(worker::WorkerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A command that only prints ends quietly when its reader goes away (`orch plan |
    // head -1`), as every Unix tool does. `run` and `watch` keep going without their
    // reader: their jobs and summaries matter more than the output.
    if !matches!(cli.command, Command::Run(_) | Command::Watch(_)) {
        end_quietly_on_closed_pipe();
    }
    let color = cli.color;
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Load(error)) => {
            report::load_error(&error, color);
            ExitCode::from(2)
        }
    }
}

/// Where the cache is and who may use it: on the commands that use it.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct CacheArgs {
    /// The cache directory (default: .orch/cache in the workspace)
    #[arg(
        long = "cache-dir",
        env = "ORCH_CACHE_DIR",
        value_name = "DIR",
        global = true,
        help_heading = "Cache options"
    )]
    pub(crate) dir: Option<PathBuf>,
    /// Who may use a cache directory orch creates: `private` (0700) or `group` (2770)
    #[arg(
        long = "cache-mode",
        value_enum,
        default_value = "private",
        env = "ORCH_CACHE_MODE",
        global = true,
        help_heading = "Cache options"
    )]
    pub(crate) mode: CacheMode,
}

impl Cli {
    /// The cache options in force: those written before the subcommand win over the
    /// subcommand's own (which hold the environment's and the defaults).
    pub(crate) fn cache(&self, own: &CacheArgs) -> CacheArgs {
        CacheArgs {
            dir: self.cache_dir.clone().or_else(|| own.dir.clone()),
            mode: self.cache_mode.unwrap_or(own.mode),
        }
    }
}

pub(crate) use orch_engine::report::summary::counted;

/// The default action for SIGPIPE (Rust ignores it, so a write to a closed pipe panics).
#[allow(unsafe_code)]
fn end_quietly_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to its default touches no Rust state; it runs
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Why a command could not do its work (its own failures are exit codes).
enum Failure {
    Load(LoadError),
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        Failure::Load(e)
    }
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Failure::Load(p.into())
    }
}

fn dispatch(cli: Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Completions { shell } => {
            completions::print(*shell);
            Ok(0)
        }
        Command::Import(args) => import::run(&cli, args),
        Command::Worker(args) => worker::run(args),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&schema::schema()).unwrap_or_default()
            );
            Ok(0)
        }
        Command::Validate => {
            let (located, graph) = load(&cli, Overrides::default())?;
            if !cli.quiet {
                println!(
                    "{}: ok ({}, {})",
                    located.source.path.display(),
                    counted(graph.jobs.len(), "job"),
                    counted(graph.nodes.len(), "node")
                );
            }
            Ok(0)
        }
        Command::List { ids } => {
            let (_, graph) = load(&cli, Overrides::default())?;
            if *ids {
                for job in &graph.jobs {
                    println!("{}", job.id);
                }
                for node in &graph.nodes {
                    if node.id != graph.jobs[node.job].id {
                        println!("{}", node.id);
                    }
                }
            } else {
                print!("{}", list(&graph));
            }
            Ok(0)
        }
        Command::Graph {
            targets,
            format,
            vars,
            matrix,
        } => {
            let overrides = overrides(vars, matrix, targets)?;
            let (_, graph) = load(&cli, overrides)?;
            let selected = orch_engine::compile::targets::select(&graph, targets)?;
            print!("{}", graph_out::render(&graph, &selected, *format));
            Ok(0)
        }
        Command::Run(args) => run::run(&cli, args),
        Command::Plan(args) => plan::plan(&cli, args),
        Command::Explain(args) => plan::explain(&cli, args),
        Command::Watch(args) => watch::watch(&cli, args),
        Command::Cache { cache, command } => cache_cmd::cache(&cli, cache, command),
        Command::Runs => history::runs(&cli),
        Command::Init { force } => init::init(*force),
        Command::Logs { node, run } => history::logs(&cli, node.as_deref(), run.as_deref()),
    }
}

/// The playbook the command line names: `--workflow NAME`, `-f PATH`, or the one found
/// from the current folder. Every command that reads a playbook asks here.
/// An AitherZero playbook (`-f pr.psd1`) is imported in memory and run as the orch
/// playbook `orch import` would write beside it; what the import warns of is said first.
pub(crate) fn locate(cli: &Cli, cwd: &std::path::Path) -> Result<Located, Failure> {
    let mut located = match &cli.workflow {
        Some(name) => workspace::locate_workflow(name, cwd)?,
        None => workspace::locate(cli.file.as_deref(), cwd)?,
    };
    if cli.workflow.is_none() && import::is_aitherzero(&located.source) {
        // The workspace is the repository the scripts are in (its git root, else the
        // folder that holds the scripts folder); paths start at its root.
        let options = &cli.import_options;
        let (scripts, holder) = match &options.scripts {
            Some(dir) => {
                let dir = cwd.join(dir);
                let holder = dir
                    .parent()
                    .map_or_else(|| dir.clone(), std::path::Path::to_path_buf);
                (dir, holder)
            }
            None => import::scripts_folder(&located.source, &located.path)?,
        };
        let root = holder
            .ancestors()
            .find(|a| a.join(".git").exists())
            .map_or(holder.clone(), std::path::Path::to_path_buf);
        let imported = import::imported(
            &located.source,
            &located.path,
            Some(&scripts),
            &root,
            options.order(),
        )?;
        let warnings = options.warnings_allowed(imported.warnings)?;
        located.workspace = root;
        // Named as what it is (problems after the import are positions in its text).
        let mut shown = located.source.path.clone().into_os_string();
        shown.push(import::IMPORTED_MARK);
        located.source.path = shown.into();
        if !cli.quiet {
            for warning in &warnings {
                tell!("warning: {warning}");
            }
        }
        located.source.text = imported.yaml.into();
    }
    Ok(located)
}

/// Finds the playbook and opens a salsa session on it.
fn open(cli: &Cli) -> Result<(Located, db::Session), Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Problem::general(format!("cannot read the current directory: {e}")))?;
    let located = locate(cli, &cwd)?;
    let in_workspace = located.path.strip_prefix(&located.workspace).map_or_else(
        |_| located.source.path.clone(),
        std::path::Path::to_path_buf,
    );
    let session = db::Session::new(located.source.clone(), &located.workspace, &in_workspace);
    // Graphs are remembered where runs keep their state: a workspace orch never ran in
    // gets no `.orch/` from a `validate` or a `graph`.
    let state_dir = orch_engine::cache::state::dir(&located.workspace.join(".orch"));
    let session = if state_dir.is_dir() {
        session.remember_graphs_in(state_dir)
    } else {
        session
    };
    Ok((located, session))
}

/// Finds, parses and compiles the playbook through the salsa database.
fn load(cli: &Cli, overrides: Overrides) -> Result<(Located, Arc<Graph>), Failure> {
    let (located, session) = open(cli)?;
    let graph = session.graph(overrides)?;
    graph.check_on_disk(&located.workspace)?;
    Ok((located, graph))
}

/// `--var NAME=VALUE` and `--matrix AXIS=V1,V2` into overrides; the matrix applies to
/// the jobs the targets name (all when there are none).
fn overrides(vars: &[String], matrix: &[String], targets: &[String]) -> Result<Overrides, Problem> {
    let split = |flag: &str, text: &str| -> Result<(String, String), Problem> {
        match text.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Problem::general(format!(
                "{flag} {text}: expected NAME=VALUE"
            ))),
        }
    };
    let vars = vars
        .iter()
        .map(|v| split("--var", v))
        .collect::<Result<Vec<_>, _>>()?;
    let matrix = matrix
        .iter()
        .map(|m| {
            let (axis, values) = split("--matrix", m)?;
            let values: Vec<String> = values.split(',').map(str::to_owned).collect();
            if values.iter().any(String::is_empty) {
                return Err(Problem::general(format!("--matrix {m}: empty value")));
            }
            Ok((axis, values))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let matrix_jobs = targets
        .iter()
        .filter(|t| !t.starts_with('!'))
        .map(|t| t.split('[').next().unwrap_or(t).to_owned())
        .collect();
    Ok(Overrides {
        vars,
        matrix,
        matrix_jobs,
    })
}

fn list(graph: &Graph) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(name) = &graph.playbook.name {
        let _ = writeln!(out, "{name}");
    }
    let width = graph.jobs.iter().map(|j| j.id.len()).max().unwrap_or(0);
    for job in &graph.jobs {
        let mut details = Vec::new();
        if let orch_engine::compile::graph::Body::Uses(uses) = &job.body {
            details.push(format!("uses {}", uses.path.display()));
            let inputs: Vec<String> = graph.origins[uses.origin]
                .inputs
                .values()
                .map(|i| {
                    let mut text = i.name.value.clone();
                    match (&i.default, i.required) {
                        (Some(d), _) => text.push_str(&format!("={d}")),
                        (None, true) => text.push_str(" (required)"),
                        (None, false) => {}
                    }
                    if let Some(d) = &i.description {
                        text.push_str(&format!(": {d}"));
                    }
                    text
                })
                .collect();
            if !inputs.is_empty() {
                details.push(format!("inputs: {}", inputs.join(", ")));
            }
        }
        if !job.axes.is_empty() {
            details.push(counted(job.nodes.len(), "node"));
        }
        details.extend(job.description.clone());
        let line = format!("{:width$}  {}", job.id, details.join(" · "));
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
