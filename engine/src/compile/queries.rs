//! The playbook queries: a source file parsed and decoded into the model, and the model
//! with the command line's overrides compiled into the graph. An edit that parses to an
//! equal model is backdated by salsa, so the graph is not rebuilt.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compile::build;
use crate::compile::graph::{Graph, Overrides};
use crate::db::Db;
use crate::load::diag::{LoadError, SourceFile};
use crate::load::{decode, model::Playbook, tree};

#[salsa::input]
pub struct PlaybookSource {
    #[returns(ref)]
    pub file: SourceFile,
    /// Where the file is, relative to the workspace (`orch.yml`, `.github/workflows/ci.yml`).
    #[returns(ref)]
    pub path: PathBuf,
}

#[salsa::input]
pub struct Settings {
    #[returns(ref)]
    pub overrides: Overrides,
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
    build::compile(
        playbook,
        source.path(db),
        settings.overrides(db),
        &mut resolve,
    )
    .map(Arc::new)
}
