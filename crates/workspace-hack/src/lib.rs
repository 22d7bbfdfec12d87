//! No code: this crate exists for its `Cargo.toml` (see its README).
