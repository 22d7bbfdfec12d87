//! Our stand-in for the dpinger gateway monitors of a box. pfSense's `return_gateways_status()`
//! (gwlb.inc), which pfrest's `GET /status/gateways` reads, finds the monitored gateways by their
//! pid files, `/var/run/dpinger_<name>~<source>~<monitor>.pid`, and reads each one's status socket
//! (the same name ending in `.sock`): one line, `<name> <latency µs> <stddev µs> <loss %>`. The
//! lab runs no dpinger, so the gateway status list was empty. This writes the pid files of
//! [`MONITORED_GATEWAYS`] and answers on their sockets, from threads of the lab process.
//!
//! A pid file names a pid no process can have: pfSense's `stop_dpinger()` signals the pid of a
//! running monitor (`isvalidpid()`: `pkill -0 -F`), and the lab must not signal one of its own
//! processes. It removes the pid file of a monitor that is not running instead, as on a box
//! whose dpinger died, so a gateway reconfiguration empties the list until the next reset
//! writes the files again.

use std::fs;
use std::io::{self, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A gateway the stand-in reports as monitored, and what its monitor measures.
pub struct Monitored {
    pub name: &'static str,
    /// The gateway interface's address dpinger pings from.
    pub source: &'static str,
    /// The address it pings.
    pub monitor: &'static str,
    pub latency_us: u32,
    pub stddev_us: u32,
    pub loss_percent: u32,
}

/// The lab's WAN gateway (`WAN_DHCP`, WAN's DHCP address 10.0.2.15 from the pfSense.so stand-in),
/// monitored as the emulator's `RoutingGatewayStatus` seed has it: 0.5 ms, 0.1 ms stddev, no loss.
/// (dpinger's own first answer, `<name> 0 0 0`, reads to pfSense as not ready yet.)
pub const MONITORED_GATEWAYS: &[Monitored] = &[Monitored {
    name: "WAN_DHCP",
    source: "10.0.2.15",
    monitor: "10.0.2.2",
    latency_us: 500,
    stddev_us: 100,
    loss_percent: 0,
}];

/// Above Linux's largest pid (`PID_MAX_LIMIT` is 2^22): never a running process.
const NO_PROCESS: &str = "4194304\n";

impl Monitored {
    /// The file name dpinger's pid file and socket share, without the extension.
    fn stem(&self) -> String {
        format!("dpinger_{}~{}~{}", self.name, self.source, self.monitor)
    }

    fn status_line(&self) -> String {
        format!(
            "{} {} {} {}\n",
            self.name, self.latency_us, self.stddev_us, self.loss_percent
        )
    }
}

/// The running stand-in of one lab.
pub struct Dpinger {
    sockets: Vec<PathBuf>,
    stopping: Arc<AtomicBool>,
    threads: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Dpinger {
    /// Write the pid files and answer on the sockets, in the lab's root.
    pub fn start(root: &Path) -> io::Result<Dpinger> {
        write_pid_files(root)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let mut sockets = Vec::new();
        let mut threads = Vec::new();
        for gateway in MONITORED_GATEWAYS {
            let socket = root.join(format!("var/run/{}.sock", gateway.stem()));
            let _ = fs::remove_file(&socket);
            let listener = UnixListener::bind(&socket)?;
            let line = gateway.status_line();
            let stopping = stopping.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("pfrest-lab-dpinger-{}", gateway.name))
                    .spawn(move || {
                        for stream in listener.incoming() {
                            if stopping.load(Ordering::SeqCst) {
                                return;
                            }
                            // pfSense reads to the end: one line, then the socket closes.
                            if let Ok(mut stream) = stream {
                                let _ = stream.write_all(line.as_bytes());
                            }
                        }
                    })?,
            );
            sockets.push(socket);
        }
        Ok(Dpinger {
            sockets,
            stopping,
            threads: std::sync::Mutex::new(threads),
        })
    }

    /// Stop the threads.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for socket in &self.sockets {
            // Wake the listener's accept().
            let _ = UnixStream::connect(socket);
        }
        for thread in crate::lock(&self.threads).drain(..) {
            let _ = thread.join();
        }
    }
}

/// The pid files of [`MONITORED_GATEWAYS`], written at start and by every reset (pfSense removes
/// them when it reconfigures gateways, as it does for a monitor that is not running).
pub fn write_pid_files(root: &Path) -> io::Result<()> {
    for gateway in MONITORED_GATEWAYS {
        fs::write(
            root.join(format!("var/run/{}.pid", gateway.stem())),
            NO_PROCESS,
        )?;
    }
    Ok(())
}
