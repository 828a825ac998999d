//! The tests' request loop, in one place: one client requesting `/` through a load balancer, one
//! request after another, while a deploy, a rollback or a failed revision runs (tests/rollout.rs,
//! tests/strategies.rs).

use super::http_get;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests through the load balancer until finished (at most 10 minutes): each answer's body in
/// order, and every failure.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    failed: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Traffic {
    /// Starts requesting `/` at `addr` (host:port) with `Host: host`, `pause` between requests.
    pub fn start(addr: &str, host: &str, pause: Duration) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let (s, n, f) = (stop.clone(), seen.clone(), failed.clone());
        let (addr, host) = (addr.to_string(), host.to_string());
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(600);
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                match http_get(&addr, &host, "/") {
                    Ok((200, body)) => n.lock().unwrap().push(body.trim().to_string()),
                    Ok((code, body)) => f.lock().unwrap().push(format!("{code} {body}")),
                    Err(e) => f.lock().unwrap().push(e),
                }
                std::thread::sleep(pause);
            }
        });
        Traffic {
            stop,
            seen,
            failed,
            thread,
        }
    }

    /// Stops the loop: (the 200 answers' bodies in order, trimmed; the failures: another status with
    /// its body, or the connection's error).
    pub fn finish(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        let seen = self.seen.lock().unwrap().clone();
        let failed = self.failed.lock().unwrap().clone();
        (seen, failed)
    }
}
