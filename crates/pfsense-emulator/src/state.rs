//! Everything one running emulator shares between connections.

use crate::catalog::Catalog;
use crate::faults::{Fault, LoggedRequest};
use crate::store::Store;
use std::collections::VecDeque;
use std::sync::Mutex;

pub struct Shared {
    pub catalog: Catalog,
    /// The spec file's bytes, served at `/api/v2/schema/openapi`.
    pub spec_bytes: bytes::Bytes,
    pub store: Mutex<Store>,
    /// The state `reset` returns to.
    pub seed: Store,
    pub faults: Mutex<Vec<Fault>>,
    /// A ring of the last `LOG_CAPACITY` requests: dropping the oldest must not shift the
    /// rest on every request once it is full.
    pub log: Mutex<VecDeque<LoggedRequest>>,
    pub jwt_secret: Vec<u8>,
    /// Credentials of the control API (`/__emulator/…`): the admin login given at start.
    pub control_username: String,
    pub control_password: String,
}

/// Lock a mutex even if a panicking thread poisoned it (the data stays usable).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Shared {
    pub fn reset(&self) {
        *lock(&self.store) = self.seed.clone();
    }
}
