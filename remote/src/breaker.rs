//! A remote that is down, slow or wrong costs speed, never correctness: the first
//! failure is told once, and after a few in a row the remote is not asked again in this
//! run (a server that times out would otherwise cost its timeout on every node).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Failures in a row after which the remote is left alone for the rest of the run.
const FAILURES_TO_OPEN: u32 = 3;

pub(crate) struct Breaker {
    address: String,
    in_a_row: AtomicU32,
    open: AtomicBool,
    warned: AtomicBool,
    warn: Arc<dyn Fn(String) + Send + Sync>,
}

impl Breaker {
    pub(crate) fn new(address: String, warn: Arc<dyn Fn(String) + Send + Sync>) -> Self {
        Breaker {
            address,
            in_a_row: AtomicU32::new(0),
            open: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            warn,
        }
    }

    /// Whether the remote is left alone for the rest of the run.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    pub(crate) fn success(&self) {
        self.in_a_row.store(0, Ordering::Relaxed);
    }

    /// A call that failed: told the first time; enough of them in a row open the breaker.
    pub(crate) fn failure(&self, what: &str) {
        self.tell(what);
        if self.in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= FAILURES_TO_OPEN {
            self.open.store(true, Ordering::Relaxed);
        }
    }

    /// A failure that no retry can mend (no usable digest function): off at once.
    pub(crate) fn trip(&self, what: &str) {
        self.tell(what);
        self.open.store(true, Ordering::Relaxed);
    }

    /// The run's one warning, if it has not been given yet.
    pub(crate) fn tell(&self, what: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            (self.warn)(format!(
                "warning: remote cache {}: {what}; the run goes on with the local cache",
                self.address
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn one_warning_and_open_after_failures_in_a_row() {
        let told = Arc::new(Mutex::new(Vec::new()));
        let sink = told.clone();
        let breaker = Breaker::new(
            "grpc://h:1".into(),
            Arc::new(move |text| sink.lock().unwrap().push(text)),
        );
        breaker.failure("timed out");
        breaker.failure("timed out");
        breaker.success();
        breaker.failure("timed out");
        breaker.failure("timed out");
        assert!(!breaker.is_open(), "a success in between resets the count");
        breaker.failure("unavailable");
        assert!(breaker.is_open());
        let told = told.lock().unwrap();
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].contains("grpc://h:1: timed out"), "{}", told[0]);
    }
}
