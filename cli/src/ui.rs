//! What a person sees while orch runs: on a terminal, an indicatif view with a line per
//! running node and an overall bar; otherwise (CI), each node's log printed whole when it
//! ends, its lines prefixed with the node id, grouped (`::group::` on GitHub Actions).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use orch_engine::compile::graph::Graph;
use orch_engine::report::event::{Event, NodeResult, NodeStatus, Observer};
use orch_engine::report::runs::node_file_name;
use orch_engine::report::summary::human_duration;
use orch_store::Backend;

pub(crate) struct Ui {
    graph: Arc<Graph>,
    log_dir: PathBuf,
    /// Where a cached node's log is read from while the run goes on (its file in
    /// `logs/` is placed when the run ends).
    store: Arc<dyn Backend>,
    quiet: bool,
    verbose: bool,
    github: bool,
    view: Option<Live>,
    /// Serializes whole groups of plain output so nodes never interleave.
    out: Mutex<()>,
    /// Plain output goes to stderr: stdout carries the event stream (`--events -`).
    plain_to_stderr: bool,
}

struct Live {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<usize, ProgressBar>>,
    _echo: Option<QuietControlChars>,
}

/// While the live view is drawn, the terminal does not echo Ctrl-C as `^C`: those two
/// characters, written after a bar that fills its line, wrapped the cursor onto a new
/// row, and the view then redrew one row too low, leaving a spinner line behind. The
/// terminal's own setting comes back when the view goes.
struct QuietControlChars {
    saved: rustix::termios::Termios,
}

impl QuietControlChars {
    fn on_stderr() -> Option<Self> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stderr = std::io::stderr();
        let saved = tcgetattr(&stderr).ok()?;
        if !saved.local_modes.contains(LocalModes::ECHOCTL) {
            return None;
        }
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHOCTL);
        tcsetattr(&stderr, OptionalActions::Now, &quiet).ok()?;
        Some(Self { saved })
    }
}

impl Drop for QuietControlChars {
    fn drop(&mut self) {
        let stderr = std::io::stderr();
        let _ =
            rustix::termios::tcsetattr(&stderr, rustix::termios::OptionalActions::Now, &self.saved);
    }
}

impl Ui {
    pub(crate) fn new(
        graph: Arc<Graph>,
        log_dir: PathBuf,
        store: Arc<dyn Backend>,
        total: usize,
        quiet: bool,
        verbose: bool,
    ) -> Self {
        let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() && !quiet;
        let view = live.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(12));
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} nodes {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            Live {
                multi,
                overall,
                running: Mutex::new(HashMap::new()),
                _echo: QuietControlChars::on_stderr(),
            }
        });
        Self {
            graph,
            log_dir,
            store,
            quiet,
            verbose,
            github: std::env::var_os("GITHUB_ACTIONS").is_some(),
            view,
            out: Mutex::new(()),
            plain_to_stderr: false,
        }
    }

    /// Plain output to stderr, stdout being another stream's.
    pub(crate) fn with_plain_to_stderr(mut self) -> Self {
        self.plain_to_stderr = true;
        self
    }

    /// Where plain output is written, locked for a whole group.
    fn plain_out(&self) -> Box<dyn Write + '_> {
        if self.plain_to_stderr {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(live) = &self.view {
            live.overall.finish_and_clear();
            let _ = live.multi.clear();
        }
    }

    fn status_line(&self, node: usize, result: &NodeResult) -> String {
        let id = &self.graph.nodes[node].id;
        let mark = match result.status {
            NodeStatus::Success => "✓",
            NodeStatus::Failure => "✗",
            NodeStatus::Skipped => "↷",
            NodeStatus::Cancelled => "○",
        };
        if result.cached {
            if result.remote_hit {
                return format!("✓ {id} cached (remote)");
            }
            return format!("✓ {id} cached");
        }
        let mut line = format!("{mark} {id} {}", result.status.as_str());
        if result.attempts > 0 {
            line.push_str(&format!(" in {}", human_duration(result.duration)));
        }
        if result.attempts > 1 {
            line.push_str(&format!(" after {} attempts", result.attempts));
        }
        if let Some(reason) = &result.reason
            && result.status != NodeStatus::Success
        {
            line.push_str(&format!(" ({reason})"));
        }
        line
    }

    /// A node's log as it can be read now: its file, or a cached node's blob.
    fn log(&self, node: usize, result: &NodeResult) -> Option<Box<dyn BufRead>> {
        if result.cached {
            // Streamed like any log file: a huge log must not be read into memory.
            return Some(
                match result
                    .cached_log
                    .and_then(|blob| self.store.local_file(&blob))
                    .and_then(|file| std::fs::File::open(file).ok())
                {
                    Some(blob) => Box::new(BufReader::new(blob)),
                    None => Box::new(std::io::Cursor::new(
                        orch_engine::report::runs::MISSING_LOG.as_bytes(),
                    )),
                },
            );
        }
        let path = self
            .log_dir
            .join(format!("{}.log", node_file_name(&self.graph, node)));
        let file = std::fs::File::open(path).ok()?;
        Some(Box::new(BufReader::new(file)))
    }

    fn log_lines(&self, node: usize, result: &NodeResult, last: Option<usize>) -> Vec<String> {
        let Some(file) = self.log(node, result) else {
            return Vec::new();
        };
        let lines = file
            .split(b'\n')
            .map_while(Result::ok)
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        match last {
            None => lines.collect(),
            Some(n) => {
                let mut tail = std::collections::VecDeque::with_capacity(n);
                for l in lines {
                    if tail.len() == n {
                        tail.pop_front();
                    }
                    tail.push_back(l);
                }
                tail.into()
            }
        }
    }

    fn plain_finished(&self, node: usize, result: &NodeResult) {
        let failed = result.status == NodeStatus::Failure;
        if self.quiet && !failed {
            return;
        }
        let id = &self.graph.nodes[node].id;
        let _guard = self.out.lock();
        let mut out = self.plain_out();
        let header = self.status_line(node, result);
        if !result.has_log {
            let _ = writeln!(out, "{header}");
            return;
        }
        if self.github {
            let _ = writeln!(out, "::group::{header}");
        } else {
            let _ = writeln!(out, "── {header}");
        }
        if let Some(file) = self.log(node, result) {
            for line in file.split(b'\n').map_while(Result::ok) {
                let _ = writeln!(out, "[{id}] {}", String::from_utf8_lossy(&line));
            }
        }
        if self.github {
            let _ = writeln!(out, "::endgroup::");
        }
    }
}

impl Observer for Ui {
    fn event(&self, event: &Event) {
        match event {
            Event::NodeStarted { node, attempt } => {
                let id = &self.graph.nodes[*node].id;
                match &self.view {
                    Some(live) => {
                        let Ok(mut running) = live.running.lock() else {
                            return;
                        };
                        let bar = running.entry(*node).or_insert_with(|| {
                            let bar = live
                                .multi
                                .insert_before(&live.overall, ProgressBar::new_spinner());
                            bar.set_style(
                                ProgressStyle::with_template(
                                    "{spinner} {prefix} {elapsed:>4} {wide_msg}",
                                )
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                            );
                            bar.set_prefix(id.clone());
                            bar.enable_steady_tick(Duration::from_millis(120));
                            bar
                        });
                        if *attempt > 1 {
                            bar.set_message(format!("attempt {attempt}"));
                        }
                    }
                    None if self.verbose => {
                        let _guard = self.out.lock();
                        let _ = writeln!(
                            self.plain_out(),
                            "▶ {id}{}",
                            if *attempt > 1 {
                                format!(" (attempt {attempt})")
                            } else {
                                String::new()
                            }
                        );
                    }
                    None => {}
                }
            }
            Event::NodeOutput { node, line } => {
                if let Some(live) = &self.view
                    && let Ok(running) = live.running.lock()
                    && let Some(bar) = running.get(node)
                {
                    bar.set_message(line.clone());
                }
            }
            Event::NodeFinished { node, result } => match &self.view {
                Some(live) => {
                    if let Ok(mut running) = live.running.lock()
                        && let Some(bar) = running.remove(node)
                    {
                        bar.finish_and_clear();
                        live.multi.remove(&bar);
                    }
                    live.overall.inc(1);
                    let _ = live.multi.println(self.status_line(*node, result));
                    if result.status == NodeStatus::Failure && result.has_log {
                        for line in self.log_lines(*node, result, Some(20)) {
                            let _ = live.multi.println(format!("    {line}"));
                        }
                    } else if self.verbose && result.has_log {
                        // -v replays every log, a cached node's original one included.
                        for line in self.log_lines(*node, result, None) {
                            let _ = live.multi.println(format!("    {line}"));
                        }
                    }
                }
                None => self.plain_finished(*node, result),
            },
            Event::Warning(warning) => match &self.view {
                Some(live) => {
                    let _ = live.multi.println(format!("warning: {warning}"));
                }
                None => tell!("warning: {warning}"),
            },
            Event::RunStarted { .. } | Event::RunFinished { .. } => {}
            Event::Cancelling => {
                let message = "cancelling: stopping running nodes (Ctrl-C again to kill at once)";
                match &self.view {
                    Some(live) => live.overall.set_message(message),
                    None => tell!("{message}"),
                }
            }
        }
    }
}
