//! The key queries: a node's input files selected from the workspace's listing, with the
//! digest of each, and its key. Each file's digest is an input of its own, so an edit
//! re-runs only the selections holding that file.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cache::key::{KeyComponents, KeyView};
use crate::db::Db;
use crate::files::glob::Patterns;
use orch_store::Digest;

/// One workspace file's content digest (`None` when it cannot be read).
#[salsa::input]
pub struct WorkspaceFile {
    #[returns(copy)]
    pub digest: Option<Digest>,
}

/// The workspace's files the default-inputs rule sees, and the patterns that rule leaves
/// out (declared outputs, playbooks). Set when files are added or removed, not when one
/// changes; listed only when a node takes the default inputs.
#[salsa::input]
pub struct FileList {
    #[returns(ref)]
    pub default: Arc<Vec<String>>,
    #[returns(ref)]
    pub not_inputs: Vec<String>,
}

/// Every file under one folder of the workspace (`files::walk::list_folder`): what
/// input patterns rooted there select from. A package's `packages/p1/src/**` depends
/// on that folder's listing only, so the workspace is never walked whole for it.
#[salsa::input]
pub struct FolderListing {
    #[returns(ref)]
    pub files: Arc<Vec<String>>,
}

/// A node's input patterns as rendered (`None`: the default-inputs rule). Interned, so
/// that nodes with the same patterns (every default-inputs node, a matrix sharing one
/// glob) share one selection of the workspace's files.
#[salsa::interned]
pub struct InputPatterns<'db> {
    #[returns(ref)]
    pub patterns: Option<Vec<String>>,
}

/// Everything in a node's key but its input files, and its input patterns as rendered:
/// known when the node is ready.
#[salsa::input]
pub struct NodeKeyInput {
    #[returns(ref)]
    pub partial: Arc<KeyComponents>,
    #[returns(ref)]
    pub patterns: Option<Vec<String>>,
}

/// A node's input files with their digests, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeKey {
    pub inputs: Arc<BTreeMap<String, Digest>>,
    pub key: Digest,
}

/// The files a pattern set names, with their digests. Depends on the file list and on
/// the digest input of each matched file only: editing one file re-runs just the sets
/// that contain it.
#[salsa::tracked(returns(ref))]
pub fn input_digests<'db>(
    db: &'db dyn Db,
    files: FileList,
    patterns: InputPatterns<'db>,
) -> Arc<BTreeMap<String, Digest>> {
    let is_literal = |list: &[String]| list.iter().all(|p| crate::files::glob::is_literal(p));
    let selected = match patterns.patterns(db) {
        // A literal path that is a file is read through its own input only: its input set
        // then does not depend on the workspace's listing at all. A literal folder needs
        // the listing.
        Some(list) if is_literal(list) => {
            let mut digests = BTreeMap::new();
            let mut folders = Vec::new();
            for path in list {
                let path = literal_path(path);
                match db.file(path).digest(db) {
                    Some(digest) => {
                        digests.insert(path.to_owned(), digest);
                    }
                    None => folders.push(path.to_owned()),
                }
            }
            // Folders named literally: every file their listings hold (a folder inside
            // another named one is read from the outer's listing, the one kept fresh).
            for root in crate::files::glob::listing_roots(&folders) {
                for file in db.listing(&root).files(db).iter() {
                    if let Some(digest) = db.file(file).digest(db) {
                        digests.insert(file.clone(), digest);
                    }
                }
            }
            return Arc::new(digests);
        }
        Some(list) => {
            // Patterns are checked at load and once rendered (`prepare`): none fails here.
            let compiled = Patterns::new(list).unwrap_or_else(|_| Patterns::none());
            let mut selected = Vec::new();
            for root in crate::files::glob::listing_roots(list) {
                selected.extend(compiled.select_from(db.listing(&root).files(db)));
            }
            selected
        }
        None => {
            // Every file not ignored, minus all declared outputs and the playbooks.
            let excluded = Patterns::each_valid(files.not_inputs(db));
            files
                .default(db)
                .iter()
                .filter(|f| !excluded.matches(std::path::Path::new(f)))
                .cloned()
                .collect()
        }
    };
    let digests = selected
        .into_iter()
        .filter_map(|path| {
            let digest = db.file(&path).digest(db)?;
            Some((path, digest))
        })
        .collect();
    Arc::new(digests)
}

/// A literal input path as the key names it: no leading `./`, no trailing `/`.
pub fn literal_path(pattern: &str) -> &str {
    pattern
        .strip_prefix("./")
        .unwrap_or(pattern)
        .trim_end_matches('/')
}

/// A node's input files and key (the partial components and the inputs are shared, not
/// copied into one value).
#[salsa::tracked(returns(ref))]
pub fn node_key(db: &dyn Db, node: NodeKeyInput, files: FileList) -> NodeKey {
    let patterns = InputPatterns::new(db, node.patterns(db).clone());
    let inputs = input_digests(db, files, patterns).clone();
    let key = KeyView::new(node.partial(db), &inputs).digest();
    NodeKey { inputs, key }
}
