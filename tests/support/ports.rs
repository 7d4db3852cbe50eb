//! Loopback ports for servers a test starts as child processes (the
//! Functions Framework, moto).
//!
//! `bind("127.0.0.1:0")` and dropping the listener hands out a port from the
//! kernel's ephemeral range, where any outgoing connection or any other test's
//! `bind(0)` may take it again before the child listens; the child then fails
//! to bind while the test talks to somebody else's server. Ports here come
//! from below the ephemeral range (32768–60999 on Linux), each handed out at
//! most once per test process, starting at an offset from the process id so
//! that concurrent test processes rarely meet, and only if nothing listens
//! there now.

use std::sync::atomic::{AtomicU32, Ordering};

const FIRST: u32 = 20_000;
const COUNT: u32 = 12_000;

/// A loopback port nothing listens on and no other caller in this process got.
pub fn unused_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % COUNT,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT)
}
