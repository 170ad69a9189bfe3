//! Shared helpers: where `scripts/setup.sh` installed ONNX Runtime and the models.
#![allow(dead_code)]

use std::path::PathBuf;

use clip_embed_core::Settings;

/// The model directory with `tiny-random` and `tokenizer.json` (set-up's install
/// location unless CLIP_EMBED_MODEL_DIR says otherwise).
pub fn model_dir() -> PathBuf {
    let dir = std::env::var("CLIP_EMBED_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/share/postgresql/15/clip_embed/models"));
    assert!(
        dir.join("tokenizer.json").exists(),
        "no models at {}: run scripts/setup.sh (or set CLIP_EMBED_MODEL_DIR)",
        dir.display()
    );
    dir
}

pub fn onnxruntime_path() -> PathBuf {
    std::env::var("CLIP_EMBED_ONNXRUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/lib/postgresql/15/lib/clip_embed/libonnxruntime.so"))
}

pub fn settings() -> Settings {
    Settings::new(model_dir(), onnxruntime_path())
}

pub fn data(name: &str) -> Vec<u8> {
    // cargo test sets CARGO_MANIFEST_DIR at run time too; prefer it, so a test binary that a
    // checkout elsewhere compiled into a shared target dir still reads this checkout's files.
    let root = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let path = PathBuf::from(root).join("tests/data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
