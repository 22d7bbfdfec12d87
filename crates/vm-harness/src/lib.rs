//! QEMU lifecycle for golden pfSense images and the serial-console automation engine (see README).
//!
//! - [`vm`]: boot a golden image on a per-run overlay, wait until ready, snapshot/restore, clean up.
//! - [`accel`]: KVM or TCG, decided by booting a probe guest.
//! - [`console`], [`flow`], [`pfsense_flows`]: the console engine and the pfSense flows as data.
//! - [`guest`]: a small Debian-built Linux guest for testing the harness without pfSense.

pub mod accel;
pub mod artifacts;
pub mod console;
pub mod flow;
pub mod golden;
pub mod guest;
pub mod pfsense_flows;
pub mod preflight;
pub mod qmp;
pub mod ready;
pub mod rest;
pub mod vm;

pub use accel::{AccelChoice, Accelerator};

/// reqwest is built without a crypto provider of its own (ring is the workspace's one provider,
/// see the workspace Cargo.toml): install ring as the process default before building a client.
/// Calling it again is harmless.
pub fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub use golden::{Credentials, GoldenImage};
pub use ready::{Endpoint, HttpProbe, PfSenseApiProbe, ReadinessProbe};
pub use vm::{RunningVm, Vm, VmError, VmOptions};
