//! Limits that keep the HTTP transport answering its callers under load or attack: a cap on
//! open connections (below the file-descriptor limit) that makes room by closing the oldest
//! connection that never authenticated, a lockout of addresses that keep failing
//! authentication, and a bound on the log lines rejected requests cause.

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

/// Addresses whose rejections get a line of their own per [`FAILURE_WINDOW`] at most; the
/// rejections from further addresses in that window are only counted.
pub const MAX_REJECTION_LINES: u32 = 20;

/// Rejections from one address not logged one by one, since its last line.
struct Unlogged {
    since: Instant,
    count: u64,
}

#[derive(Default)]
struct RejectionState {
    by_address: HashMap<IpAddr, Unlogged>,
    window_start: Option<Instant>,
    lines: u32,
    /// Rejections from addresses that got no line (the window's lines were spent).
    others: u64,
}

/// The log lines of one kind of rejected request (no valid token, a Host or Origin not
/// allowed), which anyone who can connect can cause: the first rejection from an address
/// gets a line, the rest from it within [`FAILURE_WINDOW`] are counted and summed up in one
/// line when the window is over ([`RejectionLog::summarise`]); at most
/// [`MAX_REJECTION_LINES`] addresses get lines of their own per window.
pub struct RejectionLog {
    /// What was rejected, for the summaries: "requests without a valid bearer token".
    what: &'static str,
    state: Mutex<RejectionState>,
}

impl RejectionLog {
    pub fn new(what: &'static str) -> RejectionLog {
        RejectionLog {
            what,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RejectionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the caller logs this rejection from `ip` (the first from it in a window);
    /// otherwise it is counted for the summary.
    pub fn should_log(&self, ip: Option<IpAddr>, now: Instant) -> bool {
        let ip = ip.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        let mut summary = None;
        let log = {
            let mut state = self.lock();
            let state = &mut *state;
            if state
                .window_start
                .is_none_or(|w| now.duration_since(w) >= FAILURE_WINDOW)
            {
                state.window_start = Some(now);
                state.lines = 0;
            }
            match state.by_address.get_mut(&ip) {
                Some(u) if now.duration_since(u.since) < FAILURE_WINDOW => {
                    u.count += 1;
                    false
                }
                Some(u) if state.lines < MAX_REJECTION_LINES => {
                    summary = (u.count > 0).then_some(u.count);
                    *u = Unlogged {
                        since: now,
                        count: 0,
                    };
                    state.lines += 1;
                    true
                }
                Some(u) => {
                    u.count += 1;
                    false
                }
                None if state.lines < MAX_REJECTION_LINES => {
                    state.by_address.insert(
                        ip,
                        Unlogged {
                            since: now,
                            count: 0,
                        },
                    );
                    state.lines += 1;
                    true
                }
                None => {
                    state.others += 1;
                    false
                }
            }
        };
        if let Some(count) = summary {
            self.log_summary(Some(ip), count);
        }
        log
    }

    fn log_summary(&self, ip: Option<IpAddr>, count: u64) {
        match ip {
            Some(ip) => tracing::info!(
                %ip,
                count,
                "{count} more {} from this address since its last line (logged once a minute per address)",
                self.what
            ),
            None => tracing::info!(
                count,
                "{count} more {} from addresses that got no line of their own (at most {MAX_REJECTION_LINES} a minute)",
                self.what
            ),
        }
    }

    /// Log the counts of the windows that are over (`all`: of every window, as at shutdown)
    /// and forget them.
    pub fn summarise(&self, now: Instant, all: bool) {
        let (done, others) = {
            let mut state = self.lock();
            let mut done = Vec::new();
            state.by_address.retain(|ip, u| {
                let over = all || now.duration_since(u.since) >= FAILURE_WINDOW;
                if over && u.count > 0 {
                    done.push((*ip, u.count));
                }
                !over
            });
            (done, std::mem::take(&mut state.others))
        };
        for (ip, count) in done {
            self.log_summary(Some(ip), count);
        }
        if others > 0 {
            self.log_summary(None, others);
        }
    }

    #[cfg(test)]
    fn unlogged(&self, ip: IpAddr) -> u64 {
        self.lock().by_address.get(&ip).map_or(0, |u| u.count)
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
    fn rejections_get_one_line_per_address_and_window_and_the_rest_are_counted() {
        let log = RejectionLog::new("test rejections");
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(log.should_log(Some(a), t0));
        for _ in 0..499 {
            assert!(!log.should_log(Some(a), t0));
        }
        assert_eq!(log.unlogged(a), 499);
        // A window later the address gets a line again (the count is summed up then).
        assert!(log.should_log(Some(a), t0 + FAILURE_WINDOW));
        assert_eq!(log.unlogged(a), 0);
        // Many addresses: MAX_REJECTION_LINES lines a window, in all.
        let t1 = t0 + 3 * FAILURE_WINDOW;
        let logged = (0..100u8)
            .filter(|i| log.should_log(Some(IpAddr::from([198, 51, 100, *i])), t1))
            .count();
        assert_eq!(logged, MAX_REJECTION_LINES as usize);
        assert_eq!(log.lock().others, 100 - u64::from(MAX_REJECTION_LINES));
        log.summarise(t1, true);
        assert_eq!(log.lock().others, 0);
        assert!(log.lock().by_address.is_empty());
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
