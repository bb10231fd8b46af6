//! Any text as an expression or a template: parsing and evaluating must return.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orch_engine::compile::expr::{self, Scope, Template};
use serde_json::{Value, json};

struct Contexts;

impl Scope for Contexts {
    fn context(&self, name: &str) -> Option<Value> {
        match name {
            "matrix" => Some(json!({ "os": "linux", "n": 3, "list": [1, "a", null] })),
            "vars" => Some(json!({ "profile": "release" })),
            "needs" => Some(json!({ "build": { "result": "success", "outputs": { "v": "1" } } })),
            _ => None,
        }
    }
    fn status(&self, function: &str) -> bool {
        function == "always"
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(e) = expr::parse(text) {
        let _ = expr::eval(&e, &Contexts);
        // The printer's text parses back to an expression that prints the same. Its
        // parentheses can take an expression near the nesting cap over it: that is the
        // one refusal allowed.
        let printed = e.to_string();
        match expr::parse(&printed) {
            Ok(reparsed) => assert_eq!(reparsed.to_string(), printed),
            Err(err) => assert!(err.message.contains("nested deeper"), "{printed}: {err}"),
        }
    }
    if let Ok(t) = Template::parse(text) {
        let _ = t.render(&Contexts);
    }
    if let Ok(c) = expr::parse_condition(text) {
        let _ = expr::eval(&c, &Contexts);
    }
});
