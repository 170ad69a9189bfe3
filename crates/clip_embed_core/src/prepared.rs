//! Prepared copies of towers, shared by every backend through the page cache.
//!
//! Loading a tower from the model's own `.onnx` makes each backend optimise the
//! graph and copy its weights into private memory: 621 MB and 0.82 s of
//! first-call overhead per backend for a ViT-B/16, against 48 MB and 0.24 s
//! from prepared copies (README, Performance: bench/prepared.py). The first backend that needs a tower
//! therefore writes a *prepared copy*: ONNX Runtime's optimised graph, with
//! every initializer of 1 KiB or more, prepacked ones included, in a `.data`
//! file beside it ([`crate::session::create_session`]). Later sessions on that
//! graph map the weights from the file, so every backend shares one copy in the
//! page cache, and creating a session skips the optimisers.
//!
//! A copy lives in its own folder under the store (by default
//! `pgsql_tmp_clip_embed` in the data directory, which `pg_basebackup` skips as
//! it skips every `pgsql_tmp*` name: the copies are derived, CPU-specific data).
//! The folder's name is the model's name, the tower and a key over everything
//! that changes the copy's bytes: the source graph's content hash, ONNX
//! Runtime's build, the CPU's vector extensions (prepacked layouts depend on
//! them) and this module's settings ([`PREPARE_RECIPE`]). A change in any of
//! them makes a new copy, never a stale load.
//!
//! The content hash is not recomputed per backend (hashing 600 MB takes
//! seconds): `stamps/` maps a cheap stamp of the source file (path, device,
//! inode, size, mtime and ctime in ns) to its SHA-256, recorded once.
//!
//! A copy is written in a temporary folder named after the writing process and
//! renamed into place with its manifest, so no backend ever loads a half-written
//! copy and two backends preparing at once do not collide (the second rename
//! fails; the loser uses the winner's copy). Before a copy loads, its files are
//! checked against the manifest: sizes, the graph's SHA-256, and a sampled
//! SHA-256 of the weights file (64 KiB every 8 MiB: 5.2 MB of the 686 MB a
//! ViT-B/16 visual copy holds; a full hash of that file, page cache warm, took
//! 0.38 s with Python's SHA-NI hashlib and 1.3 s with sha256sum). A copy that
//! fails the check, or that ONNX Runtime refuses, is removed and rebuilt.
//! Anything that stops preparing except a cancel (read-only or full disk, a
//! failed write) falls back to loading the original graph, with a warning.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cancel::CancelCheck;
use crate::error::{io_error, Error, Result};
use crate::layout::{Binding, Layout, Signature};
use crate::math::cosine_similarity;
use crate::session::{bind_session, create_session, create_session_from_bytes, Runtime, Tower, TowerKind};
use crate::text_length::rewrite_sequence_length;
use crate::worker::{abandonable, wait_for_abandoned_workers, HeldByWorkers};

/// What preparing does, as a string in every key: changing how copies are
/// written (optimisation level, external-data threshold) must change this.
pub const PREPARE_RECIPE: &str = "clip_embed-prepared-3;level2;external>=1024;prepacked;text-length-1;full-sha256";

/// The prepared graph's file name in a copy's folder (weights in `model.onnx.data`).
const GRAPH_FILE: &str = "model.onnx";
/// The manifest, written last: a folder without one is not a copy.
const MANIFEST_FILE: &str = "manifest.json";
/// The identities (inode, size, mtime) of a copy's files when their full
/// checksums last matched: see [`verify`].
const VERIFIED_FILE: &str = "verified.json";
/// Cheap stamps of source files to their content hashes.
const STAMPS_DIR: &str = "stamps";
/// Marks a folder being written: `.<copy>.tmp-<pid>`.
const TEMP_MARK: &str = ".tmp-";

/// Files up to this size are hashed whole when checked before a load.
const FULL_HASH_BYTES: u64 = 16 << 20;
/// Larger files are hashed in samples of this size...
const SAMPLE_BYTES: u64 = 64 << 10;
/// ...one every this many bytes, plus the last.
const SAMPLE_STRIDE: u64 = 8 << 20;

/// The family's rule for binding a graph's inputs and outputs.
pub type BindFn = fn(&Signature) -> std::result::Result<Binding, String>;

/// One tower to load through the store.
pub struct TowerSource<'a> {
    /// The model's name (the folder's), for the copy's name.
    pub model: &'a str,
    /// The tower's original graph.
    pub path: &'a Path,
    pub kind: TowerKind,
    pub bind: BindFn,
    /// A text tower whose family reads tokens causally and pools at the
    /// end-of-text token: a graph with a fixed length is rewritten to follow
    /// its input ([`crate::text_length`]) and runs at the caption's length.
    pub trim_text: bool,
}

impl<'a> TowerSource<'a> {
    /// The `kind` tower of a model as its layout describes it: the one place
    /// the copy key's inputs are assembled, for loading and for listing alike
    /// (a key built differently in one of them listed current copies as stale).
    pub fn of(model: &'a str, layout: &'a Layout, kind: TowerKind) -> TowerSource<'a> {
        match kind {
            TowerKind::Visual => {
                TowerSource { model, path: &layout.visual, kind, bind: layout.bind_visual, trim_text: false }
            }
            TowerKind::Textual => TowerSource {
                model,
                path: &layout.textual,
                kind,
                bind: layout.bind_textual,
                trim_text: layout.text.causal,
            },
        }
    }
}

/// How a tower was loaded, for `clip_models()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// From the model's own graph (preparing is off, or failed with a warning).
    Original,
    /// From a prepared copy (written by this call or earlier).
    Prepared(String),
}

/// A copy's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub recipe: String,
    pub model: String,
    /// `visual` or `textual`.
    pub tower: String,
    pub source: PathBuf,
    pub source_sha256: String,
    /// ONNX Runtime's build string.
    pub onnxruntime: String,
    /// The CPU's vector extensions, as the key saw them.
    pub cpu: String,
    pub created_unix: u64,
    /// Milliseconds preparing took.
    pub prepare_ms: f64,
    /// The fixed length a text graph had before it was rewritten to follow its
    /// input; None if it was not rewritten.
    #[serde(default)]
    pub text_length: Option<usize>,
    pub files: Vec<FileCheck>,
}

/// What a copy's file must be.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileCheck {
    pub name: String,
    pub bytes: u64,
    /// SHA-256 of the whole file, or of its samples where `sampled`.
    pub sha256: String,
    pub sampled: bool,
    /// SHA-256 of the whole file.
    #[serde(default)]
    pub full_sha256: String,
}

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

/// Loads a tower through the store: the prepared copy if there is a sound one,
/// else prepares one and loads it, else (with a warning) the original graph.
pub fn load_tower(
    runtime: &Runtime,
    store: &Path,
    source: &TowerSource,
    threads: usize,
    cancel: Option<CancelCheck>,
    warn: &mut dyn FnMut(String),
    log: &mut dyn FnMut(String),
) -> Result<(Tower, Origin)> {
    // A missing or unreadable source is the query's error, as without a store.
    fs::File::open(source.path).map_err(|e| io_error("model file", source.path, e))?;
    let original = |cancel| Tower::load(runtime, source.path, source.kind, source.bind, threads, cancel);
    let fallback = |why: String, warn: &mut dyn FnMut(String)| {
        warn(format!("clip_embed: loading \"{}\" without a prepared copy: {why}", source.path.display()));
        Ok((original(cancel)?, Origin::Original))
    };
    if let Err(e) = fs::create_dir_all(store.join(STAMPS_DIR)) {
        return fallback(format!("cannot create \"{}\": {e}", store.display()), warn);
    }
    if let Err(why) = owned_privately(store) {
        return fallback(why, warn);
    }
    let (name, content) = match copy_name(store, source, cancel) {
        Ok(named) => named,
        Err(Error::Cancelled) => return Err(Error::Cancelled),
        Err(e) => return fallback(e.to_string(), warn),
    };
    let dir = store.join(&name);
    let damage_reported = std::cell::Cell::new(false);
    let first_check = &mut |message: String| {
        damage_reported.set(true);
        warn(message)
    };
    if let Some(loaded) = load_sound_copy(runtime, &dir, source, threads, cancel, first_check)? {
        return Ok(loaded);
    }
    // One backend of the machine prepares a copy at a time: three first users
    // of a ViT-B/16 at once used to write three temporary copies (1.76 GB)
    // with ~1.07 GB peak memory each.
    let lock = match PrepareLock::acquire(store, &name, cancel) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            let waited = PREPARE_WAIT.as_secs();
            return fallback(format!("another backend has been preparing \"{name}\" for over {waited} s"), warn);
        }
        Err(Error::Cancelled) => return Err(Error::Cancelled),
        Err(e) => return fallback(format!("cannot lock the store: {e}"), warn),
    };
    // A preparation a cancel abandons holds the lock until it really stops.
    let _held = HeldByWorkers::new(&lock.file);
    // It may have been prepared while this backend waited; a damaged copy is reported once.
    let second_check = &mut |message: String| {
        if !damage_reported.get() {
            warn(message)
        }
    };
    if let Some(loaded) = load_sound_copy(runtime, &dir, source, threads, cancel, second_check)? {
        return Ok(loaded);
    }
    if let Err(e) = remove_dir(&dir) {
        return fallback(format!("cannot remove the damaged copy \"{}\": {e}", dir.display()), warn);
    }
    let manifest = match prepare(runtime, store, &name, &content, source, cancel, log) {
        Ok(manifest) => manifest,
        Err(Error::Cancelled) => return Err(Error::Cancelled),
        // Either the source graph is broken (loading it gives the query its
        // error) or ONNX Runtime could not write the copy (a full disk reads as
        // a failed load too): the original decides which.
        Err(e @ Error::InvalidModel(_)) => {
            let tower = original(cancel)?;
            warn(format!("clip_embed: loading \"{}\" without a prepared copy: {e}", source.path.display()));
            return Ok((tower, Origin::Original));
        }
        Err(e) => return fallback(format!("could not prepare a copy: {e}"), warn),
    };
    let loaded = Tower::load(runtime, &dir.join(GRAPH_FILE), source.kind, source.bind, threads, cancel);
    match loaded {
        Ok(mut tower) => {
            tower.trimmed_context = manifest.text_length;
            Ok((tower, Origin::Prepared(name)))
        }
        Err(Error::Cancelled) => Err(Error::Cancelled),
        Err(e) => fallback(format!("the copy just prepared did not load: {e}"), warn),
    }
}

/// Whether the store is the server's own: owned by this process's user and
/// writable by no one else. Copy names are predictable, so a store that
/// another user can write to (an absolute `clip_embed.prepared_dir` such as
/// `/tmp/x`) would let that user plant the graph every backend loads.
fn owned_privately(store: &Path) -> std::result::Result<(), String> {
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

/// The tower from the copy in `dir` if there is one that checks out and
/// loads; None (with a warning where a copy was there but unsound) otherwise.
fn load_sound_copy(
    runtime: &Runtime,
    dir: &Path,
    source: &TowerSource,
    threads: usize,
    cancel: Option<CancelCheck>,
    warn: &mut dyn FnMut(String),
) -> Result<Option<(Tower, Origin)>> {
    if !dir.exists() {
        return Ok(None);
    }
    let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
    match verify(dir, cancel)? {
        Ok(manifest) => match Tower::load(runtime, &dir.join(GRAPH_FILE), source.kind, source.bind, threads, cancel) {
            Ok(mut tower) => {
                tower.trimmed_context = manifest.text_length;
                return Ok(Some((tower, Origin::Prepared(name))));
            }
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => warn(format!("clip_embed: prepared copy \"{name}\" did not load ({e}); rebuilding it")),
        },
        Err(why) => warn(format!("clip_embed: prepared copy \"{name}\" is damaged ({why}); rebuilding it")),
    }
    Ok(None)
}

/// How long a backend waits for another one preparing the same copy before
/// it loads the original graph instead (with a warning). Preparing a ViT-B/16
/// tower takes ~3 s here; a ViT-L/14 several times that.
const PREPARE_WAIT: Duration = Duration::from_secs(120);
/// How often a waiting backend tries the lock again (and polls its cancel).
const LOCK_POLL: Duration = Duration::from_millis(20);

/// An exclusive `flock` on `.<copy>.lock` in the store, held while a copy is
/// prepared: machine-wide, and released by the kernel when the holder exits,
/// however it exits.
struct PrepareLock {
    file: fs::File,
}

impl PrepareLock {
    /// The lock, after waiting (cancellably) for a holder to finish; None
    /// after [`PREPARE_WAIT`].
    fn acquire(store: &Path, name: &str, cancel: Option<CancelCheck>) -> Result<Option<PrepareLock>> {
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

/// The copy's folder name and the source's content hash.
fn copy_name(store: &Path, source: &TowerSource, cancel: Option<CancelCheck>) -> Result<(String, String)> {
    let content = source_sha256(store, source.path, cancel)?;
    Ok((name_for(source, &content), content))
}

/// Model, tower and the first 16 hex digits of the key over everything that
/// changes a copy's bytes. Needs the runtime loaded (`ort::info`).
fn name_for(source: &TowerSource, content: &str) -> String {
    let mut key = Sha256::new();
    let length = if source.trim_text { "text-length-follows-input" } else { "fixed-length" };
    for part in [PREPARE_RECIPE, tower_name(source.kind), length, content, ort::info(), &cpu_features()] {
        key.update(part.as_bytes());
        key.update([0]);
    }
    format!("{}.{}.{}", source.model, tower_name(source.kind), &hex(&key.finalize())[..16])
}

/// The name a copy's manifest gives a tower.
pub fn tower_name(kind: TowerKind) -> &'static str {
    match kind {
        TowerKind::Visual => "visual",
        TowerKind::Textual => "textual",
    }
}

/// The cheap stamp of a file: path, device, inode, size, mtime and ctime
/// (ns). It changes whenever the bytes can have changed: ctime catches a
/// `cp -p` or `tar` over the same inode and size that keeps the mtime. A
/// stamp is only a cache of the content hash: a changed stamp with unchanged
/// bytes (`chmod -R a+rX`, the README's install step, changes the ctime) costs
/// one re-hash and gives the same copy, which stays `current`.
pub(crate) fn stamp(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).map_err(|e| io_error("model file", path, e))?;
    let absolute = fs::canonicalize(path).map_err(|e| io_error("model file", path, e))?;
    Ok(format!(
        "{}\0{}\0{}\0{}\0{}.{}\0{}.{}",
        absolute.display(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    ))
}

fn stamp_file(store: &Path, path: &Path) -> Result<PathBuf> {
    Ok(store.join(STAMPS_DIR).join(&hex(&Sha256::digest(stamp(path)?.as_bytes()))[..32]))
}

/// What the stamp index records for a graph: the content hash over the graph
/// and every external-data file it names, and those files' stamps (the
/// graph's own stamp is the index file's name).
#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    sha256: String,
    external: Vec<(PathBuf, String)>,
}

/// The SHA-256 over `path`'s bytes and those of every external-data file it
/// names ([`crate::onnx_files`]), from the stamp index when no stamp changed,
/// else hashed once (cancellably) and recorded.
fn source_sha256(store: &Path, path: &Path, cancel: Option<CancelCheck>) -> Result<String> {
    if let Some(recorded) = recorded_sha256(store, path) {
        return Ok(recorded);
    }
    let (content, external) = content_sha256(path, cancel)?;
    let stamps = external.iter().map(|f| Ok((f.clone(), stamp(f)?))).collect::<Result<Vec<_>>>()?;
    let record = Recorded { sha256: content.clone(), external: stamps };
    let json = serde_json::to_vec(&record).map_err(|e| Error::Inference(e.to_string()))?;
    write_atomically(&stamp_file(store, path)?, &json)?;
    Ok(content)
}

/// The SHA-256 over a graph and its external-data files (each file's name,
/// then its bytes), and those files.
pub(crate) fn content_sha256(path: &Path, cancel: Option<CancelCheck>) -> Result<(String, Vec<PathBuf>)> {
    let external = crate::onnx_files::external_data_files(path)?;
    let mut hasher = Sha256::new();
    hash_into(&mut hasher, path, cancel)?;
    for file in &external {
        hasher.update(file.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        hasher.update([0]);
        hash_into(&mut hasher, file, cancel)?;
    }
    Ok((hex(&hasher.finalize()), external))
}

/// The stamp index's hash for `path`, without hashing: None if not recorded
/// or if an external-data file's stamp changed since.
fn recorded_sha256(store: &Path, path: &Path) -> Option<String> {
    let text = fs::read(stamp_file(store, path).ok()?).ok()?;
    let recorded: Recorded = serde_json::from_slice(&text).ok()?;
    let unchanged = recorded.external.iter().all(|(file, was)| stamp(file).is_ok_and(|now| now == *was));
    Some(recorded.sha256).filter(|r| unchanged && r.len() == 64)
}

/// The copy name `source` loads now. Hashes the source (cancellably, once per
/// stamp) where its content hash is not recorded, so `stale` always means the
/// content changed, never only that it was not looked at. Where the store
/// cannot record it (unwritable, or not the server's own), the hash is kept
/// in this process instead, so repeated listings do not hash again. Needs the
/// runtime loaded.
pub fn current_copy_name(store: &Path, source: &TowerSource, cancel: Option<CancelCheck>) -> Result<String> {
    let recordable = owned_privately(store).is_ok() || !store.exists();
    if recordable {
        let _ = fs::create_dir_all(store.join(STAMPS_DIR));
        match source_sha256(store, source.path, cancel) {
            Ok(content) => return Ok(name_for(source, &content)),
            Err(Error::Io { .. }) => {} // unwritable: hash without recording
            Err(e) => return Err(e),
        }
    }
    thread_local! {
        static HASHED: std::cell::RefCell<std::collections::HashMap<String, String>> = Default::default();
    }
    let external = crate::onnx_files::external_data_files(source.path)?;
    let mut key = stamp(source.path)?;
    for file in &external {
        key.push('\0');
        key.push_str(&stamp(file)?);
    }
    if let Some(content) = HASHED.with(|h| h.borrow().get(&key).cloned()) {
        return Ok(name_for(source, &content));
    }
    let (content, _) = content_sha256(source.path, cancel)?;
    HASHED.with(|h| h.borrow_mut().insert(key, content.clone()));
    Ok(name_for(source, &content))
}

/// Writes a copy into a temporary folder and renames it into place; returns
/// the manifest of the copy now in place (the winner's, if another backend
/// renamed its copy first).
fn prepare(
    runtime: &Runtime,
    store: &Path,
    name: &str,
    content: &str,
    source: &TowerSource,
    cancel: Option<CancelCheck>,
    log: &mut dyn FnMut(String),
) -> Result<Manifest> {
    remove_abandoned(store);
    // This backend's own abandoned writer may still be writing into the same temporary folder.
    wait_for_abandoned_workers(cancel)?;
    let temp = store.join(format!(".{name}{TEMP_MARK}{}", std::process::id()));
    let _ = remove_dir(&temp);
    fs::create_dir(&temp).map_err(|e| Error::Io { path: temp.clone(), source: e })?;
    let result = write_copy(runtime, &temp, content, source, cancel, log);
    let result = result.and_then(|manifest| match fs::rename(&temp, store.join(name)) {
        Ok(()) => Ok(manifest),
        // Another backend renamed its copy first: use that one, checked like any other.
        Err(_) if store.join(name).join(MANIFEST_FILE).exists() => {
            verify(&store.join(name), cancel)?.map_err(Error::Inference)
        }
        Err(e) => Err(Error::Io { path: store.join(name), source: e }),
    });
    let _ = remove_dir(&temp); // gone after a rename; else never leave it behind
    result
}

fn write_copy(
    runtime: &Runtime,
    temp: &Path,
    content: &str,
    source: &TowerSource,
    cancel: Option<CancelCheck>,
    log: &mut dyn FnMut(String),
) -> Result<Manifest> {
    let started = Instant::now();
    let graph = temp.join(GRAPH_FILE);
    let mut text_length = None;
    if source.trim_text && source.kind == TowerKind::Textual {
        match write_rewritten_text(runtime, &graph, source, cancel)? {
            Ok(length) => text_length = length,
            Err(why) => {
                // Informational: the vectors are the reference's, only slower.
                log(format!(
                    "clip_embed: text tower \"{}\" keeps its fixed length (every caption runs all positions): {why}",
                    source.path.display()
                ));
                clear_folder(temp)?;
            }
        }
    }
    if text_length.is_none() {
        // The session only writes the copy; one thread is enough. A graph that is
        // not a tower of its kind gets no copy, and the error loading it gives.
        let session = create_session(runtime, source.path, 1, Some(&graph), cancel)?;
        bind_session(&session, source.path, source.kind, source.bind)?;
        drop(session);
    }
    // ORT's load cancel is polled at a few points only: a cancel that came while
    // it finished is still a cancel, and the copy is dropped.
    if crate::cancel::requested(cancel) {
        return Err(Error::Cancelled);
    }
    let mut files = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(temp)
        .map_err(|e| Error::Io { path: temp.to_path_buf(), source: e })?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let file = fs::File::open(&path).map_err(|e| Error::Io { path: path.clone(), source: e })?;
        abandonable(cancel, move || file.sync_all())?.map_err(|e| Error::Io { path: path.clone(), source: e })?;
        let mut check = check_of(&path)?;
        if check.sampled {
            // 0.4-1.3 s for a ViT-B/16 visual copy's 686 MB, once, where preparing takes ~3 s.
            check.full_sha256 = hash_file(&path, cancel)?;
        }
        files.push(check);
    }
    if !files.iter().any(|f| f.name == GRAPH_FILE) {
        return Err(Error::Inference(format!("ONNX Runtime wrote no \"{GRAPH_FILE}\"")));
    }
    let manifest = Manifest {
        recipe: PREPARE_RECIPE.into(),
        model: source.model.into(),
        tower: tower_name(source.kind).into(),
        source: fs::canonicalize(source.path).unwrap_or_else(|_| source.path.to_path_buf()),
        source_sha256: content.into(),
        onnxruntime: ort::info().into(),
        cpu: cpu_features(),
        created_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        prepare_ms: started.elapsed().as_secs_f64() * 1e3,
        text_length,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Inference(e.to_string()))?;
    // The files were hashed whole just now: their identities (kept by the rename) are verified.
    let identities = identities(temp, &manifest).map_err(|e| Error::Io { path: temp.to_path_buf(), source: e })?;
    record_verified(temp, &identities)?;
    write_atomically(&temp.join(MANIFEST_FILE), &json)?;
    Ok(manifest)
}

/// The token ids of "a photo of a cat" in CLIP's vocabulary: the probe that
/// checks a rewritten text graph against its original.
const PROBE_IDS: [i64; 7] = [49406, 320, 1125, 539, 320, 2368, 49407];

/// The least cosine between the rewritten and the original text graph on the
/// probe, at the probe's length and at the full length; the parity suite asks
/// the same of every caption.
const REWRITE_MIN_COSINE: f64 = 0.99999;

/// Writes the copy of a text tower rewritten to follow its input's length, and
/// checks it against the original. Outer error: the original graph itself
/// failed (the query's error). Inner: why the rewrite is not used (the copy is
/// then written from the original). `Ok(Ok(None))`: nothing to rewrite.
fn write_rewritten_text(
    runtime: &Runtime,
    graph: &Path,
    source: &TowerSource,
    cancel: Option<CancelCheck>,
) -> Result<std::result::Result<Option<usize>, String>> {
    let session = create_session(runtime, source.path, 1, None, cancel)?;
    let mut original = Tower::from_session(session, source.path, source.kind, source.bind, 1, Duration::ZERO)?;
    let Some(length) = original.context_length() else { return Ok(Ok(None)) };
    if length < PROBE_IDS.len() {
        return Ok(Err(format!("its length {length} is shorter than the probe caption")));
    }
    // Reading and rewriting 254 MB (a ViT-B/16 text tower) cannot poll a cancel.
    let (path, ids) = (source.path.to_path_buf(), original.ids_input().0.to_string());
    let rewrite = abandonable(cancel, move || {
        let bytes = fs::read(&path).map_err(|e| io_error("model file", &path, e))?;
        Ok::<_, Error>(rewrite_sequence_length(&bytes, &ids))
    })??;
    let rewritten = match rewrite {
        Ok(Some(rewritten)) if rewritten.fixed_length == length => rewritten,
        Ok(Some(rewritten)) => {
            return Ok(Err(format!("the graph says length {}, ONNX Runtime {length}", rewritten.fixed_length)))
        }
        Ok(None) => return Ok(Ok(None)),
        Err(why) => return Ok(Err(why)),
    };
    let checked = (|| -> Result<std::result::Result<(), String>> {
        let model: std::sync::Arc<[u8]> = rewritten.model.into();
        drop(create_session_from_bytes(runtime, model, source.path, Some(graph), cancel)?);
        let mut copy = Tower::load(runtime, graph, source.kind, source.bind, 1, cancel)?;
        copy.trimmed_context = Some(length);
        let mut probe = PROBE_IDS.to_vec();
        probe.resize(length, 0);
        let expected = original.embed_ids(&probe, PROBE_IDS.len(), cancel)?;
        for real in [PROBE_IDS.len(), length] {
            let found = copy.embed_ids(&probe, real, cancel)?;
            let cosine = cosine_similarity(&expected, &found)?;
            if cosine.is_nan() || cosine < REWRITE_MIN_COSINE {
                return Ok(Err(format!(
                    "the rewritten graph gives cosine {cosine:.8} to the original at length {real}"
                )));
            }
        }
        Ok(Ok(()))
    })();
    match checked {
        Ok(Ok(())) => Ok(Ok(Some(length))),
        Ok(Err(why)) => Ok(Err(why)),
        Err(Error::Cancelled) => Err(Error::Cancelled),
        Err(e) => Ok(Err(format!("the rewritten graph failed: {e}"))),
    }
}

/// Removes every file of a folder (a rewrite's leftovers before the plain copy).
fn clear_folder(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::Io { path: dir.to_path_buf(), source: e })? {
        let path = entry.map_err(|e| Error::Io { path: dir.to_path_buf(), source: e })?.path();
        fs::remove_file(&path).map_err(|e| Error::Io { path, source: e })?;
    }
    Ok(())
}

/// Checks a copy's files against its manifest. The sampled checksums (5.2 MB
/// of the 686 MB a ViT-B/16 visual copy holds) run on every load; the full
/// checksums whenever a file's identity (inode, size, mtime) differs from the
/// one recorded in `verified.json` when they last matched, i.e. once per copy
/// after it is written (the writer records it) and again after any write to
/// it. A damaged byte between samples (605 KB of zeros in a constant that is
/// not prepacked gave cosine 0.91, unnoticed, before this) therefore never
/// loads: writing it changes the file's mtime. Outer error: cancelled.
fn verify(dir: &Path, cancel: Option<CancelCheck>) -> Result<std::result::Result<Manifest, String>> {
    let manifest = match read_manifest(dir) {
        Ok(manifest) => manifest,
        Err(why) => return Ok(Err(why)),
    };
    if manifest.recipe != PREPARE_RECIPE {
        return Ok(Err(format!("written by recipe \"{}\"", manifest.recipe)));
    }
    if manifest.files.is_empty() || !manifest.files.iter().any(|f| f.name == GRAPH_FILE) {
        return Ok(Err("the manifest lists no graph".into()));
    }
    let identities = match identities(dir, &manifest) {
        Ok(identities) => identities,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let verified = fs::read(dir.join(VERIFIED_FILE)).ok().and_then(|t| serde_json::from_slice::<Vec<String>>(&t).ok());
    let full = verified.as_ref() != Some(&identities);
    for expected in &manifest.files {
        let path = dir.join(&expected.name);
        let found = match check_of(&path) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if found.bytes != expected.bytes {
            return Ok(Err(format!(
                "\"{}\" has {} bytes, the manifest says {}",
                expected.name, found.bytes, expected.bytes
            )));
        }
        // A file up to FULL_HASH_BYTES was hashed whole just now: only sampled ones need the full pass.
        let full_pass = full && expected.sampled;
        if found.sha256 != expected.sha256 || (full_pass && hash_file(&path, cancel)? != expected.full_sha256) {
            return Ok(Err(format!("\"{}\" does not match its checksum", expected.name)));
        }
    }
    if full {
        // Not recorded (a read-only store): the full check runs again next time.
        let _ = record_verified(dir, &identities);
    }
    Ok(Ok(manifest))
}

/// Each manifest file's identity: name, inode, size and mtime (ns).
fn identities(dir: &Path, manifest: &Manifest) -> std::io::Result<Vec<String>> {
    manifest
        .files
        .iter()
        .map(|f| {
            let meta = fs::metadata(dir.join(&f.name))?;
            Ok(format!("{}\0{}\0{}\0{}.{}", f.name, meta.ino(), meta.len(), meta.mtime(), meta.mtime_nsec()))
        })
        .collect()
}

fn record_verified(dir: &Path, identities: &[String]) -> Result<()> {
    let json = serde_json::to_vec(identities).map_err(|e| Error::Inference(e.to_string()))?;
    write_atomically(&dir.join(VERIFIED_FILE), &json)
}

fn read_manifest(dir: &Path) -> std::result::Result<Manifest, String> {
    let text = fs::read(dir.join(MANIFEST_FILE)).map_err(|e| format!("no readable manifest: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("unreadable manifest: {e}"))
}

/// Size and checksum of one file: whole up to [`FULL_HASH_BYTES`], else sampled.
fn check_of(path: &Path) -> Result<FileCheck> {
    let io = |e| Error::Io { path: path.to_path_buf(), source: e };
    let mut file = fs::File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    if bytes <= FULL_HASH_BYTES {
        let sha256 = hash_file(path, None)?;
        return Ok(FileCheck { name, bytes, full_sha256: sha256.clone(), sha256, sampled: false });
    }
    let mut hasher = Sha256::new();
    hasher.update(bytes.to_le_bytes());
    let mut buffer = vec![0u8; SAMPLE_BYTES as usize];
    let offsets = (0..bytes).step_by(SAMPLE_STRIDE as usize).chain([bytes - SAMPLE_BYTES]);
    for offset in offsets {
        let len = SAMPLE_BYTES.min(bytes - offset) as usize;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        file.read_exact(&mut buffer[..len]).map_err(io)?;
        hasher.update(&buffer[..len]);
    }
    Ok(FileCheck { name, bytes, sha256: hex(&hasher.finalize()), sampled: true, full_sha256: String::new() })
}

/// SHA-256 of a whole file, polling `cancel` every MiB.
fn hash_file(path: &Path, cancel: Option<CancelCheck>) -> Result<String> {
    let mut hasher = Sha256::new();
    hash_into(&mut hasher, path, cancel)?;
    Ok(hex(&hasher.finalize()))
}

/// Feeds a whole file to `hasher` (also the model fingerprint's loop), polling
/// `cancel` after every MiB read: about 2 ms of hashing, or one disk read of a
/// cold file, so a cancel is seen within milliseconds (a fresh backend's
/// `clip_models()` hashes every model file, 600 MB for one ViT-B/16).
pub(crate) fn hash_into(hasher: &mut Sha256, path: &Path, cancel: Option<CancelCheck>) -> Result<()> {
    let mut file = fs::File::open(path).map_err(|e| io_error("model file", path, e))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        if crate::cancel::requested(cancel) {
            return Err(Error::Cancelled);
        }
        let n = file.read(&mut buffer).map_err(|e| io_error("model file", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(())
}

/// Writes `bytes` to a temporary name beside `path`, then renames it. The
/// name is the process's and a per-process count, so two writers never share one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let temp = path.with_file_name(format!(
        ".{}{TEMP_MARK}{}.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let io = |e| Error::Io { path: path.to_path_buf(), source: e };
    let mut file = fs::File::create(&temp).map_err(io)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written.and_then(|()| fs::rename(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(io(e));
    }
    Ok(())
}

/// Removes temporary folders whose writing process no longer runs (a backend
/// killed while preparing; a cancelled one removes its own).
fn remove_abandoned(store: &Path) {
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

fn remove_dir(dir: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The CPU's vector extensions that kernels and prepacked layouts depend on,
/// from `/proc/cpuinfo` (x86 `flags`, Arm `Features`): a copy prepared on a
/// machine with AVX-512 must not load on one without.
pub fn cpu_features() -> String {
    static FEATURES: once_cell::sync::OnceCell<String> = once_cell::sync::OnceCell::new();
    FEATURES
        .get_or_init(|| {
            let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
            let line = info
                .lines()
                .find(|l| l.starts_with("flags") || l.starts_with("Features"))
                .and_then(|l| l.split_once(':'))
                .map_or("", |(_, v)| v);
            const RELEVANT: &[&str] =
                &["sse", "ssse3", "avx", "fma", "f16c", "amx", "asimd", "sve", "i8mm", "bf16", "dotprod", "fp16"];
            let mut flags: Vec<&str> =
                line.split_whitespace().filter(|f| RELEVANT.iter().any(|r| f.starts_with(r))).collect();
            flags.sort_unstable();
            flags.dedup();
            format!("{} {}", std::env::consts::ARCH, flags.join(","))
        })
        .clone()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clip_embed_prepared_{tag}_{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn checks_catch_truncation_and_changed_bytes_in_large_files() {
        let dir = temp_dir("checks");
        let path = dir.join("model.onnx.data");
        let data: Vec<u8> = (0..(40u32 << 20)).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        let check = check_of(&path).unwrap();
        assert!(check.sampled);
        // A changed byte inside a sample, and a truncation, are caught.
        let mut changed = data.clone();
        changed[(16 << 20) + 10] ^= 1;
        fs::write(&path, &changed).unwrap();
        assert_ne!(check_of(&path).unwrap().sha256, check.sha256);
        fs::write(&path, &data[..data.len() - 1]).unwrap();
        assert_ne!(check_of(&path).unwrap().bytes, check.bytes);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stamps_record_the_content_hash_once_and_follow_changes() {
        let store = temp_dir("stamps");
        fs::create_dir_all(store.join(STAMPS_DIR)).unwrap();
        let source = store.join("textual.onnx");
        // Protobuf bytes (ir_version 1, then 2): the key parses the graph for external data.
        fs::write(&source, b"\x08\x01").unwrap();
        let first = source_sha256(&store, &source, None).unwrap();
        assert_eq!(first, hex(&Sha256::digest(b"\x08\x01")));
        assert_eq!(recorded_sha256(&store, &source), Some(first.clone()));
        // A mode change (ctime only) is re-hashed once, to the same content: chmod makes nothing stale.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut perms = fs::metadata(&source).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o640);
        fs::set_permissions(&source, perms).unwrap();
        assert_eq!(recorded_sha256(&store, &source), None);
        assert_eq!(source_sha256(&store, &source, None).unwrap(), first);
        assert_eq!(recorded_sha256(&store, &source), Some(first.clone()));
        // New bytes of the same length: the stamp (mtime/inode) changes, so it is re-hashed.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let replacement = store.join("new.onnx");
        fs::write(&replacement, b"\x08\x02").unwrap();
        fs::rename(&replacement, &source).unwrap();
        assert_eq!(recorded_sha256(&store, &source), None);
        assert_eq!(source_sha256(&store, &source, None).unwrap(), hex(&Sha256::digest(b"\x08\x02")));
        fs::remove_dir_all(&store).unwrap();
    }

    #[test]
    fn the_content_hash_covers_external_data_files() {
        let store = temp_dir("external");
        fs::create_dir_all(store.join(STAMPS_DIR)).unwrap();
        // A graph with one initializer whose data is external, in "w.data".
        let entry = [b"\x0a\x08location".as_slice(), b"\x12\x06w.data"].concat();
        let tensor = [b"\x42\x01t\x6a".as_slice(), &[entry.len() as u8], &entry, b"\x70\x01"].concat();
        let graph = [b"\x2a".as_slice(), &[tensor.len() as u8], &tensor].concat();
        let model = [b"\x08\x08\x3a".as_slice(), &[graph.len() as u8], &graph].concat();
        let source = store.join("textual.onnx");
        fs::write(&source, &model).unwrap();
        fs::write(store.join("w.data"), [1u8; 64]).unwrap();
        let first = source_sha256(&store, &source, None).unwrap();
        assert_ne!(first, hex(&Sha256::digest(&model)), "the weights are part of the hash");
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(store.join("w.data"), [2u8; 64]).unwrap();
        assert_eq!(recorded_sha256(&store, &source), None, "a changed weights file is not the recorded content");
        assert_ne!(source_sha256(&store, &source, None).unwrap(), first);
        fs::remove_dir_all(&store).unwrap();
    }

    #[test]
    fn a_damaged_byte_between_samples_is_caught_by_the_full_check_after_a_write() {
        let dir = temp_dir("verified");
        fs::write(dir.join(GRAPH_FILE), b"graph").unwrap();
        let data: Vec<u8> = (0..(40u32 << 20)).map(|i| (i % 251) as u8).collect();
        fs::write(dir.join("model.onnx.data"), &data).unwrap();
        let files = [GRAPH_FILE, "model.onnx.data"]
            .iter()
            .map(|name| {
                let mut check = check_of(&dir.join(name)).unwrap();
                check.full_sha256 = hash_file(&dir.join(name), None).unwrap();
                check
            })
            .collect();
        let manifest = Manifest {
            recipe: PREPARE_RECIPE.into(),
            model: "m".into(),
            tower: "visual".into(),
            source: dir.join("visual.onnx"),
            source_sha256: String::new(),
            onnxruntime: String::new(),
            cpu: String::new(),
            created_unix: 0,
            prepare_ms: 0.0,
            text_length: None,
            files,
        };
        fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec(&manifest).unwrap()).unwrap();
        assert!(verify(&dir, None).unwrap().is_ok());
        assert!(dir.join(VERIFIED_FILE).exists(), "the full check is recorded");
        assert!(verify(&dir, None).unwrap().is_ok());
        // 605 KB of zeros 1 MiB past a sample: the samples match, the full checksum does not.
        let mut damaged = data.clone();
        damaged[(9 << 20)..(9 << 20) + 605_000].fill(0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.join("model.onnx.data"), &damaged).unwrap();
        assert_eq!(check_of(&dir.join("model.onnx.data")).unwrap().sha256, manifest.files[1].sha256);
        let why = verify(&dir, None).unwrap().unwrap_err();
        assert!(why.contains("does not match its checksum"), "{why}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_folders_of_dead_writers_are_abandoned() {
        assert!(writer_is_running(&format!(".m.visual.0123{TEMP_MARK}{}", std::process::id())));
        // PIDs above the kernel's pid_max (4,194,304 at most) never run.
        assert!(!writer_is_running(&format!(".m.visual.0123{TEMP_MARK}2000000000")));
        let store = temp_dir("abandoned");
        fs::create_dir_all(store.join(format!(".m.visual.0123{TEMP_MARK}2000000000"))).unwrap();
        remove_abandoned(&store);
        assert!(list(&store).unwrap().is_empty());
        assert!(remove(&store, "../etc").is_err());
        fs::remove_dir_all(&store).unwrap();
    }

    #[test]
    fn cpu_features_name_the_architecture() {
        assert!(cpu_features().starts_with(std::env::consts::ARCH));
    }
}
