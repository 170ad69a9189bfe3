//! Writing a copy: ONNX Runtime's optimised graph with its weights beside it,
//! or for a causal text tower the graph rewritten to follow its input's
//! length (checked against the original on a probe), into a temporary folder
//! renamed into place.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::files::{cpu_features, hash_file, write_atomically, GRAPH_FILE, MANIFEST_FILE, PREPARE_RECIPE, TEMP_MARK};
use super::key::{tower_name, TowerSource};
use super::manifest::{check_of, identities, record_verified, verify, Manifest};
use super::store::{remove_abandoned, remove_dir};
use super::text_length::rewrite_sequence_length;
use crate::cancel::CancelCheck;
use crate::error::{io_error, Error, Result};
use crate::math::cosine_similarity;
use crate::onnx::{bind_session, create_session, create_session_from_bytes, Runtime, Tower, TowerKind};
use crate::worker::{abandonable, wait_for_abandoned_workers};

/// Writes a copy into a temporary folder and renames it into place; returns
/// the manifest of the copy now in place (the winner's, if another backend
/// renamed its copy first).
pub(super) fn prepare(
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

pub(super) fn write_copy(
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
        let session = create_session(runtime, source.path, 1, false, Some(&graph), cancel)?;
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
pub(super) const PROBE_IDS: [i64; 7] = [49406, 320, 1125, 539, 320, 2368, 49407];

/// The least cosine between the rewritten and the original text graph on the
/// probe, at the probe's length and at the full length; the parity suite asks
/// the same of every caption.
pub(super) const REWRITE_MIN_COSINE: f64 = 0.99999;

/// Writes the copy of a text tower rewritten to follow its input's length, and
/// checks it against the original. Outer error: the original graph itself
/// failed (the query's error). Inner: why the rewrite is not used (the copy is
/// then written from the original). `Ok(Ok(None))`: nothing to rewrite.
pub(super) fn write_rewritten_text(
    runtime: &Runtime,
    graph: &Path,
    source: &TowerSource,
    cancel: Option<CancelCheck>,
) -> Result<std::result::Result<Option<usize>, String>> {
    let session = create_session(runtime, source.path, 1, false, None, cancel)?;
    let mut original = Tower::from_session(session, source.path, source.kind, source.bind, 1, false, Duration::ZERO)?;
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
        // A probe, not a load: the registry loads the copy when it is used.
        let session = create_session(runtime, graph, 1, false, None, cancel)?;
        let mut copy = Tower::from_session(session, graph, source.kind, source.bind, 1, false, Duration::ZERO)?;
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
pub(super) fn clear_folder(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::Io { path: dir.to_path_buf(), source: e })? {
        let path = entry.map_err(|e| Error::Io { path: dir.to_path_buf(), source: e })?.path();
        fs::remove_file(&path).map_err(|e| Error::Io { path, source: e })?;
    }
    Ok(())
}
