//! How the core learns that Postgres wants the current call to stop: a plain
//! function the SQL layer supplies ([`crate::Settings::cancel`]) that reads
//! the backend's `QueryCancelPending` / `ProcDiePending` flags. It only reads
//! two flags, so watchdog and worker threads may call it too; it never calls
//! Postgres. Every phase that runs long polls it through [`poll`] or
//! [`requested`] (docs/limits.md, "Cancellation", has each phase's latency).

use crate::error::{Error, Result};

/// True when the query was cancelled or the backend is terminating.
pub type CancelCheck = fn() -> bool;

/// Whether `cancel` says stop (never, when there is none).
pub fn requested(cancel: Option<CancelCheck>) -> bool {
    cancel.is_some_and(|is_cancelled| is_cancelled())
}

/// `Err(Cancelled)` when `cancel` says stop.
pub fn poll(cancel: Option<CancelCheck>) -> Result<()> {
    if requested(cancel) {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}
