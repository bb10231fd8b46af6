//! Any bytes as a playbook (orch's YAML and JSON, a GitHub workflow, a PowerShell data
//! file): loading and compiling must return, never panic or hang.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use orch_engine::compile::build::compile;
use orch_engine::compile::graph::Overrides;
use orch_engine::load::diag::{LoadError, Problem, SourceFile};
use orch_engine::load::{decode, psd1, tree};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = psd1::parse(&SourceFile {
        path: "playbook.psd1".into(),
        text: text.into(),
    });
    for path in ["orch.yml", "orch.json", ".github/workflows/ci.yml"] {
        let source = SourceFile {
            path: path.into(),
            text: text.into(),
        };
        let Ok(root) = tree::parse(&source) else {
            continue;
        };
        let Ok(playbook) = decode::decode(&source, &root) else {
            continue;
        };
        let mut no_uses = |p: &std::path::Path| -> Result<_, LoadError> {
            Err(Problem::general(format!("no file {}", p.display())).into())
        };
        let root_path = std::path::Path::new(path);
        let _ = compile(
            Arc::new(playbook),
            root_path,
            &Overrides::default(),
            &mut no_uses,
        );
    }
});
