//! Limits that keep the HTTP transport answering its callers under load or attack: a cap on
//! open connections (below the file-descriptor limit) that makes room by closing the oldest
//! connection that never authenticated, and a lockout of addresses that keep failing
//! authentication.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Default cap on open connections (lowered to fit the file-descriptor limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// File descriptors kept free for everything else: the firewall client, the journal, logs.
const RESERVED_FDS: u64 = 64;

/// Failed authentication attempts from one address within [`FAILURE_WINDOW`] that lock it out.
pub const MAX_AUTH_FAILURES: u32 = 10;
/// The window failures are counted in, and how long a lockout lasts.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most: beyond, the oldest entries go.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// What a request knows about its connection: the peer, and a flag the bearer check sets once
/// the connection has carried an authenticated request.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub authenticated: Arc<AtomicBool>,
}

struct Open {
    id: u64,
    authenticated: Arc<AtomicBool>,
    close: CancellationToken,
}

/// The open connections, oldest first.
pub struct Connections {
    max: usize,
    next_id: AtomicU64,
    open: Mutex<Vec<Open>>,
}

/// A connection's place in [`Connections`]; leaving frees it.
pub struct Slot {
    id: u64,
    pub info: ConnInfo,
    /// Cancelled when the connection is closed to make room.
    pub close: CancellationToken,
    connections: Arc<Connections>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.lock().retain(|o| o.id != self.id);
    }
}

impl Connections {
    /// At most `wanted` connections, and fewer when the process may not open that many files.
    pub fn new(wanted: usize) -> Connections {
        let max = match fd_limit() {
            Some(limit) if limit <= RESERVED_FDS + 16 => 16,
            Some(limit) => wanted.min((limit - RESERVED_FDS) as usize),
            None => wanted,
        };
        if max < wanted {
            tracing::info!(
                max_connections = max,
                "connection cap lowered to fit the open-file limit (raise it with ulimit -n)"
            );
        }
        Connections {
            max: max.max(1),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Open>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Close the oldest connection that has not authenticated; whether there was one.
    pub fn evict_oldest_unauthenticated(&self) -> bool {
        let open = self.lock();
        match open
            .iter()
            .find(|o| !o.authenticated.load(Ordering::Relaxed) && !o.close.is_cancelled())
        {
            Some(o) => {
                o.close.cancel();
                true
            }
            None => false,
        }
    }

    /// Admit a new connection from `peer`: when the cap is reached, the oldest unauthenticated
    /// connection is closed to make room; when every connection has authenticated, `None`.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<Slot> {
        let live = self
            .lock()
            .iter()
            .filter(|o| !o.close.is_cancelled())
            .count();
        if live >= self.max && !self.evict_oldest_unauthenticated() {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let authenticated = Arc::new(AtomicBool::new(false));
        let close = CancellationToken::new();
        self.lock().push(Open {
            id,
            authenticated: authenticated.clone(),
            close: close.clone(),
        });
        Some(Slot {
            id,
            info: ConnInfo {
                peer,
                authenticated,
            },
            close,
            connections: self.clone(),
        })
    }
}

#[cfg(unix)]
fn fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and reads nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    // rlim_t is u64 on Linux but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    let current = limit.rlim_cur as u64;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(current)
}

#[cfg(not(unix))]
fn fd_limit() -> Option<u64> {
    None
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// Failed authentication attempts per address.
#[derive(Default)]
pub struct AuthFailures {
    by_address: Mutex<HashMap<IpAddr, Failures>>,
}

impl AuthFailures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.by_address.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long `ip` is still locked out, if it is.
    pub fn locked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.lock().get(&ip)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Count a failure from `ip`; whether that locked it out.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> bool {
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED_ADDRESSES {
            map.retain(|_, f| now.duration_since(f.since) < FAILURE_WINDOW);
            if map.len() >= MAX_TRACKED_ADDRESSES {
                map.clear();
            }
        }
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(f.since) >= FAILURE_WINDOW {
            *f = Failures {
                count: 0,
                since: now,
                locked_until: None,
            };
        }
        f.count += 1;
        if f.count >= MAX_AUTH_FAILURES {
            f.locked_until = Some(now + FAILURE_WINDOW);
            f.count = 0;
            f.since = now + FAILURE_WINDOW;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_locked_out_after_repeated_failures_then_let_back() {
        let f = AuthFailures::default();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let other: IpAddr = "192.0.2.10".parse().unwrap();
        let t0 = Instant::now();
        for _ in 1..MAX_AUTH_FAILURES {
            assert!(!f.failed(ip, t0));
        }
        assert_eq!(f.locked_for(ip, t0), None);
        assert!(f.failed(ip, t0));
        assert_eq!(f.locked_for(ip, t0), Some(FAILURE_WINDOW));
        assert_eq!(f.locked_for(other, t0), None);
        assert_eq!(f.locked_for(ip, t0 + FAILURE_WINDOW), None);
    }

    #[test]
    fn a_full_table_makes_room_by_closing_the_oldest_unauthenticated_connection() {
        let c = Arc::new(Connections {
            max: 2,
            next_id: AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        });
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let first = c.admit(peer).unwrap();
        let second = c.admit(peer).unwrap();
        second.info.authenticated.store(true, Ordering::Relaxed);
        let third = c.admit(peer).unwrap();
        assert!(first.close.is_cancelled());
        assert!(!second.close.is_cancelled());
        third.info.authenticated.store(true, Ordering::Relaxed);
        drop(first);
        assert!(
            c.admit(peer).is_none(),
            "every open connection authenticated"
        );
        drop(second);
        assert!(c.admit(peer).is_some());
    }
}
