//! AitherZero's playbooks (the PowerShell orchestration engine orch replaces): the
//! pieces of reading them that do not depend on their shape. `sequence` is the old
//! engine's sequence grammar, resolved against the numbered scripts folder; `import`
//! writes a playbook of the known shapes as an orch playbook; `condition` reads a
//! stage's `condition` as the expression it means.
pub mod condition;
pub mod import;
pub mod sequence;
