//! File helpers of the store: hashing (whole, cancellably), atomic writes,
//! and the CPU features a copy's layout depends on.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::cancel::CancelCheck;
use crate::error::{io_error, Error, Result};

/// What preparing does, as a string in every key: changing how copies are
/// written (optimisation level, external-data threshold) must change this.
pub const PREPARE_RECIPE: &str = "clip_embed-prepared-3;level2;external>=1024;prepacked;text-length-1;full-sha256";

/// The prepared graph's file name in a copy's folder (weights in `model.onnx.data`).
pub(super) const GRAPH_FILE: &str = "model.onnx";

/// The manifest, written last: a folder without one is not a copy.
pub(super) const MANIFEST_FILE: &str = "manifest.json";

/// The identities (inode, size, mtime) of a copy's files when their full
/// checksums last matched: see [`verify`].
pub(super) const VERIFIED_FILE: &str = "verified.json";

/// Cheap stamps of source files to their content hashes.
pub(super) const STAMPS_DIR: &str = "stamps";

/// Marks a folder being written: `.<copy>.tmp-<pid>`.
pub(super) const TEMP_MARK: &str = ".tmp-";

/// Files up to this size are hashed whole when checked before a load.
pub(super) const FULL_HASH_BYTES: u64 = 16 << 20;

/// Larger files are hashed in samples of this size...
pub(super) const SAMPLE_BYTES: u64 = 64 << 10;

/// ...one every this many bytes, plus the last.
pub(super) const SAMPLE_STRIDE: u64 = 8 << 20;

/// SHA-256 of a whole file, polling `cancel` every MiB.
pub(super) fn hash_file(path: &Path, cancel: Option<CancelCheck>) -> Result<String> {
    let mut hasher = Sha256::new();
    hash_into(&mut hasher, path, cancel)?;
    Ok(hex(&hasher.finalize()))
}

/// Feeds a whole file to `hasher` (also the model fingerprint's loop), polling
/// `cancel` after every MiB read: about 2 ms of hashing, or one disk read of a
/// cold file, so a cancel is seen within milliseconds (a fresh backend's
/// `clip_models()` hashes every model file, 600 MB for one ViT-B/16).
pub fn hash_into(hasher: &mut Sha256, path: &Path, cancel: Option<CancelCheck>) -> Result<()> {
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
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
