//! Liveness and readiness.
//!
//! Liveness: every registered component must heartbeat within its deadline (the consumer loop
//! beats once per iteration, and the Kafka client beats from its statistics callback), so a
//! wedged loop or a dead client turns `/_liveness` red and the orchestrator restarts the pod.
//! Readiness: false until the service says it is ready, while any gate is closed (a consumer
//! between a partition assignment and the restore of its state), and again once shutdown
//! begins.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Component {
    deadline: Duration,
    last_beat: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    components: Mutex<BTreeMap<String, Component>>,
    gates: Mutex<Vec<Arc<AtomicBool>>>,
    ready: AtomicBool,
    shutting_down: AtomicBool,
}

/// Shared health state of one service.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

/// A component's handle for reporting that it is alive.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    name: String,
    health: Health,
}

/// A condition readiness waits for; opened and closed by its owner.
#[derive(Debug, Clone)]
pub struct Gate {
    open: Arc<AtomicBool>,
}

impl Gate {
    /// Readiness waits until [`Gate::open`].
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    /// Readiness no longer waits for this gate.
    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Heartbeat {
    /// Reports that the component is alive now.
    pub fn beat(&self) {
        let mut components = self
            .health
            .inner
            .components
            .lock()
            .expect("health lock is never held across a panic");
        if let Some(c) = components.get_mut(&self.name) {
            c.last_beat = Instant::now();
        }
    }
}

/// Result of a liveness check.
#[derive(Debug, PartialEq, Eq)]
pub struct Liveness {
    /// True when every component beat within its deadline.
    pub alive: bool,
    /// One line per component.
    pub report: String,
}

impl Health {
    /// Registers a component that must beat at least every `deadline`.
    pub fn register(&self, name: impl Into<String>, deadline: Duration) -> Heartbeat {
        let name = name.into();
        self.inner
            .components
            .lock()
            .expect("health lock is never held across a panic")
            .insert(
                name.clone(),
                Component {
                    deadline,
                    last_beat: Instant::now(),
                },
            );
        Heartbeat {
            name,
            health: self.clone(),
        }
    }

    /// Reports every component alive now. For work that holds the loops and their clients'
    /// callbacks while it makes progress (a state restore): progress is life; when it stops,
    /// nothing beats and liveness fails at the deadlines.
    pub fn beat_all(&self) {
        let mut components = self
            .inner
            .components
            .lock()
            .expect("health lock is never held across a panic");
        let now = Instant::now();
        for c in components.values_mut() {
            c.last_beat = now;
        }
    }

    /// A readiness gate, open at first.
    pub fn gate(&self) -> Gate {
        let open = Arc::new(AtomicBool::new(true));
        self.inner
            .gates
            .lock()
            .expect("health lock is never held across a panic")
            .push(Arc::clone(&open));
        Gate { open }
    }

    /// Checks every component's last beat.
    pub fn liveness(&self) -> Liveness {
        let components = self
            .inner
            .components
            .lock()
            .expect("health lock is never held across a panic");
        let mut alive = true;
        let mut report = String::new();
        for (name, c) in components.iter() {
            let age = c.last_beat.elapsed();
            let ok = age <= c.deadline;
            alive &= ok;
            report.push_str(&format!(
                "{name}: {} (last beat {} ms ago, deadline {} ms)\n",
                if ok { "ok" } else { "STALLED" },
                age.as_millis(),
                c.deadline.as_millis()
            ));
        }
        Liveness { alive, report }
    }

    /// Marks the service ready (e.g. after its clients connected).
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::SeqCst);
    }

    /// Marks shutdown: readiness stays false from now on.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    /// True when ready, every gate is open, and not shutting down.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
            && !self.inner.shutting_down.load(Ordering::SeqCst)
            && self
                .inner
                .gates
                .lock()
                .expect("health lock is never held across a panic")
                .iter()
                .all(|g| g.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_that_stops_beating_fails_liveness() {
        let health = Health::default();
        let beat = health.register("loop", Duration::from_millis(30));
        assert!(health.liveness().alive);
        std::thread::sleep(Duration::from_millis(60));
        let live = health.liveness();
        assert!(!live.alive);
        assert!(live.report.contains("loop: STALLED"), "{}", live.report);
        beat.beat();
        assert!(health.liveness().alive);
    }

    #[test]
    fn readiness_turns_off_for_good_when_shutdown_begins() {
        let health = Health::default();
        assert!(!health.is_ready());
        health.set_ready(true);
        assert!(health.is_ready());
        health.begin_shutdown();
        health.set_ready(true);
        assert!(!health.is_ready());
    }

    #[test]
    fn a_closed_gate_holds_readiness_until_opened() {
        let health = Health::default();
        health.set_ready(true);
        let gate = health.gate();
        assert!(health.is_ready());
        gate.close();
        assert!(!health.is_ready());
        gate.open();
        assert!(health.is_ready());
    }

    #[test]
    fn beat_all_revives_every_component() {
        let health = Health::default();
        let _a = health.register("a", Duration::from_millis(20));
        let _b = health.register("b".to_string(), Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!health.liveness().alive);
        health.beat_all();
        assert!(health.liveness().alive);
    }
}
