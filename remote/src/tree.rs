//! Folders as REAPI names them: an input root (a `Directory` per folder, each naming its
//! files and subfolders by digest, sorted by name) built from a list of files, and a
//! `Tree` (a folder with all its subfolders inline) read back into a list of files.

use std::collections::{BTreeMap, HashMap};

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use prost::Message;

use crate::digests::{DigestKind, RemoteDigest};

/// A file of a folder tree: its path (`/`-separated, relative), its content's name, and
/// whether it is executable; or a symbolic link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeFile {
    pub(crate) path: String,
    pub(crate) digest: RemoteDigest,
    pub(crate) executable: bool,
    pub(crate) symlink: Option<String>,
}

#[derive(Default)]
struct Folder {
    files: BTreeMap<String, (RemoteDigest, bool)>,
    links: BTreeMap<String, String>,
    folders: BTreeMap<String, ()>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TreeError {
    #[error("`{0}` is not a plain relative path")]
    BadPath(String),
    #[error("`{0}` is both a file and a folder")]
    Clash(String),
}

/// A blob named by its digest, with its bytes.
pub(crate) type NamedBlob = (RemoteDigest, Vec<u8>);

/// The input root of `files` (folders they name are made, empty folders are not): its
/// digest and every `Directory` blob, the root's among them.
pub(crate) fn input_root(
    kind: DigestKind,
    files: &[TreeFile],
) -> Result<(RemoteDigest, Vec<NamedBlob>), TreeError> {
    let mut folders: BTreeMap<String, Folder> = BTreeMap::new();
    folders.insert(String::new(), Folder::default());
    for file in files {
        let parts: Vec<&str> = file.path.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(TreeError::BadPath(file.path.clone()));
        }
        let (name, parents) = parts
            .split_last()
            .ok_or(TreeError::BadPath(String::new()))?;
        let mut at = String::new();
        for part in parents {
            let child = if at.is_empty() {
                (*part).to_owned()
            } else {
                format!("{at}/{part}")
            };
            folders
                .entry(at)
                .or_default()
                .folders
                .insert((*part).to_owned(), ());
            folders.entry(child.clone()).or_default();
            at = child;
        }
        let folder = folders.entry(at).or_default();
        match &file.symlink {
            Some(target) => {
                folder.links.insert((*name).to_owned(), target.clone());
            }
            None => {
                folder
                    .files
                    .insert((*name).to_owned(), (file.digest, file.executable));
            }
        }
    }
    for (path, folder) in &folders {
        for name in folder.folders.keys() {
            if folder.files.contains_key(name) || folder.links.contains_key(name) {
                let full = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}/{name}")
                };
                return Err(TreeError::Clash(full));
            }
        }
    }
    // Deepest folders first: a folder's digest needs its subfolders'.
    let mut order: Vec<&String> = folders.keys().collect();
    order.sort_by_key(|p| {
        std::cmp::Reverse(if p.is_empty() {
            0
        } else {
            p.matches('/').count() + 1
        })
    });
    let mut digests: HashMap<String, RemoteDigest> = HashMap::new();
    let mut blobs = Vec::new();
    for path in order {
        let folder = &folders[path];
        let directory = reapi::Directory {
            files: folder
                .files
                .iter()
                .map(|(name, (digest, executable))| reapi::FileNode {
                    name: name.clone(),
                    digest: Some(digest.to_wire()),
                    is_executable: *executable,
                    ..Default::default()
                })
                .collect(),
            directories: folder
                .folders
                .keys()
                .map(|name| {
                    let child = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}/{name}")
                    };
                    reapi::DirectoryNode {
                        name: name.clone(),
                        digest: digests.get(&child).map(|d| d.to_wire()),
                    }
                })
                .collect(),
            symlinks: folder
                .links
                .iter()
                .map(|(name, target)| reapi::SymlinkNode {
                    name: name.clone(),
                    target: target.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let bytes = directory.encode_to_vec();
        let digest = kind.of(&bytes);
        digests.insert(path.clone(), digest);
        blobs.push((digest, bytes));
    }
    let root = digests
        .get("")
        .copied()
        .unwrap_or_else(|| kind.of(&reapi::Directory::default().encode_to_vec()));
    Ok((root, blobs))
}

/// A `Tree`'s files under `prefix`, each folder found among its children by digest. A
/// name that is not one plain component, or a child that is missing, makes it unreadable.
pub(crate) fn files_of_tree(
    kind: DigestKind,
    tree: &reapi::Tree,
    prefix: &str,
) -> Option<Vec<TreeFile>> {
    let children: HashMap<RemoteDigest, &reapi::Directory> = tree
        .children
        .iter()
        .map(|d| (kind.of(&d.encode_to_vec()), d))
        .collect();
    let mut files = Vec::new();
    let mut stack = vec![(prefix.to_owned(), tree.root.as_ref()?, 0usize)];
    while let Some((at, folder, depth)) = stack.pop() {
        // A tree that names itself would never end.
        if depth > 256 {
            return None;
        }
        let join = |name: &str| -> Option<String> {
            if name.is_empty() || name == "." || name == ".." || name.contains('/') {
                return None;
            }
            Some(if at.is_empty() {
                name.to_owned()
            } else {
                format!("{at}/{name}")
            })
        };
        for file in &folder.files {
            files.push(TreeFile {
                path: join(&file.name)?,
                digest: RemoteDigest::from_wire(file.digest.as_ref()?)?,
                executable: file.is_executable,
                symlink: None,
            });
        }
        for link in &folder.symlinks {
            files.push(TreeFile {
                path: join(&link.name)?,
                digest: kind.of(b""),
                executable: false,
                symlink: Some(link.target.clone()),
            });
        }
        for sub in &folder.directories {
            let digest = RemoteDigest::from_wire(sub.digest.as_ref()?)?;
            stack.push((join(&sub.name)?, children.get(&digest)?, depth + 1));
        }
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8], executable: bool) -> TreeFile {
        TreeFile {
            path: path.into(),
            digest: DigestKind::Sha256.of(content),
            executable,
            symlink: None,
        }
    }

    #[test]
    fn an_input_root_names_every_folder_and_reads_back_as_the_same_files() {
        let kind = DigestKind::Sha256;
        let files = vec![
            file("a.txt", b"a", false),
            file("src/lib/x.rs", b"x", false),
            file("src/run.sh", b"#!", true),
        ];
        let (root, blobs) = input_root(kind, &files).expect("a root");
        assert_eq!(blobs.len(), 3, "the root, src and src/lib");
        let by_digest: HashMap<RemoteDigest, reapi::Directory> = blobs
            .iter()
            .map(|(d, b)| (*d, reapi::Directory::decode(b.as_slice()).expect("decodes")))
            .collect();
        let tree = reapi::Tree {
            root: Some(by_digest[&root].clone()),
            children: by_digest
                .iter()
                .filter(|(d, _)| **d != root)
                .map(|(_, d)| d.clone())
                .collect(),
        };
        let mut back = files_of_tree(kind, &tree, "out").expect("readable");
        back.sort_by(|a, b| a.path.cmp(&b.path));
        let paths: Vec<(&str, bool)> = back
            .iter()
            .map(|f| (f.path.as_str(), f.executable))
            .collect();
        assert_eq!(
            paths,
            [
                ("out/a.txt", false),
                ("out/src/lib/x.rs", false),
                ("out/src/run.sh", true)
            ]
        );
        // The same files in another order make the same root.
        let mut reversed = files.clone();
        reversed.reverse();
        assert_eq!(input_root(kind, &reversed).expect("a root").0, root);
    }

    #[test]
    fn paths_that_leave_or_clash_are_refused() {
        let kind = DigestKind::Sha256;
        for bad in ["../x", "a//b", "/abs", "a/./b"] {
            assert!(input_root(kind, &[file(bad, b"", false)]).is_err(), "{bad}");
        }
        let clash = [file("a", b"", false), file("a/b", b"", false)];
        assert!(matches!(input_root(kind, &clash), Err(TreeError::Clash(_))));
        let mut named_up = reapi::Tree {
            root: Some(reapi::Directory {
                files: vec![reapi::FileNode {
                    name: "..".into(),
                    digest: Some(kind.of(b"").to_wire()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            children: vec![],
        };
        assert!(files_of_tree(kind, &named_up, "").is_none());
        named_up.root = Some(reapi::Directory {
            directories: vec![reapi::DirectoryNode {
                name: "missing".into(),
                digest: Some(kind.of(b"nothing").to_wire()),
            }],
            ..Default::default()
        });
        assert!(files_of_tree(kind, &named_up, "").is_none());
    }
}
