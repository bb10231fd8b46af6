//! `orch worker --server grpc://HOST:PORT`: a worker for a Remote Execution farm that
//! speaks the Bots API (BuildGrid). It runs until Ctrl-C; each lease gets a private
//! folder under `--work-dir`, removed when the lease ends.

use std::path::PathBuf;
use std::sync::Arc;

use orch_engine::load::diag::Problem;

use crate::Failure;
use crate::remote::RemoteArgs;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WorkerArgs {
    /// The farm's address: grpc://HOST:PORT or grpcs://HOST:PORT
    #[arg(long, value_name = "URL")]
    server: String,
    /// Leases run at once
    #[arg(long, default_value_t = 1)]
    capacity: usize,
    /// Where leases get their private folders (default: a new folder under the system's temp)
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// The bot's name (default: host name and process id)
    #[arg(long, value_name = "NAME")]
    id: Option<String>,
    /// A platform property to offer beside OSFamily and ISA (repeatable)
    #[arg(long = "property", value_name = "NAME=VALUE")]
    properties: Vec<String>,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub(crate) fn run(args: &WorkerArgs) -> Result<u8, Failure> {
    let mut properties = Vec::new();
    for text in &args.properties {
        let Some((name, value)) = text.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            return Err(Problem::general(format!("--property {text}: not NAME=VALUE")).into());
        };
        properties.push((name.to_owned(), value.to_owned()));
    }
    if args.capacity == 0 {
        return Err(Problem::general("--capacity must be at least 1").into());
    }
    let remote = crate::remote::options_of(&args.remote, &args.server, "--server")?;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let options = orch_remote::WorkerOptions {
        remote,
        capacity: args.capacity,
        work_dir: args.work_dir.clone(),
        bot_id: args
            .id
            .clone()
            .unwrap_or_else(|| format!("{host}-{}", std::process::id())),
        properties,
        say: Arc::new(|line| tell!("{line}")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Problem::general(format!("cannot start the runtime: {e}")))?;
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match runtime.block_on(orch_remote::serve_worker(options, stop)) {
        Ok(()) => Ok(0),
        Err(e) => {
            tell!("orch worker: {e}");
            Ok(1)
        }
    }
}
