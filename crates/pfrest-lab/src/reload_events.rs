//! Our stand-in for pfSense's `check_reload_status` daemon. On a box, pfSense's PHP hands slow
//! reconfigurations to it: `send_event()` (util.inc) writes an event such as `filter reload` to
//! the unix socket `/var/run/check_reload_status`, expects `OK\n` back, and the daemon runs the
//! matching script in the background. The lab runs no such daemon, so without this stand-in those
//! events went nowhere (and `send_event()` tried to start the missing daemon on every call).
//! This listens on the lab root's `var/run/check_reload_status`, answers like the daemon and runs
//! the scripts of [`EVENT_SCRIPTS`] with the lab's PHP inside the lab's namespaces and chroot,
//! one at a time; other events are answered and logged, not run (`var/log/check_reload_status.log`).

use crate::root::Layout;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Events the stand-in runs, with the script `check_reload_status` runs for each (its command
/// table maps `filter reload` to `/usr/local/bin/php /etc/rc.filter_configure_sync`).
/// filter_configure() (filter.inc) sends `filter reload`; pfrest calls it from its interface,
/// routing, IPsec, hostname and DNS forwarder applies and the DHCP relay model. The script is our
/// stand-in `shims/rc.filter_configure_sync`: it runs pfSense's filter_configure_sync(), which
/// clears the `aliases`/`filter`/`natconf`/`shaper` pending-apply markers.
pub const EVENT_SCRIPTS: &[(&str, &[&str])] = &[(
    "filter reload",
    &["/usr/local/bin/php", "/etc/rc.filter_configure_sync"],
)];

/// What `send_event()` expects back (anything else it logs as an error).
const ANSWER: &[u8] = b"OK\n";

/// Where the stand-in logs the events it received and the scripts it ran, with their output.
pub const LOG: &str = "var/log/check_reload_status.log";

/// The running stand-in of one lab.
pub struct ReloadEvents {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    layout: Layout,
    socket: PathBuf,
    /// Host pid of the lab's `unshare` process: its mount and UTS namespaces are the lab's, and
    /// its `pid_for_children` namespace the one the server runs in.
    unshare_pid: i32,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Scripts waiting to run; a script already waiting is not queued twice (as the daemon, which
    /// runs each command once however many requests arrived meanwhile).
    queue: VecDeque<&'static [&'static str]>,
    stopping: bool,
}

impl ReloadEvents {
    /// Bind the socket in the lab's root and start the listener and the runner.
    pub fn start(layout: &Layout, unshare_pid: i32) -> io::Result<ReloadEvents> {
        let socket = layout.root.join("var/run/check_reload_status");
        let _ = fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)?;
        let shared = Arc::new(Shared {
            layout: layout.clone(),
            socket,
            unshare_pid,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let listen = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("pfrest-lab-check-reload-status".into())
                .spawn(move || shared.listen(listener))?
        };
        let run = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("pfrest-lab-reload-runner".into())
                .spawn(move || shared.run_queue())?
        };
        Ok(ReloadEvents {
            shared,
            threads: Mutex::new(vec![listen, run]),
        })
    }

    /// Forget the scripts waiting to run (a reset: they belong to the state being thrown away).
    /// A script already running is ended by the caller with the dispatchers.
    pub fn clear_queue(&self) {
        crate::lock(&self.shared.state).queue.clear();
    }

    /// Stop both threads (the lab's namespace, and with it a running script, is already gone).
    pub fn stop(&self) {
        crate::lock(&self.shared.state).stopping = true;
        self.shared.wake.notify_all();
        // Wake the listener's accept().
        let _ = UnixStream::connect(&self.shared.socket);
        for thread in crate::lock(&self.threads).drain(..) {
            let _ = thread.join();
        }
    }
}

/// The processes the stand-in runs, by a word of their command line (the lab ends them on reset).
pub fn is_event_script(cmdline: &str) -> bool {
    EVENT_SCRIPTS
        .iter()
        .any(|(_, argv)| argv.last().is_some_and(|script| cmdline.contains(script)))
}

impl Shared {
    fn stopping(&self) -> bool {
        crate::lock(&self.state).stopping
    }

    fn log(&self, line: &str) {
        if let Ok(mut log) = self.log_file() {
            let _ = writeln!(log, "{line}");
        }
    }

    fn log_file(&self) -> io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.layout.root.join(LOG))
    }

    fn listen(&self, listener: UnixListener) {
        for stream in listener.incoming() {
            if self.stopping() {
                return;
            }
            if let Ok(stream) = stream {
                self.serve(stream);
            }
        }
    }

    /// One connection: `send_event()` writes one event and reads the answer;
    /// `send_multiple_events()` writes several on the same connection, one answer each.
    fn serve(&self, mut stream: UnixStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buffer = [0u8; 4096];
        loop {
            let n = match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let event = String::from_utf8_lossy(&buffer[..n])
                .trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_string();
            self.accept(&event);
            if stream.write_all(ANSWER).is_err() {
                return;
            }
        }
    }

    fn accept(&self, event: &str) {
        let Some((_, argv)) = EVENT_SCRIPTS.iter().find(|(e, _)| *e == event) else {
            self.log(&format!(
                "event `{event}`: not stood in, answered and ignored"
            ));
            return;
        };
        let mut state = crate::lock(&self.state);
        if state.queue.iter().any(|queued| queued == argv) {
            drop(state);
            self.log(&format!(
                "event `{event}`: {} already queued",
                argv.join(" ")
            ));
            return;
        }
        state.queue.push_back(argv);
        drop(state);
        self.wake.notify_all();
        self.log(&format!("event `{event}`: queued {}", argv.join(" ")));
    }

    fn run_queue(&self) {
        loop {
            let argv = {
                let mut state = crate::lock(&self.state);
                loop {
                    if state.stopping {
                        return;
                    }
                    if let Some(argv) = state.queue.pop_front() {
                        break argv;
                    }
                    state = self
                        .wake
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            };
            let status = self.run(argv);
            self.log(&format!("ran {}: {status}", argv.join(" ")));
        }
    }

    /// Run a script as the lab runs everything: inside its namespaces (entered through its
    /// `unshare` process) and confined to its root by `confine.sh`.
    fn run(&self, argv: &[&str]) -> String {
        let ns = |kind: &str| format!("/proc/{}/ns/{kind}", self.unshare_pid);
        let output = || -> io::Result<(Stdio, Stdio)> {
            let log = self.log_file()?;
            Ok((Stdio::from(log.try_clone()?), Stdio::from(log)))
        };
        let (stdout, stderr) = match output() {
            Ok(pair) => pair,
            Err(e) => return format!("not started: cannot open the log: {e}"),
        };
        let status = Command::new("/usr/bin/nsenter")
            .arg(format!("--mount={}", ns("mnt")))
            .arg(format!("--uts={}", ns("uts")))
            .arg(format!("--pid={}", ns("pid_for_children")))
            .args(["--", "/bin/sh"])
            .arg(&self.layout.confine_script)
            .arg(&self.layout.root)
            .arg("1")
            .args(argv)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .status();
        match status {
            Ok(status) => status.to_string(),
            Err(e) => format!("not started: {e}"),
        }
    }
}
