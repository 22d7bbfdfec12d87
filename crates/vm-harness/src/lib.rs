//! QEMU lifecycle for golden pfSense images (see README).
