//! QEMU lifecycle for golden pfSense images and the serial-console automation engine (see README).

pub mod console;
pub mod flow;
pub mod pfsense_flows;
