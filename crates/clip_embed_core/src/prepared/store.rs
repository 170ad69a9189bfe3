//! The store's folders: who may own it, the machine-wide lock of a copy
//! being prepared, listing and removal, and leftovers of dead writers.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::files::{STAMPS_DIR, TEMP_MARK};
use super::manifest::{read_manifest, Manifest};
use crate::cancel::CancelCheck;
use crate::error::{Error, Result};

/// One folder of the store, as `clip_prepared_models()` lists it.
#[derive(Debug, Clone)]
pub struct CopyInfo {
    /// The folder's name.
    pub name: String,
    /// The manifest, if the folder has a readable one.
    pub manifest: Option<Manifest>,
    /// Bytes of every file in the folder.
    pub bytes: u64,
    /// Being written by a running process, or left by a dead one.
    pub temporary: bool,
}

/// Whether the store is the server's own: owned by this process's user and
/// writable by no one else. Copy names are predictable, so a store that
/// another user can write to (an absolute `clip_embed.prepared_dir` such as
/// `/tmp/x`) would let that user plant the graph every backend loads.
pub(super) fn owned_privately(store: &Path) -> std::result::Result<(), String> {
    let meta = fs::metadata(store).map_err(|e| format!("cannot read \"{}\": {e}", store.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "\"{}\" is owned by uid {} with mode {:o}; the store must be the server user's and writable by no one else",
            store.display(),
            meta.uid(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// How long a backend waits for another one preparing the same copy before
/// it loads the original graph instead (with a warning). Preparing a ViT-B/16
/// tower takes ~3 s here; a ViT-L/14 several times that.
pub(super) const PREPARE_WAIT: Duration = Duration::from_secs(120);

/// How often a waiting backend tries the lock again (and polls its cancel).
pub(super) const LOCK_POLL: Duration = Duration::from_millis(20);

/// An exclusive `flock` on `.<copy>.lock` in the store, held while a copy is
/// prepared: machine-wide, and released by the kernel when the holder exits,
/// however it exits.
pub(super) struct PrepareLock {
    pub(super) file: fs::File,
}

impl PrepareLock {
    /// The lock, after waiting (cancellably) for a holder to finish; None
    /// after [`PREPARE_WAIT`].
    pub(super) fn acquire(store: &Path, name: &str, cancel: Option<CancelCheck>) -> Result<Option<PrepareLock>> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let path = store.join(format!(".{name}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::Io { path: path.clone(), source: e })?;
        let started = Instant::now();
        loop {
            // SAFETY: flock on a descriptor this function owns; LOCK_NB never blocks.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Some(PrepareLock { file }));
            }
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(Error::Io { path, source: error });
            }
            if crate::cancel::requested(cancel) {
                return Err(Error::Cancelled);
            }
            if started.elapsed() >= PREPARE_WAIT {
                return Ok(None);
            }
            std::thread::sleep(LOCK_POLL);
        }
    }
}

/// Removes temporary folders whose writing process no longer runs (a backend
/// killed while preparing; a cancelled one removes its own).
pub(super) fn remove_abandoned(store: &Path) {
    for copy in list(store).unwrap_or_default() {
        if copy.temporary && !writer_is_running(&copy.name) {
            let _ = remove_dir(&store.join(&copy.name));
        }
    }
}

/// Whether the process that names a temporary folder still runs.
pub fn writer_is_running(temp_name: &str) -> bool {
    let Some(pid) = temp_name.rsplit(TEMP_MARK).next().and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    pid == std::process::id() as i32 || unsafe { libc::kill(pid, 0) } == 0
}

/// Every copy and temporary folder in the store (the stamp index excluded).
pub fn list(store: &Path) -> Result<Vec<CopyInfo>> {
    let entries = match fs::read_dir(store) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Io { path: store.to_path_buf(), source: e }),
    };
    let mut copies = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == STAMPS_DIR || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let bytes = fs::read_dir(&path)
            .map(|files| files.filter_map(|f| f.ok()?.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0);
        let temporary = name.starts_with('.') && name.contains(TEMP_MARK);
        let manifest = if temporary { None } else { read_manifest(&path).ok() };
        copies.push(CopyInfo { name, manifest, bytes, temporary });
    }
    copies.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(copies)
}

/// Removes the copy `name` from the store; false if there is none.
pub fn remove(store: &Path, name: &str) -> Result<bool> {
    if name.is_empty() || name == STAMPS_DIR || name.contains('/') || name == "." || name == ".." {
        return Err(Error::InvalidArgument(format!("\"{}\" is not a prepared copy", crate::error::bounded(name))));
    }
    let dir = store.join(name);
    if !dir.is_dir() {
        return Ok(false);
    }
    if name.contains(TEMP_MARK) && writer_is_running(name) {
        return Err(Error::InvalidArgument(format!("\"{name}\" is being written by a running backend")));
    }
    // Backends that mapped its files keep them until they exit (unlinked inodes live on).
    remove_dir(&dir).map_err(|e| Error::Io { path: dir, source: e })?;
    Ok(true)
}

pub(super) fn remove_dir(dir: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
