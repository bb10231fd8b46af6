//! The run's events as a stream of JSON lines (`orch run --events FILE|-`): the one
//! interface a dashboard or another tool builds on. Each line is one object whose
//! `event` names its kind and whose `at_ms` counts from the stream's start; the first is
//! `run_started` (with the format's `version`), the last `run_finished`. Every node
//! event names its node by id in `node`; `node_finished` holds, as `result`, the object
//! `summary.json` lists for the node. What the stream carries is masked as
//! the logs are: secrets never appear in it.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::compile::graph::Graph;
use crate::report::event::{Event, Observer};
use crate::report::summary::{JsonMatrix, JsonNode};

/// The version of the stream's format, in `run_started`.
pub const EVENTS_VERSION: u32 = 1;

pub struct EventStream {
    graph: Arc<Graph>,
    started: Instant,
    out: Mutex<Sink>,
}

struct Sink {
    writer: Box<dyn Write + Send>,
    /// The run id, known from `run_started` on: finished nodes name their log with it.
    run_id: String,
    /// The first write that failed: nothing more is written (a reader that went away).
    error: Option<std::io::Error>,
}

#[derive(Serialize)]
struct Line<'a> {
    event: &'static str,
    at_ms: u64,
    #[serde(flatten)]
    body: Body<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    RunStarted {
        version: u32,
        run_id: &'a str,
        playbook: String,
        nodes: Vec<StartedNode<'a>>,
    },
    NodeStarted {
        node: &'a str,
        attempt: u32,
    },
    NodeOutput {
        node: &'a str,
        line: &'a str,
    },
    NodeFinished {
        node: &'a str,
        result: JsonNode<'a>,
    },
    Message {
        message: &'a str,
    },
    Nothing {},
    RunFinished {
        status: &'a str,
    },
}

/// A selected node as `run_started` lists it (the shape of `orch graph --format json`).
#[derive(Serialize)]
struct StartedNode<'a> {
    id: &'a str,
    job: &'a str,
    matrix: JsonMatrix<'a>,
    needs: Vec<&'a str>,
}

impl EventStream {
    pub fn new(graph: Arc<Graph>, writer: Box<dyn Write + Send>) -> Self {
        Self {
            graph,
            started: Instant::now(),
            out: Mutex::new(Sink {
                writer,
                run_id: String::new(),
                error: None,
            }),
        }
    }

    /// The first write error, if writing stopped.
    pub fn error(&self) -> Option<String> {
        let sink = self.out.lock().ok()?;
        sink.error.as_ref().map(ToString::to_string)
    }

    fn write(&self, sink: &mut Sink, event: &'static str, body: Body<'_>) {
        if sink.error.is_some() {
            return;
        }
        let line = Line {
            event,
            at_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            body,
        };
        let mut bytes = match serde_json::to_vec(&line) {
            Ok(bytes) => bytes,
            Err(e) => {
                sink.error = Some(std::io::Error::other(e));
                return;
            }
        };
        bytes.push(b'\n');
        // Flushed per line: a reader follows the run as it happens.
        if let Err(e) = sink
            .writer
            .write_all(&bytes)
            .and_then(|()| sink.writer.flush())
        {
            sink.error = Some(e);
        }
    }
}

impl Observer for EventStream {
    fn event(&self, event: &Event) {
        let Ok(mut sink) = self.out.lock() else {
            return;
        };
        let graph = &self.graph;
        let id = |node: usize| graph.nodes[node].id.as_str();
        match event {
            Event::RunStarted { run_id, selected } => {
                sink.run_id.clone_from(run_id);
                let nodes = selected
                    .iter()
                    .map(|&n| StartedNode {
                        id: id(n),
                        job: &graph.jobs[graph.nodes[n].job].id,
                        matrix: JsonMatrix(&graph.nodes[n].matrix),
                        needs: graph.node_needs(n),
                    })
                    .collect();
                let body = Body::RunStarted {
                    version: EVENTS_VERSION,
                    run_id,
                    playbook: graph.origins[0].path.display().to_string(),
                    nodes,
                };
                self.write(&mut sink, "run_started", body);
            }
            Event::NodeStarted { node, attempt } => {
                let body = Body::NodeStarted {
                    node: id(*node),
                    attempt: *attempt,
                };
                self.write(&mut sink, "node_started", body);
            }
            Event::NodeOutput { node, line } => {
                let body = Body::NodeOutput {
                    node: id(*node),
                    line,
                };
                self.write(&mut sink, "node_output", body);
            }
            Event::NodeFinished { node, result } => {
                let run_id = sink.run_id.clone();
                let body = Body::NodeFinished {
                    node: id(*node),
                    result: JsonNode::of(graph, &run_id, *node, result),
                };
                self.write(&mut sink, "node_finished", body);
            }
            Event::Cancelling => self.write(&mut sink, "cancelling", Body::Nothing {}),
            Event::Warning(message) => {
                self.write(&mut sink, "warning", Body::Message { message });
            }
            Event::RunFinished { status } => {
                let body = Body::RunFinished {
                    status: status.as_str(),
                };
                self.write(&mut sink, "run_finished", body);
            }
        }
    }
}
