//! `orch schema`: the JSON Schema of the playbook format, for editors and linters.

use serde_json::{Value, json};

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn string_or_strings() -> Value {
    json!({ "oneOf": [{ "type": "string" }, strings()] })
}

fn scalar() -> Value {
    json!({ "type": ["string", "number", "boolean", "null"] })
}

/// `args`: words, or `{ option, value }` pairs left out when the value renders empty.
fn args() -> Value {
    json!({ "type": "array", "items": { "anyOf": [scalar(), {
        "type": "object",
        "additionalProperties": false,
        "required": ["option", "value"],
        "properties": {
            "option": { "type": "string", "description": "literal, such as -Name or --level" },
            "value": { "type": ["string", "number", "boolean"], "description": "when it renders empty, neither word is passed" }
        }
    }] } })
}

/// A matrix value: a scalar, or a map or list of them (`matrix.target.os`).
fn matrix_value() -> Value {
    json!({ "type": ["string", "number", "boolean", "null", "object", "array"] })
}

fn env() -> Value {
    json!({ "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } })
}

fn duration() -> Value {
    json!({ "type": "string", "pattern": "^([0-9]+(ms|s|m|h|d))+$", "description": "90s, 10m, 1h30m" })
}

fn shell() -> Value {
    json!({
        "type": "string",
        "description": "bash (default), sh, python, pwsh, node, or a command with {0} for the script file",
        "anyOf": [{ "enum": ["bash", "sh", "python", "pwsh", "node"] }, { "pattern": "\\{0\\}" }]
    })
}

pub(crate) fn schema() -> Value {
    let step = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "id": { "type": "string", "description": "what `steps.<id>` names it by in later steps' `if`" },
            "name": { "type": "string" },
            "run": { "type": "string" },
            "script": { "type": "string" },
            "args": args(),
            "env": env(),
            "if": { "type": ["string", "boolean"] },
            "continue-on-error": { "type": "boolean" },
            "shell": shell(),
            "working-directory": { "type": "string" },
            "timeout": duration()
        },
        "oneOf": [{ "required": ["run"] }, { "required": ["script"] }]
    });
    let job = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": { "type": "string", "description": "display name; may use ${{ matrix.* }}" },
            "description": { "type": "string" },
            "run": { "type": "string", "description": "an inline script, run by `shell`" },
            "script": { "type": "string", "description": "a script file, relative to the playbook" },
            "args": args(),
            "steps": { "type": "array", "items": step },
            "uses": { "type": "string", "description": "a reusable playbook, relative to this one" },
            "with": env(),
            "shell": shell(),
            "needs": { "oneOf": [{ "type": "string" }, strings()] },
            "after": { "oneOf": [{ "type": "string" }, strings()], "description": "jobs this one starts after, when they run: order only (no data, not in the key, not selected with it)" },
            "if": { "type": ["string", "boolean"] },
            "matrix": {
                "type": "object",
                "properties": {
                    "include": { "type": "array", "items": { "type": "object", "additionalProperties": matrix_value() } },
                    "exclude": { "type": "array", "items": { "type": "object", "additionalProperties": matrix_value() } }
                },
                "additionalProperties": { "type": "array", "items": matrix_value(), "minItems": 1 }
            },
            "strategy": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "fail-fast": { "type": "boolean" },
                    "max-parallel": { "type": "integer", "minimum": 1 }
                }
            },
            "env": env(),
            "working-directory": { "type": "string" },
            "inputs": strings(),
            "env-inputs": strings(),
            "tools": strings(),
            "outputs": strings(),
            "artifacts": {
                "description": "files kept for the run after a success: patterns (named after the node) or NAME: patterns",
                "oneOf": [
                    string_or_strings(),
                    { "type": "object", "additionalProperties": string_or_strings() }
                ]
            },
            "cache": { "type": "boolean" },
            "remote": {
                "description": "Whether its nodes run on --remote-exec: true, false, or the platform properties the executing machine must offer",
                "oneOf": [
                    { "type": "boolean" },
                    { "type": "object", "additionalProperties": { "type": "string" } }
                ]
            },
            "timeout": duration(),
            "retries": { "type": "integer", "minimum": 0 },
            "continue-on-error": { "type": "boolean" }
        },
        "oneOf": [
            { "required": ["run"] },
            { "required": ["script"] },
            { "required": ["steps"] },
            { "required": ["uses"] }
        ]
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "orch playbook (v1)",
        "type": "object",
        "additionalProperties": false,
        "required": ["jobs"],
        "properties": {
            "name": { "type": "string" },
            "description": { "type": "string" },
            "vars": { "type": "object", "additionalProperties": scalar() },
            "env": env(),
            "secrets": {
                "oneOf": [
                    strings(),
                    {
                        "type": "object",
                        "additionalProperties": {
                            "type": ["object", "null"],
                            "properties": {
                                "description": { "type": "string" },
                                "required": { "type": "boolean" }
                            },
                            "additionalProperties": false
                        }
                    }
                ]
            },
            "defaults": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "shell": shell(),
                    "timeout": duration(),
                    "retries": { "type": "integer", "minimum": 0 },
                    "working-directory": { "type": "string" },
                    "inputs": strings(),
                    "tools": strings()
                }
            },
            "inputs": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "description": { "type": "string" },
                        "default": scalar(),
                        "required": { "type": "boolean" },
                        "type": { "type": "string" }
                    }
                }
            },
            "outputs": { "type": "object", "additionalProperties": { "type": "string" } },
            "profiles": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "vars": { "type": "object", "additionalProperties": scalar() },
                        "targets": { "oneOf": [{ "type": "string" }, strings()] },
                        "description": { "type": "string" }
                    }
                }
            },
            "requires": {
                "type": "object",
                "additionalProperties": false,
                "properties": { "commands": strings(), "env": strings() }
            },
            "success": {
                "description": "When the run succeeds, on the nodes' real outcomes (a continue-on-error failure did not succeed)",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "require-all": { "type": "boolean" },
                    "minimum-count": { "type": "integer", "minimum": 0 },
                    "minimum-rate": { "type": "number", "minimum": 0, "maximum": 1 },
                    "critical": strings(),
                    "allowed-failures": strings()
                }
            },
            "jobs": {
                "type": "object",
                "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$" },
                "additionalProperties": job
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_engine::load::decode::{JOB_KEYS, STEP_KEYS, TOP_KEYS};

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        k.sort();
        k
    }

    /// The schema names exactly the keys the loader accepts.
    #[test]
    fn schema_matches_the_loader() {
        let s = schema();
        assert_eq!(keys(&s["properties"]), sorted(TOP_KEYS));
        let job = &s["properties"]["jobs"]["additionalProperties"];
        assert_eq!(keys(&job["properties"]), sorted(JOB_KEYS));
        assert_eq!(
            keys(&job["properties"]["steps"]["items"]["properties"]),
            sorted(STEP_KEYS)
        );
    }
}
