//! `Registry::preload` (what the postmaster prepares before it forks): the
//! preloaded tokenizer is the one used, vectors are the lazy path's, and a
//! changed or broken model falls back to the lazy path.
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clip_embed_core::{Registry, Settings};

const TEXT: &str = "a photo of a red bicycle";

/// A model directory of its own holding a copy of `tiny-random`.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clip_embed_preload_it_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = dir.join("tiny-random");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(common::model_dir().join("tiny-random")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
    }
    dir
}

fn settings(dir: &Path) -> Settings {
    Settings::new(dir.to_path_buf(), common::onnxruntime_path())
}

/// Overwrites `file` with bytes of the same length and gives it back its
/// mtime: the stamp a preload recorded still matches, the content does not.
fn garble_keeping_stamp(file: &Path) {
    let modified = std::fs::metadata(file).unwrap().modified().unwrap();
    let length = std::fs::metadata(file).unwrap().len() as usize;
    std::fs::write(file, vec![b'x'; length]).unwrap();
    std::fs::File::options().write(true).open(file).unwrap().set_modified(modified).unwrap();
}

#[test]
fn a_preloaded_tokenizer_is_used_and_gives_the_lazy_paths_vector() {
    let dir = scratch("used");
    let settings = settings(&dir);
    let lazy = Registry::new().embed_text(&settings, "tiny-random", TEXT, true).unwrap();

    let mut registry = Registry::new();
    registry.preload(&settings, "tiny-random").unwrap();
    assert_eq!(registry.preloaded_models(), ["tiny-random"]);
    // From here on the file cannot be parsed: only the preloaded tokenizer can tokenize.
    garble_keeping_stamp(&dir.join("tiny-random/tokenizer.json"));
    assert!(registry.drop_changed_preloads().is_empty(), "same stamps: kept");
    let preloaded = registry.embed_text(&settings, "tiny-random", TEXT, true).unwrap();
    assert_eq!(preloaded, lazy, "bit-identical to the lazy path");
    let broken = Registry::new().embed_text(&settings, "tiny-random", TEXT, true);
    assert!(broken.is_err(), "without the preload the garbled file is read");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_model_whose_files_changed_is_dropped_and_read_afresh() {
    let dir = scratch("changed");
    let settings = settings(&dir);
    let mut registry = Registry::new();
    registry.preload(&settings, "tiny-random").unwrap();
    let tokenizer = dir.join("tiny-random/tokenizer.json");
    let later = SystemTime::now() + Duration::from_secs(10);
    std::fs::File::options().write(true).open(&tokenizer).unwrap().set_modified(later).unwrap();
    assert_eq!(registry.drop_changed_preloads(), ["tiny-random"]);
    assert!(registry.preloaded_models().is_empty());
    let afresh = registry.embed_text(&settings, "tiny-random", TEXT, true).unwrap();
    assert_eq!(afresh, Registry::new().embed_text(&settings, "tiny-random", TEXT, true).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_model_that_cannot_preload_leaves_nothing_behind() {
    let dir = scratch("broken");
    let settings = settings(&dir);
    std::fs::write(dir.join("tiny-random/tokenizer.json"), "{ not json").unwrap();
    let mut registry = Registry::new();
    let error = registry.preload(&settings, "tiny-random").unwrap_err();
    assert!(error.to_string().contains("invalid tokenizer file"), "{error}");
    assert!(registry.preloaded_models().is_empty());
    assert!(registry.preload(&settings, "no-such-model").is_err());
    // The lazy path gives the same error it gives without a preload.
    let lazy = Registry::new().embed_text(&settings, "tiny-random", TEXT, true).unwrap_err();
    let after = registry.embed_text(&settings, "tiny-random", TEXT, true).unwrap_err();
    assert_eq!(after.to_string(), lazy.to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}
