//! Per-backend state: the registry of loaded ONNX sessions.
//!
//! A backend is one OS thread, so a `thread_local` `RefCell` is enough and no
//! `Mutex` can be poisoned by an ERROR unwinding through it. Borrows end before
//! any ERROR is raised: callers get a `Result` and raise afterwards.
//!
//! With `clip_embed.preload_models` the postmaster fills its own registry
//! before it forks ([`preload`]); each backend inherits it (the thread-local
//! is in the memory the child copies) and checks it once ([`with_registry`]).

use std::cell::RefCell;

use clip_embed_core::{Error, Registry, Result};
use pgrx::pg_sys;

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::new());
}

/// Runs `f` with this backend's registry.
pub fn with_registry<T>(f: impl FnOnce(&mut Registry) -> Result<T>) -> Result<T> {
    let first_use = set_up_on_first_use();
    REGISTRY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut registry) => {
            if first_use {
                drop_changed_preloads(&mut registry);
            }
            f(&mut registry)
        }
        Err(_) => Err(Error::InvalidArgument("clip_embed functions cannot be called recursively".into())),
    })
}

/// Prepares, in the postmaster and before it forks, what every backend would
/// otherwise build for itself: ONNX Runtime's library mapped, and each model
/// `clip_embed.preload_models` names described with its tokenizer parsed
/// (`clip_embed_core`'s `registry::preload` says why sessions are not).
/// Called from `_PG_init` in the postmaster only. Nothing here may stop the
/// server from starting: a failure (or a panic) is a WARNING, and backends
/// load what failed at first use, as without the setting.
///
/// Forking is sound only while the postmaster has one thread, so this starts
/// none, and checks it: if `/proc/self/task` does not read 1 afterwards, what
/// was preloaded is dropped with a WARNING.
pub fn preload() {
    let names = crate::gucs::preload_models();
    if names.is_empty() {
        return;
    }
    let settings = crate::gucs::settings();
    let started = std::time::Instant::now();
    let mapped = std::panic::catch_unwind(|| clip_embed_core::onnx::Runtime::load_library(&settings.onnxruntime_path));
    match mapped {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            pgrx::warning!("clip_embed: could not preload ONNX Runtime: {error}; backends load it at first use")
        }
        Err(_) => pgrx::warning!("clip_embed: preloading ONNX Runtime panicked; backends load it at first use"),
    }
    for name in &names {
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            REGISTRY.with(|cell| cell.borrow_mut().preload(&settings, name))
        }));
        match loaded {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                pgrx::warning!("clip_embed: could not preload model \"{name}\": {error}; backends load it at first use")
            }
            Err(_) => {
                REGISTRY.with(|cell| *cell.borrow_mut() = Registry::new());
                pgrx::warning!("clip_embed: preloading model \"{name}\" panicked; backends load models at first use");
                return;
            }
        }
    }
    let threads = wait_for_one_thread(std::time::Duration::from_secs(2));
    if threads != Some(1) {
        REGISTRY.with(|cell| *cell.borrow_mut() = Registry::new());
        pgrx::warning!(
            "clip_embed: the postmaster has {} threads after preloading, not 1; preloaded models dropped, backends load them at first use",
            threads.map_or_else(|| "an unknown number of".to_string(), |n| n.to_string())
        );
        return;
    }
    let preloaded = REGISTRY.with(|cell| cell.borrow().preloaded_models());
    if preloaded.is_empty() {
        return;
    }
    // Children then allocate in pages of their own, not in the ones they share.
    let plugged = clip_embed_core::registry::plug_heap_holes();
    pgrx::log!(
        "clip_embed: preloaded {preloaded:?} in {:.0} ms (ONNX Runtime's library, and each model's tokenizer); {:.1} MB of heap holes taken in {} chunks",
        started.elapsed().as_secs_f64() * 1e3,
        plugged.bytes as f64 / 1e6,
        plugged.chunks
    );
}

/// Waits up to `limit` for this process to have one thread (nothing in
/// [`preload`] starts one: this guards against a dependency that would, since
/// a child does not get a parent's other threads); the count at the end.
fn wait_for_one_thread(limit: std::time::Duration) -> Option<usize> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let threads = threads_of_this_process();
        if threads == Some(1) || std::time::Instant::now() >= deadline {
            return threads;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// This process's threads, from `/proc/self/task`; None where it cannot be read.
fn threads_of_this_process() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

/// Drops the preloaded models whose files changed since the postmaster
/// loaded them (a few `stat`s; nothing without preloading). Once per backend.
fn drop_changed_preloads(registry: &mut Registry) {
    for name in registry.drop_changed_preloads() {
        pgrx::log!("clip_embed: model \"{name}\" changed since the server preloaded it; this backend loads it afresh");
    }
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

/// On the first call of this process (true then): registers
/// [`exit_without_destructors`] and [`release_memory_at_transaction_end`], and
/// keeps malloc to one arena, so that the latter reaches what worker threads
/// freed. Not from `_PG_init`: with `shared_preload_libraries` that runs in the
/// postmaster, and every child clears the exit callbacks it inherits
/// (`on_exit_reset`); the pid tells a forked child from its parent.
fn set_up_on_first_use() -> bool {
    static SET_UP_IN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let pid = std::process::id();
    let first_use = SET_UP_IN.load(std::sync::atomic::Ordering::Relaxed) != pid;
    if first_use {
        clip_embed_core::registry::use_one_malloc_arena();
        // SAFETY: adds callbacks to this backend's own exit and transaction
        // lists, from its own thread; both functions live as long as the library.
        unsafe {
            pg_sys::on_proc_exit(Some(exit_without_destructors), pg_sys::Datum::from(0));
            pg_sys::RegisterXactCallback(Some(release_memory_at_transaction_end), std::ptr::null_mut());
        }
        // Recorded once both are registered: an ERROR in between (out of memory) tries again next call.
        SET_UP_IN.store(pid, std::sync::atomic::Ordering::Relaxed);
    }
    first_use
}

/// When a transaction ends, hands back the heap pages its statements' runs
/// freed (`Registry::release_memory_freed_by_embedding`): once per transaction, not
/// once per run, so a bulk statement reuses the same pages for every row.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn release_memory_at_transaction_end(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::{
        XACT_EVENT_ABORT, XACT_EVENT_COMMIT, XACT_EVENT_PARALLEL_ABORT, XACT_EVENT_PARALLEL_COMMIT, XACT_EVENT_PREPARE,
    };
    let ended = [
        XACT_EVENT_COMMIT,
        XACT_EVENT_PARALLEL_COMMIT,
        XACT_EVENT_ABORT,
        XACT_EVENT_PARALLEL_ABORT,
        XACT_EVENT_PREPARE,
    ];
    if ended.contains(&event) {
        // Nothing here may raise an ERROR: at COMMIT it would be a PANIC (the
        // transaction is already committed). try_with: the thread-local may be gone at exit.
        let _ = REGISTRY.try_with(|cell| {
            if let Ok(mut registry) = cell.try_borrow_mut() {
                registry.release_memory_freed_by_embedding();
            }
        });
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
