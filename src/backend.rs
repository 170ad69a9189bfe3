//! Per-backend state: the registry of loaded ONNX sessions.
//!
//! A backend is one OS thread, so a `thread_local` `RefCell` is enough and no
//! `Mutex` can be poisoned by an ERROR unwinding through it. Borrows end before
//! any ERROR is raised: callers get a `Result` and raise afterwards.

use std::cell::RefCell;

use clip_embed_core::{Error, Registry, Result};
use pgrx::pg_sys;

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::new());
}

/// Runs `f` with this backend's registry.
pub fn with_registry<T>(f: impl FnOnce(&mut Registry) -> Result<T>) -> Result<T> {
    REGISTRY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut registry) => f(&mut registry),
        Err(_) => Err(Error::InvalidArgument("clip_embed functions cannot be called recursively".into())),
    })
}

/// Whether Postgres wants this backend to stop what it is doing: a cancel
/// (statement_timeout, pg_cancel_backend) or a termination. Called from the
/// watchdog thread: it only reads two `sig_atomic_t` flags, never calls Postgres.
pub fn interrupt_pending() -> bool {
    // SAFETY: volatile reads of flags that signal handlers write; reading them
    // from another thread is a plain load of an aligned int.
    unsafe {
        std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::QueryCancelPending)) != 0
            || std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::ProcDiePending)) != 0
    }
}
