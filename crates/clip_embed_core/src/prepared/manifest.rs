//! A copy's manifest and the check of its files against it before a load.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files::{
    hash_file, hex, write_atomically, FULL_HASH_BYTES, GRAPH_FILE, MANIFEST_FILE, PREPARE_RECIPE, SAMPLE_BYTES,
    SAMPLE_STRIDE, VERIFIED_FILE,
};
use crate::cancel::CancelCheck;
use crate::error::{Error, Result};

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

/// Checks a copy's files against its manifest. The sampled checksums (5.2 MB
/// of the 686 MB a ViT-B/16 visual copy holds) run on every load; the full
/// checksums whenever a file's identity (inode, size, mtime) differs from the
/// one recorded in `verified.json` when they last matched, i.e. once per copy
/// after it is written (the writer records it) and again after any write to
/// it. A damaged byte between samples (605 KB of zeros in a constant that is
/// not prepacked gave cosine 0.91, unnoticed, before this) therefore never
/// loads: writing it changes the file's mtime. Outer error: cancelled.
pub(super) fn verify(dir: &Path, cancel: Option<CancelCheck>) -> Result<std::result::Result<Manifest, String>> {
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
pub(super) fn identities(dir: &Path, manifest: &Manifest) -> std::io::Result<Vec<String>> {
    manifest
        .files
        .iter()
        .map(|f| {
            let meta = fs::metadata(dir.join(&f.name))?;
            Ok(format!("{}\0{}\0{}\0{}.{}", f.name, meta.ino(), meta.len(), meta.mtime(), meta.mtime_nsec()))
        })
        .collect()
}

pub(super) fn record_verified(dir: &Path, identities: &[String]) -> Result<()> {
    let json = serde_json::to_vec(identities).map_err(|e| Error::Inference(e.to_string()))?;
    write_atomically(&dir.join(VERIFIED_FILE), &json)
}

pub(super) fn read_manifest(dir: &Path) -> std::result::Result<Manifest, String> {
    let text = fs::read(dir.join(MANIFEST_FILE)).map_err(|e| format!("no readable manifest: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("unreadable manifest: {e}"))
}

/// Size and checksum of one file: whole up to [`FULL_HASH_BYTES`], else sampled.
pub(super) fn check_of(path: &Path) -> Result<FileCheck> {
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
