//! The remote cache's options (`--remote-cache grpc://HOST:PORT` and the rest) and the
//! backend they make: the local store first, then the server (orch-remote); and
//! `--remote-exec`, the executor nodes' steps run on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orch_engine::load::diag::Problem;
use orch_remote::{Address, Mode, RemoteExecutor, RemoteOptions, TieredStore, TlsFiles};
use orch_store::LocalStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum RemoteMode {
    /// Look results up, never write (CI on branches that must not write)
    Read,
    /// Write results, never look up
    Write,
    #[default]
    ReadWrite,
}

/// A remote cache behind the local one (the Remote Execution API's action cache and CAS).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct RemoteArgs {
    /// A Remote Execution API server to share results through: grpc://HOST:PORT or grpcs://HOST:PORT
    #[arg(
        long = "remote-cache",
        env = "ORCH_REMOTE_CACHE",
        value_name = "URL",
        help_heading = "Remote cache"
    )]
    pub(crate) remote_address: Option<String>,
    /// The server's instance name
    #[arg(
        long = "remote-instance",
        env = "ORCH_REMOTE_INSTANCE",
        value_name = "NAME",
        default_value = "",
        hide_default_value = true,
        help_heading = "Remote cache"
    )]
    pub(crate) remote_instance: String,
    /// Whether to read, write or both
    #[arg(
        long = "remote-cache-mode",
        env = "ORCH_REMOTE_CACHE_MODE",
        value_enum,
        default_value = "read-write",
        help_heading = "Remote cache"
    )]
    pub(crate) remote_mode: RemoteMode,
    /// How long one call to the server may take (then the run goes on without it)
    #[arg(
        long = "remote-timeout",
        env = "ORCH_REMOTE_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s",
        help_heading = "Remote cache"
    )]
    pub(crate) remote_timeout: String,
    /// A file holding the bearer token to send (or the token in ORCH_REMOTE_TOKEN)
    #[arg(
        long = "remote-token-file",
        env = "ORCH_REMOTE_TOKEN_FILE",
        value_name = "FILE",
        help_heading = "Remote cache"
    )]
    pub(crate) remote_token_file: Option<PathBuf>,
    /// The CA certificate (PEM) a grpcs:// server's certificate is checked against
    #[arg(
        long = "remote-tls-ca",
        env = "ORCH_REMOTE_TLS_CA",
        value_name = "FILE",
        help_heading = "Remote cache"
    )]
    pub(crate) remote_tls_ca: Option<PathBuf>,
    /// A client certificate (PEM), for mutual TLS
    #[arg(
        long = "remote-tls-cert",
        env = "ORCH_REMOTE_TLS_CERT",
        value_name = "FILE",
        help_heading = "Remote cache"
    )]
    pub(crate) remote_tls_cert: Option<PathBuf>,
    /// The client certificate's key (PEM)
    #[arg(
        long = "remote-tls-key",
        env = "ORCH_REMOTE_TLS_KEY",
        value_name = "FILE",
        help_heading = "Remote cache"
    )]
    pub(crate) remote_tls_key: Option<PathBuf>,
    /// A Remote Execution API server to run nodes' steps on: grpc://HOST:PORT or grpcs://HOST:PORT (also the remote cache, unless --remote-cache names another; instance, token and TLS as for the remote cache)
    #[arg(
        long = "remote-exec",
        env = "ORCH_REMOTE_EXEC",
        value_name = "URL",
        help_heading = "Remote execution"
    )]
    pub(crate) remote_exec: Option<String>,
    /// Which jobs' nodes go to --remote-exec: all that can, or only those that say `remote:`
    #[arg(
        long = "remote-exec-jobs",
        env = "ORCH_REMOTE_EXEC_JOBS",
        value_enum,
        default_value = "all",
        help_heading = "Remote execution"
    )]
    pub(crate) remote_exec_jobs: RemoteJobs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum RemoteJobs {
    /// Every node that can go, but for jobs that say `remote: false`
    #[default]
    All,
    /// Only the nodes of jobs that say `remote: true` (or name platform properties)
    Marked,
}

/// The settings of one server (`flag` names the option that gave its address), shared
/// by the remote cache, remote execution and `orch worker`.
pub(crate) fn options_of(
    args: &RemoteArgs,
    text: &str,
    flag: &str,
) -> Result<RemoteOptions, Problem> {
    let address = Address::parse(text).map_err(|e| {
        Problem::general(format!("{flag}: {e}")).with_help("for example grpc://127.0.0.1:8980")
    })?;
    let timeout: Duration = humantime::parse_duration(args.remote_timeout.trim())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Problem::general(format!(
                "--remote-timeout {}: not a duration",
                args.remote_timeout
            ))
            .with_help("a duration such as 10s, 500ms or 1m")
        })?;
    let token = match &args.remote_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| {
                    Problem::general(format!("--remote-token-file {}: {e}", path.display()))
                })?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("ORCH_REMOTE_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    Ok(RemoteOptions {
        address,
        instance: args.remote_instance.clone(),
        mode: match args.remote_mode {
            RemoteMode::Read => Mode::Read,
            RemoteMode::Write => Mode::Write,
            RemoteMode::ReadWrite => Mode::ReadWrite,
        },
        token,
        tls: TlsFiles {
            ca: args.remote_tls_ca.clone(),
            cert: args.remote_tls_cert.clone(),
            key: args.remote_tls_key.clone(),
        },
        timeout,
        salt: format!("orch key v{}", orch_engine::cache::key::KEY_VERSION),
        warn: Arc::new(|text| tell!("{text}")),
        check: Arc::new(|record| {
            let outputs = record.outputs.iter().cloned().collect();
            orch_engine::cache::key::result_digest(&record.files, &outputs, &record.artifacts)
                == record.result_digest
        }),
    })
}

/// The local store with the remote cache behind it, when one is asked for. `peek_only`
/// (plans): a remote entry is looked at, nothing downloaded.
pub(crate) fn tiered(
    args: &RemoteArgs,
    local: LocalStore,
    peek_only: bool,
) -> Result<Result<Arc<TieredStore>, LocalStore>, Problem> {
    // A farm's action cache is where its results are: `--remote-exec` alone shares them
    // through it, as `--remote-cache` at the same address would.
    let (text, flag) = match (&args.remote_address, &args.remote_exec) {
        (Some(text), _) => (text, "--remote-cache"),
        (None, Some(text)) => (text, "--remote-exec"),
        (None, None) => return Ok(Err(local)),
    };
    let options = options_of(args, text, flag)?;
    TieredStore::new(local, options, peek_only)
        .map(Ok)
        .map_err(|e| Problem::general(format!("--remote-cache: {e}")))
}

/// The remote executor, when `--remote-exec` asks for one: what it brings back goes into
/// the local store at `cache_dir`.
pub(crate) fn executor(
    args: &RemoteArgs,
    cache_dir: &std::path::Path,
) -> Result<Option<Arc<RemoteExecutor>>, Problem> {
    let Some(text) = &args.remote_exec else {
        return Ok(None);
    };
    let options = options_of(args, text, "--remote-exec")?;
    let local = LocalStore::open(cache_dir)
        .map_err(|e| Problem::general(format!("--remote-exec needs the local cache: {e}")))?;
    RemoteExecutor::new(local, options)
        .map(Some)
        .map_err(|e| Problem::general(format!("--remote-exec: {e}")))
}
