//! Loading through the store: a sound copy, else a copy prepared now, else
//! the original graph with a warning, each loaded by the caller's loader.

use std::cell::Cell;
use std::fs;
use std::path::Path;

use super::files::{GRAPH_FILE, STAMPS_DIR};
use super::key::{copy_name, TowerSource};
use super::manifest::verify;
use super::store::{owned_privately, remove_dir, PrepareLock, PREPARE_WAIT};
use super::write::prepare;
use crate::cancel::CancelCheck;
use crate::error::{io_error, Error, Result};
use crate::onnx::Runtime;
use crate::worker::HeldByWorkers;

/// How a tower was loaded, for `clip_models()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// From the model's own graph (preparing is off, or failed with a warning).
    Original,
    /// From a prepared copy (written by this call or earlier).
    Prepared(String),
}

/// A graph for the registry's loader to load: the model's own, or a prepared copy.
pub struct Graph<'a> {
    pub path: &'a Path,
    /// A text graph rewritten to follow its input's length: the fixed length
    /// it had, which the tower takes as its context. None otherwise.
    pub text_length: Option<usize>,
}

/// Loads a tower through the store with `load` (the registry's one loader):
/// the prepared copy if there is a sound one, else prepares one and loads it,
/// else (with a warning) the original graph. Returns the tower and where it
/// came from.
pub fn load_through_store<T>(
    runtime: &Runtime,
    store: &Path,
    source: &TowerSource,
    cancel: Option<CancelCheck>,
    warn: &mut dyn FnMut(String),
    log: &mut dyn FnMut(String),
    load: &dyn Fn(&Graph) -> Result<T>,
) -> Result<(T, Origin)> {
    // A missing or unreadable source is the query's error, as without a store.
    fs::File::open(source.path).map_err(|e| io_error("model file", source.path, e))?;
    let original = || load(&Graph { path: source.path, text_length: None });
    let fallback = |why: String, warn: &mut dyn FnMut(String)| {
        warn(format!("clip_embed: loading \"{}\" without a prepared copy: {why}", source.path.display()));
        Ok((original()?, Origin::Original))
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
    let damage_reported = Cell::new(false);
    let first_check = &mut |message: String| {
        damage_reported.set(true);
        warn(message)
    };
    if let Some(loaded) = load_sound_copy(&dir, cancel, first_check, load)? {
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
    if let Some(loaded) = load_sound_copy(&dir, cancel, second_check, load)? {
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
            let tower = original()?;
            warn(format!("clip_embed: loading \"{}\" without a prepared copy: {e}", source.path.display()));
            return Ok((tower, Origin::Original));
        }
        Err(e) => return fallback(format!("could not prepare a copy: {e}"), warn),
    };
    match load(&Graph { path: &dir.join(GRAPH_FILE), text_length: manifest.text_length }) {
        Ok(tower) => Ok((tower, Origin::Prepared(name))),
        Err(Error::Cancelled) => Err(Error::Cancelled),
        Err(e) => fallback(format!("the copy just prepared did not load: {e}"), warn),
    }
}

/// The tower from the copy in `dir` if there is one that checks out and
/// loads; None (with a warning where a copy was there but unsound) otherwise.
fn load_sound_copy<T>(
    dir: &Path,
    cancel: Option<CancelCheck>,
    warn: &mut dyn FnMut(String),
    load: &dyn Fn(&Graph) -> Result<T>,
) -> Result<Option<(T, Origin)>> {
    if !dir.exists() {
        return Ok(None);
    }
    let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
    match verify(dir, cancel)? {
        Ok(manifest) => match load(&Graph { path: &dir.join(GRAPH_FILE), text_length: manifest.text_length }) {
            Ok(tower) => return Ok(Some((tower, Origin::Prepared(name)))),
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => warn(format!("clip_embed: prepared copy \"{name}\" did not load ({e}); rebuilding it")),
        },
        Err(why) => warn(format!("clip_embed: prepared copy \"{name}\" is damaged ({why}); rebuilding it")),
    }
    Ok(None)
}
