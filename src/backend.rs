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
    register_exit_callback();
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

/// Registers [`exit_without_destructors`] once per process, at the first call
/// that may start a worker. Not from `_PG_init`: with `shared_preload_libraries`
/// that runs in the postmaster, and every child clears the exit callbacks it
/// inherits (`on_exit_reset`).
fn register_exit_callback() {
    static REGISTERED_IN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let pid = std::process::id();
    if REGISTERED_IN.swap(pid, std::sync::atomic::Ordering::Relaxed) != pid {
        // SAFETY: adds a callback to this backend's own exit list, from its own thread.
        unsafe { pg_sys::on_proc_exit(Some(exit_without_destructors), pg_sys::Datum::from(0)) };
    }
}

/// Runs on the way out of a backend, after Postgres released its shared
/// memory and locks (`shmem_exit` comes before the `on_proc_exit` callbacks):
/// if a cancelled model load still runs on a worker thread 0.25 s later, the
/// process ends here, before `exit()` would run ONNX Runtime's destructors
/// under it (see `clip_embed_core::worker::exit_now_if_workers_run`); the
/// callbacks registered before this one (closing files, the client socket)
/// are then left to the kernel.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn exit_without_destructors(code: std::ffi::c_int, _arg: pg_sys::Datum) {
    clip_embed_core::worker::exit_now_if_workers_run(code, || {
        pgrx::log!("clip_embed: a model load abandoned by a cancel still runs; the backend exits without running its library destructors");
    });
}
