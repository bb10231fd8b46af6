//! A set of tasks, one per node, that says which node a task was for even when it did
//! not return (it panicked, or was aborted at a second Ctrl-C): the scheduler must finish
//! that node too, or the run would wait for it forever or end as a success without it.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinError, JoinSet};

pub(super) struct NodeTasks<T> {
    set: JoinSet<T>,
    nodes: HashMap<Id, usize>,
}

impl<T: Send + 'static> NodeTasks<T> {
    pub(super) fn new() -> Self {
        Self {
            set: JoinSet::new(),
            nodes: HashMap::new(),
        }
    }

    pub(super) fn spawn(&mut self, node: usize, task: impl Future<Output = T> + Send + 'static) {
        let handle = self.set.spawn(task);
        self.nodes.insert(handle.id(), node);
    }

    pub(super) fn len(&self) -> usize {
        self.set.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub(super) fn abort_all(&mut self) {
        self.set.abort_all();
    }

    /// The next task to end, with its node; `None` when there are none.
    pub(super) async fn join_next(&mut self) -> Option<(usize, Result<T, JoinError>)> {
        let joined = self.set.join_next_with_id().await?;
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        // Every task was spawned here, with its node.
        let node = self.nodes.remove(&id)?;
        Some((node, joined.map(|(_, value)| value)))
    }
}

/// Why a task ended without its result, as a node's reason.
pub(super) fn lost(error: &JoinError) -> String {
    if error.is_cancelled() {
        "cancelled".to_owned()
    } else {
        format!("orch's task for this node failed: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_that_panics_still_names_its_node() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut tasks: NodeTasks<u8> = NodeTasks::new();
            tasks.spawn(7, async { panic!("boom") });
            tasks.spawn(3, async { 1 });
            let mut ended = Vec::new();
            while let Some((node, result)) = tasks.join_next().await {
                ended.push((node, result.map_err(|e| lost(&e).contains("panic"))));
            }
            ended.sort();
            assert_eq!(ended, vec![(3, Ok(1)), (7, Err(true))]);
            assert!(tasks.is_empty());
        });
    }
}
