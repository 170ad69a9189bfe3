//! The prepared-copy key: one builder of its inputs ([`TowerSource::of`]),
//! the content hash of a source graph (recorded once per file stamp), and the
//! copy's folder name that both loading and listing compute.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files::{cpu_features, hash_into, hex, write_atomically, PREPARE_RECIPE, STAMPS_DIR};
use super::store::owned_privately;
use crate::cancel::CancelCheck;
use crate::error::{io_error, Error, Result};
use crate::layout::{BindFn, Layout};
use crate::onnx::TowerKind;

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
    /// its input ([`crate::prepared::text_length`]) and runs at the caption's length.
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

/// The copy's folder name and the source's content hash.
pub(super) fn copy_name(store: &Path, source: &TowerSource, cancel: Option<CancelCheck>) -> Result<(String, String)> {
    let content = source_sha256(store, source.path, cancel)?;
    Ok((name_for(source, &content), content))
}

/// Model, tower and the first 16 hex digits of the key over everything that
/// changes a copy's bytes. Needs the runtime loaded (`ort::info`).
pub(super) fn name_for(source: &TowerSource, content: &str) -> String {
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
/// bytes (`chmod -R a+rX`, docs/models.md's install step, changes the ctime) costs
/// one re-hash and gives the same copy, which stays `current`.
pub fn stamp(path: &Path) -> Result<String> {
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

pub(super) fn stamp_file(store: &Path, path: &Path) -> Result<PathBuf> {
    Ok(store.join(STAMPS_DIR).join(&hex(&Sha256::digest(stamp(path)?.as_bytes()))[..32]))
}

/// What the stamp index records for a graph: the content hash over the graph
/// and every external-data file it names, and those files' stamps (the
/// graph's own stamp is the index file's name).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Recorded {
    sha256: String,
    external: Vec<(PathBuf, String)>,
}

/// The SHA-256 over `path`'s bytes and those of every external-data file it
/// names ([`crate::onnx::external_data`]), from the stamp index when no stamp changed,
/// else hashed once (cancellably) and recorded.
pub(super) fn source_sha256(store: &Path, path: &Path, cancel: Option<CancelCheck>) -> Result<String> {
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
pub fn content_sha256(path: &Path, cancel: Option<CancelCheck>) -> Result<(String, Vec<PathBuf>)> {
    let external = crate::onnx::external_data::external_data_files(path)?;
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
pub(super) fn recorded_sha256(store: &Path, path: &Path) -> Option<String> {
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
    let external = crate::onnx::external_data::external_data_files(source.path)?;
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
