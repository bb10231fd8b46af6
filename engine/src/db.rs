//! The salsa database: the incremental query layer.
//!
//! Inputs: the playbook's source file and the command line's overrides. Tracked queries:
//! `parse_playbook` (text → checked model) and `compile_graph` (model + overrides →
//! sealed graph). An edit that leaves the parsed model equal is backdated by salsa, so
//! the graph is not rebuilt. Node keys join as more queries with the caching work.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::diag::{LoadError, SourceFile};
use crate::graph::{self, Graph, Overrides};
use crate::playbook::{Playbook, decode, tree};

#[salsa::input]
pub struct PlaybookSource {
    #[returns(ref)]
    pub file: SourceFile,
}

#[salsa::input]
pub struct Settings {
    #[returns(ref)]
    pub overrides: Overrides,
}

/// The database as queries see it: salsa's, plus the files that `uses` reaches.
#[salsa::db]
pub trait Db: salsa::Database {
    /// The input of a playbook named by `uses` (relative to the workspace), read on first
    /// use and kept, so a watcher can later update it like any input.
    fn used_source(&self, path: &Path) -> Result<PlaybookSource, LoadError>;
}

#[salsa::tracked(returns(ref))]
pub fn parse_playbook(db: &dyn Db, source: PlaybookSource) -> Result<Arc<Playbook>, LoadError> {
    let file = source.file(db);
    let root = tree::parse(file)?;
    decode::decode(file, &root).map(Arc::new)
}

#[salsa::tracked(returns(ref))]
pub fn compile_graph(
    db: &dyn Db,
    source: PlaybookSource,
    settings: Settings,
) -> Result<Arc<Graph>, LoadError> {
    let playbook = parse_playbook(db, source).clone()?;
    let mut resolve = |path: &Path| -> Result<Arc<Playbook>, LoadError> {
        let used = db.used_source(path)?;
        parse_playbook(db, used).clone()
    };
    graph::compile(playbook, settings.overrides(db), &mut resolve).map(Arc::new)
}

#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
    /// The workspace that `uses` paths are relative to.
    workspace: PathBuf,
    used: Arc<Mutex<HashMap<PathBuf, PlaybookSource>>>,
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {
    fn used_source(&self, path: &Path) -> Result<PlaybookSource, LoadError> {
        if let Some(source) = self.used.lock().ok().and_then(|m| m.get(path).copied()) {
            return Ok(source);
        }
        let file = crate::workspace::read_source(&self.workspace.join(path), path)?;
        let source = PlaybookSource::new(self, file);
        if let Ok(mut used) = self.used.lock() {
            used.insert(path.to_path_buf(), source);
        }
        Ok(source)
    }
}

impl Database {
    /// A database that reports each query it executes (tests prove incrementality with it).
    pub fn with_execution_log(log: Arc<std::sync::Mutex<Vec<String>>>) -> Self {
        Self {
            workspace: PathBuf::new(),
            used: Arc::default(),
            storage: salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
                if let salsa::EventKind::WillExecute { database_key } = event.kind
                    && let Ok(mut log) = log.lock()
                {
                    log.push(format!("{database_key:?}"));
                }
            }))),
        }
    }
}

/// One playbook in a database: its model and its graphs share the memoized parse.
pub struct Session {
    db: Database,
    source: PlaybookSource,
}

impl Session {
    /// `workspace` is the folder that `uses` paths are relative to.
    pub fn new(file: SourceFile, workspace: &Path) -> Self {
        let db = Database {
            workspace: workspace.to_path_buf(),
            ..Database::default()
        };
        let source = PlaybookSource::new(&db, file);
        Self { db, source }
    }

    pub fn playbook(&self) -> Result<Arc<Playbook>, LoadError> {
        parse_playbook(&self.db, self.source).clone()
    }

    pub fn graph(&self, overrides: Overrides) -> Result<Arc<Graph>, LoadError> {
        let settings = Settings::new(&self.db, overrides);
        compile_graph(&self.db, self.source, settings).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salsa::Setter;

    #[test]
    fn an_edit_that_changes_nothing_does_not_recompile() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut db = Database::with_execution_log(log.clone());
        let file = |text: &str| SourceFile {
            path: "orch.yml".into(),
            text: text.into(),
        };
        let source = PlaybookSource::new(&db, file("jobs:\n  a: { run: x }\n"));
        let settings = Settings::new(&db, Overrides::default());
        assert!(compile_graph(&db, source, settings).is_ok());
        let executed = std::mem::take(&mut *log.lock().unwrap());
        assert!(
            executed.iter().any(|q| q.contains("compile_graph")),
            "{executed:?}"
        );

        // The same text again: a new revision, but the parse result is equal, so
        // compile_graph is backdated and does not run.
        source
            .set_file(&mut db)
            .to(file("jobs:\n  a: { run: x }\n"));
        assert!(compile_graph(&db, source, settings).is_ok());
        let executed = std::mem::take(&mut *log.lock().unwrap());
        assert!(
            executed.iter().any(|q| q.contains("parse_playbook")),
            "{executed:?}"
        );
        assert!(
            !executed.iter().any(|q| q.contains("compile_graph")),
            "{executed:?}"
        );

        source
            .set_file(&mut db)
            .to(file("jobs:\n  a: { run: y }\n"));
        assert!(compile_graph(&db, source, settings).is_ok());
        let executed = std::mem::take(&mut *log.lock().unwrap());
        assert!(
            executed.iter().any(|q| q.contains("compile_graph")),
            "{executed:?}"
        );
    }
}
