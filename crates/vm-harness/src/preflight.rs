//! Checks that fail fast, with what to do, before a long build starts.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::vm::find_program;

/// Both QEMU programs the harness runs.
pub fn check_qemu(qemu: &Path, qemu_img: &Path) -> Result<(PathBuf, PathBuf), String> {
    let system = find_program(qemu).ok_or_else(|| {
        format!(
            "{} not found: install QEMU (Debian/Ubuntu: `apt-get install qemu-system-x86 qemu-utils`)",
            qemu.display()
        )
    })?;
    let img = find_program(qemu_img).ok_or_else(|| {
        format!(
            "{} not found: install it (Debian/Ubuntu: `apt-get install qemu-utils`)",
            qemu_img.display()
        )
    })?;
    Ok((system, img))
}

/// Can we open a TCP connection to `host:port` within `timeout`? Name resolution runs in a
/// thread so that a resolver without network cannot hang the check either.
pub fn check_internet(host_port: &str, timeout: Duration) -> Result<(), String> {
    let target = host_port.to_owned();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(target.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    let addresses = match receive.recv_timeout(timeout) {
        Ok(Ok(addresses)) if !addresses.is_empty() => addresses,
        Ok(Ok(_)) => return Err(format!("{host_port} resolves to no address")),
        Ok(Err(e)) => return Err(format!("cannot resolve {host_port}: {e}")),
        Err(_) => {
            return Err(format!(
                "resolving {host_port} took longer than {timeout:?}"
            ));
        }
    };
    let mut last = String::new();
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("cannot connect to {host_port} ({address}): {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn closed_loopback_port_fails_fast() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let error =
            check_internet(&format!("127.0.0.1:{port}"), Duration::from_secs(3)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(error.contains("cannot connect"), "{error}");
    }

    #[test]
    fn open_loopback_port_passes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        check_internet(&format!("127.0.0.1:{port}"), Duration::from_secs(3)).unwrap();
    }

    #[test]
    fn missing_qemu_names_the_package() {
        let error = check_qemu(
            Path::new("/nonexistent/qemu-system-x86_64"),
            Path::new("qemu-img"),
        )
        .unwrap_err();
        assert!(error.contains("apt-get install qemu-system-x86"), "{error}");
    }
}
