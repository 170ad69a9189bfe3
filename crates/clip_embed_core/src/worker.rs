//! Worker threads that a cancel may abandon, and what keeps them bounded.
//!
//! Some steps cannot poll a cancel themselves: ONNX Runtime creating a session,
//! libjpeg decoding a large file, rewriting a 254 MB graph, an fsync. They run
//! on a worker thread (started with every signal blocked, so Postgres's
//! handlers only ever run on the backend's own thread) while the backend's
//! thread polls; a cancel returns at once and the worker ends alone. At most
//! one such worker runs per process at a time, a lock a worker needs stays held
//! until it ends ([`HeldByWorkers`]), and a process that exits while one still
//! runs skips the C++ destructors it could race ([`exit_now_if_workers_run`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cancel::{requested, CancelCheck};
use crate::error::{Error, Result};

/// How often a waiting thread polls the cancel check.
pub(crate) const CANCEL_POLL: Duration = Duration::from_millis(5);

/// Worker threads of this process still running: a load or step that a
/// cancel abandoned goes on until it ends by itself. A new one starts only when
/// none runs, so repeated cancels cannot pile up workers (each can hold a
/// ViT-B/16's ~1 GB of load-time memory).
static RUNNING_WORKERS: AtomicUsize = AtomicUsize::new(0);

/// Counts a worker while it runs, however it ends.
pub(crate) struct WorkerCount;

impl WorkerCount {
    pub(crate) fn start() -> WorkerCount {
        RUNNING_WORKERS.fetch_add(1, Ordering::AcqRel);
        WorkerCount
    }
}

impl Drop for WorkerCount {
    fn drop(&mut self) {
        RUNNING_WORKERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether a worker thread (an abandoned load, rewrite or decode) still runs.
pub fn workers_running() -> bool {
    RUNNING_WORKERS.load(Ordering::Acquire) > 0
}

/// Ends the process at once with `code`, without `exit()`'s C++ static
/// destructors, if a worker still runs: ONNX Runtime's destructors (its
/// environment, logging, kernel registries) would otherwise run under an
/// abandoned load thread still inside it, a use-after-free that crashes the
/// backend and sends the whole server through recovery. The SQL layer calls
/// this on the way out (a Postgres `on_proc_exit` callback, after shared memory
/// is released); exit status 0 or 1 is an ordinary backend exit to the postmaster.
/// It first gives a worker 250 ms to end, so that the usual exit (which also
/// removes the backend's temporary files) runs whenever it can.
/// `announce` runs just before the process ends that way (a log line).
pub fn exit_now_if_workers_run(code: i32, announce: fn()) {
    let deadline = Instant::now() + Duration::from_millis(250);
    while workers_running() && Instant::now() < deadline {
        std::thread::sleep(CANCEL_POLL);
    }
    if workers_running() {
        announce();
        // SAFETY: _exit ends the process without running destructors or atexit handlers.
        unsafe { libc::_exit(code) }
    }
}

thread_local! {
    /// A file every worker started from this thread keeps open (a duplicate) until it ends.
    static HELD_BY_WORKERS: std::cell::RefCell<Option<std::fs::File>> = const { std::cell::RefCell::new(None) };
}

/// While it lives, every worker this thread starts holds a duplicate of a
/// file until the worker itself ends. Preparing holds its `flock` this way: a
/// preparation abandoned after a cancel goes on writing, and the lock must
/// stay taken until it stops, or the next backend would start a second one.
pub(crate) struct HeldByWorkers;

impl HeldByWorkers {
    pub(crate) fn new(file: &std::fs::File) -> HeldByWorkers {
        HELD_BY_WORKERS.with(|held| *held.borrow_mut() = file.try_clone().ok());
        HeldByWorkers
    }
}

impl Drop for HeldByWorkers {
    fn drop(&mut self) {
        HELD_BY_WORKERS.with(|held| *held.borrow_mut() = None);
    }
}

pub(crate) fn held_for_a_worker() -> Option<std::fs::File> {
    HELD_BY_WORKERS.with(|held| held.borrow().as_ref().and_then(|file| file.try_clone().ok()))
}

/// Waits (polling `cancel`) until no worker an earlier cancel abandoned still runs.
pub(crate) fn wait_for_abandoned_workers(cancel: Option<CancelCheck>) -> Result<()> {
    while RUNNING_WORKERS.load(Ordering::Acquire) > 0 {
        if requested(cancel) {
            return Err(Error::Cancelled);
        }
        std::thread::sleep(CANCEL_POLL);
    }
    Ok(())
}

/// Runs `work` on a thread of its own while this thread polls `cancel` every
/// [`CANCEL_POLL`]; a cancel returns [`Error::Cancelled`] at once and leaves
/// `work` to finish alone (what it returns is dropped). For steps that cannot
/// poll a cancel themselves, pure computation or file I/O (rewriting a 254 MB
/// text graph, an fsync of a 686 MB copy), so a cancel never waits for them;
/// never for anything that calls Postgres or ONNX Runtime.
pub fn abandonable<T: Send + 'static>(
    cancel: Option<CancelCheck>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let Some(is_cancelled) = cancel else { return Ok(work()) };
    let (done, finished) = mpsc::channel();
    wait_for_abandoned_workers(cancel)?;
    let count = WorkerCount::start();
    let held = held_for_a_worker();
    with_signals_blocked(|| {
        std::thread::Builder::new().name("clip_embed work".into()).spawn(move || {
            let (_count, _held) = (count, held);
            let _ = done.send(work());
        })
    })
    .map_err(|e| Error::Inference(format!("could not start a worker thread: {e}")))?;
    loop {
        match finished.recv_timeout(CANCEL_POLL) {
            Ok(value) => return Ok(value),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Inference("a worker thread ended without a result".into()))
            }
            Err(mpsc::RecvTimeoutError::Timeout) if is_cancelled() => return Err(Error::Cancelled),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Runs `f` with every signal blocked in this thread, so threads it starts
/// (ORT's pools) inherit a full mask and Postgres's handlers only ever run on
/// the backend's own thread. The previous mask is restored afterwards.
pub(crate) fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigfillset/pthread_sigmask only write the sigset_t values we own;
    // the old mask is restored before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let result = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}
