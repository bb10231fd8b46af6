//! A finished run as `summary.json`, `summary.md` (GitHub-style) and JUnit XML.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::compile::graph::Graph;
use crate::report::event::{NodeResult, NodeStatus, RunStatus};

/// What the summaries are made of.
pub struct RunReport<'a> {
    pub graph: &'a Graph,
    pub run_id: &'a str,
    pub playbook: &'a str,
    pub started_at: &'a str,
    pub duration: Duration,
    pub status: RunStatus,
    pub results: &'a [Option<NodeResult>],
    /// `.orch/` (logs are read from here for the failures' tails).
    pub orch_dir: &'a Path,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub success: usize,
    pub failure: usize,
    pub skipped: usize,
    pub cancelled: usize,
    pub cached: usize,
}

/// `1 node`, `2 nodes`: a count with its noun.
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        if s < 3600 {
            format!("{}m{:02}s", s / 60, s % 60)
        } else {
            format!("{}h{:02}m", s / 3600, s % 3600 / 60)
        }
    }
}

impl RunReport<'_> {
    fn nodes(&self) -> impl Iterator<Item = (usize, &NodeResult)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for (_, r) in self.nodes() {
            c.total += 1;
            if r.cached {
                c.cached += 1;
            }
            match r.status {
                NodeStatus::Success => c.success += 1,
                NodeStatus::Failure => c.failure += 1,
                NodeStatus::Skipped => c.skipped += 1,
                NodeStatus::Cancelled => c.cancelled += 1,
            }
        }
        c
    }

    /// The log's path relative to `.orch/`, as the JSON names it.
    pub fn log_path(&self, node: usize) -> String {
        LogPath {
            run_id: self.run_id,
            name: crate::report::runs::node_file_name(self.graph, node),
        }
        .to_string()
    }

    /// Writes `summary.json` (pretty) straight from the results: on a 1,000-node no-op,
    /// building a `Value` tree, then a string, was a fifth of the run.
    pub fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        let c = self.counts();
        let nodes: Vec<JsonNode<'_>> = self
            .nodes()
            .map(|(i, r)| JsonNode::of(self.graph, self.run_id, i, r))
            .collect();
        let summary = JsonSummary {
            version: 1,
            run_id: self.run_id,
            playbook: self.playbook,
            status: self.status.as_str(),
            started_at: self.started_at,
            duration_ms: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            counts: JsonCounts {
                total: c.total,
                success: c.success,
                failure: c.failure,
                skipped: c.skipped,
                cancelled: c.cancelled,
                cached: c.cached,
            },
            nodes,
        };
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
        serde_json::to_writer_pretty(&mut out, &summary)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    fn tail(&self, node: usize, lines: usize) -> String {
        let text = std::fs::read(self.orch_dir.join(self.log_path(node))).unwrap_or_default();
        let start = text.len().saturating_sub(64 * 1024);
        let text = String::from_utf8_lossy(&text[start..]);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn markdown(&self) -> String {
        let c = self.counts();
        let mut md = String::new();
        let (icon, word) = match self.status {
            RunStatus::Success => ("✅", "succeeded"),
            RunStatus::Failure => ("❌", "failed"),
            RunStatus::Cancelled => ("⚪", "was cancelled"),
        };
        let title = self.graph.playbook.name.as_deref().unwrap_or(self.playbook);
        let _ = writeln!(md, "# {icon} orch run of `{title}` {word}\n");
        let _ = writeln!(
            md,
            "Run `{}` · playbook `{}` · started {} · took {}\n",
            self.run_id,
            self.playbook,
            self.started_at,
            human_duration(self.duration)
        );
        let _ = writeln!(
            md,
            "| total | ✅ success | ❌ failure | ⏭️ skipped | ⚪ cancelled | 💾 cached |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |\n",
            c.total, c.success, c.failure, c.skipped, c.cancelled, c.cached
        );
        let _ = writeln!(
            md,
            "| node | status | duration | attempts | matrix | cache |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---|---|");
        for (i, r) in self.nodes() {
            let node = &self.graph.nodes[i];
            let status = match r.status {
                NodeStatus::Success => "✅ success",
                NodeStatus::Failure => "❌ failure",
                NodeStatus::Skipped => "⏭️ skipped",
                NodeStatus::Cancelled => "⚪ cancelled",
            };
            // Written in place, cells escaped as they go: a row per node adds up.
            md.push_str("| `");
            push_cell(&mut md, &node.id);
            let _ = write!(
                md,
                "` | {status} | {} | {} | ",
                human_duration(r.duration),
                r.attempts
            );
            for (n, (axis, value)) in node.matrix.iter().enumerate() {
                if n > 0 {
                    md.push_str(", ");
                }
                push_cell(&mut md, axis);
                md.push('=');
                push_cell(&mut md, &value.to_string());
            }
            md.push_str(" | ");
            match (&r.why, r.cached) {
                (_, true) if r.remote_hit => md.push_str("💾 cached (remote)"),
                (_, true) => md.push_str("💾 cached"),
                (Some(why), false) => {
                    md.push_str("miss: ");
                    push_cell(&mut md, why);
                }
                (None, false) => {}
            }
            md.push_str(" |\n");
        }
        // A continue-on-error job's failure is allowed: it does not fail the run, and
        // `needs.*.result` says success; it is listed apart from the run's failures.
        let allowed = |i: usize| self.results[i].as_ref().is_some_and(|r| r.allowed_failure);
        for (title, allowed_ones) in [
            ("Failures", false),
            ("Allowed failures (continue-on-error)", true),
        ] {
            let failures: Vec<(usize, &NodeResult)> = self
                .nodes()
                .filter(|(i, r)| r.status == NodeStatus::Failure && allowed(*i) == allowed_ones)
                .collect();
            if failures.is_empty() {
                continue;
            }
            let _ = writeln!(md, "\n## {title}");
            for (i, r) in failures {
                let _ = writeln!(md, "\n### `{}`\n", self.graph.nodes[i].id);
                if let Some(reason) = &r.reason {
                    let _ = writeln!(md, "{reason}\n");
                }
                if r.has_log {
                    let _ = writeln!(
                        md,
                        "```text\n{}\n```",
                        self.tail(i, 30).replace("```", "`\u{200B}``")
                    );
                }
            }
        }
        let kept: Vec<(usize, &orch_store::StoredArtifact)> = self
            .nodes()
            .flat_map(|(i, r)| r.artifacts.iter().map(move |a| (i, a)))
            .collect();
        if !kept.is_empty() {
            let _ = writeln!(
                md,
                "\n## Artifacts\n\nIn `.orch/runs/{}/artifacts/`.\n\n| artifact | node | files | size | digest |\n|---|---|---:|---:|---|",
                self.run_id
            );
            for (i, artifact) in kept {
                let _ = writeln!(
                    md,
                    "| `{}` | `{}` | {} | {} B | `{}` |",
                    artifact.name,
                    self.graph.nodes[i].id,
                    artifact.files.len(),
                    artifact.size(),
                    &artifact.digest().to_hex()[..12]
                );
            }
        }
        let fragments: Vec<(usize, &NodeResult)> = self
            .nodes()
            .filter(|(_, r)| !r.summary.trim().is_empty())
            .collect();
        if !fragments.is_empty() {
            let _ = writeln!(md, "\n## Node summaries");
            for (i, r) in fragments {
                let _ = writeln!(
                    md,
                    "\n### `{}`\n\n{}",
                    self.graph.nodes[i].id,
                    r.summary.trim_end()
                );
            }
        }
        md
    }

    pub fn junit(&self) -> String {
        let c = self.counts();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let name = self.graph.playbook.name.as_deref().unwrap_or(self.playbook);
        let _ = writeln!(
            xml,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            xml_escape(name),
            c.total,
            c.failure,
            c.skipped + c.cancelled,
            self.duration.as_secs_f64()
        );
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
            xml_escape(name),
            c.total,
            c.failure,
            c.skipped + c.cancelled,
            self.duration.as_secs_f64(),
            self.started_at
        );
        for (i, r) in self.nodes() {
            let node = &self.graph.nodes[i];
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&self.graph.jobs[node.job].id),
                xml_escape(&node.id),
                r.duration.as_secs_f64()
            );
            let reason = xml_escape(r.reason.as_deref().unwrap_or(""));
            match r.status {
                NodeStatus::Success => xml.push_str("/>\n"),
                NodeStatus::Failure => {
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{reason}\">{}</failure>\n    </testcase>",
                        xml_escape(&self.tail(i, 50))
                    );
                }
                NodeStatus::Skipped | NodeStatus::Cancelled => {
                    let _ = writeln!(
                        xml,
                        ">\n      <skipped message=\"{} {reason}\"/>\n    </testcase>",
                        r.status.as_str()
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(42)), "42ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml_escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}

/// `summary.json`, field order as the spec shows it.
#[derive(Serialize)]
struct JsonSummary<'a> {
    version: u32,
    run_id: &'a str,
    playbook: &'a str,
    status: &'a str,
    started_at: &'a str,
    duration_ms: u64,
    counts: JsonCounts,
    nodes: Vec<JsonNode<'a>>,
}

#[derive(Serialize)]
struct JsonCounts {
    total: usize,
    success: usize,
    failure: usize,
    skipped: usize,
    cancelled: usize,
    cached: usize,
}

/// One node's result as `summary.json` and the event stream write it.
#[derive(Serialize)]
pub(crate) struct JsonNode<'a> {
    id: &'a str,
    job: &'a str,
    matrix: JsonMatrix<'a>,
    status: &'a str,
    cached: bool,
    /// Where a cached result came from, `local` or `remote` (an extension of the spec's
    /// node; absent for a node that was not cached).
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<&'static str>,
    exit_code: Option<i32>,
    attempts: u32,
    duration_ms: u64,
    key: Option<Hex<'a>>,
    why: Option<&'a str>,
    outputs: &'a std::collections::BTreeMap<String, String>,
    log: Option<LogPath<'a>>,
    reason: Option<&'a str>,
    /// Only when it kept some (an extension of the spec's node).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    artifacts: Vec<JsonArtifact<'a>>,
}

#[derive(Serialize)]
struct JsonArtifact<'a> {
    name: &'a str,
    files: usize,
    size: u64,
    digest: String,
}

impl<'a> JsonNode<'a> {
    pub(crate) fn of(graph: &'a Graph, run_id: &'a str, node: usize, r: &'a NodeResult) -> Self {
        let spec = &graph.nodes[node];
        JsonNode {
            id: &spec.id,
            job: &graph.jobs[spec.job].id,
            matrix: JsonMatrix(&spec.matrix),
            status: r.status.as_str(),
            cached: r.cached,
            cache: r
                .cached
                .then_some(if r.remote_hit { "remote" } else { "local" }),
            exit_code: r.exit_code,
            attempts: r.attempts,
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            key: r.key.as_ref().map(Hex),
            why: r.why.as_deref(),
            outputs: &r.outputs,
            log: r.has_log.then(|| LogPath {
                run_id,
                name: crate::report::runs::node_file_name(graph, node),
            }),
            reason: r.reason.as_deref(),
            artifacts: r
                .artifacts
                .iter()
                .map(|a| JsonArtifact {
                    name: &a.name,
                    files: a.files.len(),
                    size: a.size(),
                    digest: a.digest().to_hex(),
                })
                .collect(),
        }
    }
}

/// A node's matrix values as a JSON object (numbers stay numbers).
pub(crate) struct JsonMatrix<'a>(pub(crate) &'a crate::load::model::Combination);

impl Serialize for JsonMatrix<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (axis, value) in self.0 {
            map.serialize_entry(axis, &value.to_json())?;
        }
        map.end()
    }
}

/// A digest as hex text, written without a `String` of its own.
struct Hex<'a>(&'a orch_store::Digest);

impl Serialize for Hex<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&blake3::Hash::from_bytes(self.0.0).to_hex())
    }
}

/// `runs/RUN/logs/NODE.log`, as [`RunReport::log_path`] spells it, written in place.
struct LogPath<'a> {
    run_id: &'a str,
    /// The log's file name, without `.log` (`runs::node_file_name`).
    name: String,
}

impl Serialize for LogPath<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for LogPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "runs/{}/logs/{}.log", self.run_id, self.name)
    }
}

/// Text into a markdown table cell: `|` escaped.
fn push_cell(md: &mut String, text: &str) {
    for (n, part) in text.split('|').enumerate() {
        if n > 0 {
            md.push_str("\\|");
        }
        md.push_str(part);
    }
}
