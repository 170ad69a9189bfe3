//! Prepared copies end to end on the generated models: written once, shared,
//! checked before loading, rebuilt when damaged, never partial, and a warning
//! (not an error) when the store cannot be written.
mod common;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use clip_embed_core::{ErrorKind, Registry, Settings};

thread_local! {
    static WARNINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn collect_warning(message: &str) {
    WARNINGS.with(|w| w.borrow_mut().push(message.to_string()));
}

fn take_warnings() -> Vec<String> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clip_embed_prepared_it_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn with_store(store: &Path) -> Settings {
    Settings { prepared_dir: Some(store.to_path_buf()), warn: Some(collect_warning), ..common::settings() }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn embed_both(settings: &Settings, model: &str) -> (Vec<f32>, Vec<f32>) {
    let mut registry = Registry::new();
    let text = registry.embed_text(settings, model, "a photo of a cat", true).unwrap();
    let image = registry.embed_image(settings, model, &common::data("portrait.jpg"), true).unwrap();
    (text, image)
}

/// The copy folders of the store with their states.
fn states(settings: &Settings) -> Vec<(String, String)> {
    let rows = Registry::new().list_prepared(settings).unwrap();
    rows.into_iter().map(|r| (r.copy, r.state.to_string())).collect()
}

#[test]
fn a_copy_is_prepared_once_and_gives_the_original_vectors() {
    let store = scratch("once");
    let settings = with_store(&store);
    let (original_text, original_image) = embed_both(&common::settings(), "tiny-random");

    let mut first = Registry::new();
    let text = first.embed_text(&settings, "tiny-random", "a photo of a cat", true).unwrap();
    let image = first.embed_image(&settings, "tiny-random", &common::data("portrait.jpg"), true).unwrap();
    assert!(take_warnings().is_empty());
    let rows = first.list_prepared(&settings).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row.state, "current", "{row:?}");
        assert!(row.loaded_here, "{row:?}");
        assert!(row.bytes > 0 && row.prepare_ms.is_some(), "{row:?}");
        assert_eq!(row.model.as_deref(), Some("tiny-random"));
        // Weights outside the graph, so that sessions map them.
        assert!(row.path.join("model.onnx.data").exists(), "{row:?}");
    }
    let written: Vec<_> =
        rows.iter().map(|r| std::fs::metadata(r.path.join("manifest.json")).unwrap().modified().unwrap()).collect();

    // A second backend loads the same copies, rewrites nothing, and gets the same bits.
    let (again_text, again_image) = embed_both(&settings, "tiny-random");
    assert_eq!((&again_text, &again_image), (&text, &image));
    let rows = Registry::new().list_prepared(&settings).unwrap();
    let rewritten: Vec<_> =
        rows.iter().map(|r| std::fs::metadata(r.path.join("manifest.json")).unwrap().modified().unwrap()).collect();
    assert_eq!(written, rewritten);
    // The optimised graph computes what the original does (fusions reorder float sums).
    assert!(cosine(&text, &original_text) > 0.99999);
    assert!(cosine(&image, &original_image) > 0.99999);
    assert!(take_warnings().is_empty());
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn a_damaged_copy_is_detected_and_rebuilt_never_loaded() {
    let store = scratch("damaged");
    let settings = with_store(&store);
    let (text, _) = embed_both(&settings, "tiny-random");
    let rows = Registry::new().list_prepared(&settings).unwrap();
    let textual = rows.iter().find(|r| r.tower.as_deref() == Some("textual")).unwrap().path.clone();

    // Truncated weights.
    let data = textual.join("model.onnx.data");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
    let rebuilt = Registry::new().embed_text(&settings, "tiny-random", "a photo of a cat", true).unwrap();
    let warnings = take_warnings();
    assert!(warnings.iter().any(|w| w.contains("is damaged") && w.contains("bytes")), "{warnings:?}");
    assert_eq!(rebuilt, text);
    assert_eq!(std::fs::read(&data).unwrap(), bytes, "rebuilt whole");

    // Same length, changed bytes in the graph.
    let graph = textual.join("model.onnx");
    let mut changed = std::fs::read(&graph).unwrap();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x55;
    std::fs::write(&graph, &changed).unwrap();
    let rebuilt = Registry::new().embed_text(&settings, "tiny-random", "a photo of a cat", true).unwrap();
    let warnings = take_warnings();
    assert!(warnings.iter().any(|w| w.contains("checksum")), "{warnings:?}");
    assert_eq!(rebuilt, text);

    // A folder without its manifest is not a copy.
    std::fs::remove_file(textual.join("manifest.json")).unwrap();
    Registry::new().embed_text(&settings, "tiny-random", "a photo of a cat", true).unwrap();
    assert!(take_warnings().iter().any(|w| w.contains("no readable manifest")));
    assert!(states(&settings).iter().all(|(_, state)| state == "current"));
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn an_unwritable_store_warns_and_loads_the_original() {
    let scratch = scratch("unwritable");
    let blocker = scratch.join("a-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let settings = with_store(&blocker.join("store"));
    let (text, image) = embed_both(&settings, "tiny-random");
    let warnings = take_warnings();
    assert_eq!(warnings.len(), 2, "one per tower: {warnings:?}");
    assert!(warnings[0].contains("without a prepared copy") && warnings[0].contains("cannot create"), "{warnings:?}");
    let (original_text, original_image) = embed_both(&common::settings(), "tiny-random");
    assert_eq!((text, image), (original_text, original_image));
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn a_cancel_while_preparing_leaves_no_partial_copy() {
    let store = scratch("cancel");
    // The sources' content hashes recorded first, so the cancel lands in preparing, not in hashing.
    assert!(states(&with_store(&store)).is_empty());
    let settings = Settings { cancel: Some(|| true), ..with_store(&store) };
    let error = Registry::new().embed_text(&settings, "tiny-random", "a photo of a cat", true).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled, "{error}");
    assert!(states(&with_store(&store)).is_empty(), "nothing but the stamp index is left");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn changed_model_files_get_a_new_copy_and_old_ones_can_be_removed() {
    let scratch = scratch("changed");
    let models = scratch.join("models");
    std::fs::create_dir_all(models.join("m")).unwrap();
    let installed = common::model_dir();
    std::fs::copy(installed.join("tokenizer.json"), models.join("tokenizer.json")).unwrap();
    std::fs::copy(installed.join("tiny-random/textual.onnx"), models.join("m/textual.onnx")).unwrap();
    let settings = Settings { model_dir: models.clone(), ..with_store(&scratch.join("store")) };
    let before = Registry::new().embed_text(&settings, "m", "a photo of a cat", true).unwrap();
    let first = states(&settings);
    assert_eq!(first.len(), 1);

    // Other weights under the same name (as a careless re-install would do).
    std::fs::copy(installed.join("clip-shapes/textual.onnx"), models.join("m/textual.onnx")).unwrap();
    let after = Registry::new().embed_text(&settings, "m", "a photo of a cat", true).unwrap();
    assert_ne!(before, after, "never the stale copy");
    let mut second = states(&settings);
    second.sort_by_key(|(_, state)| state.clone());
    assert_eq!(second.len(), 2);
    assert_eq!(second[0].1, "current");
    assert_eq!(second[1], (first[0].0.clone(), "stale".to_string()));

    let removed = Registry::new().remove_prepared(&settings, None).unwrap();
    assert_eq!(removed.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(), vec![first[0].0.clone()]);
    assert!(removed[0].1 > 0);
    assert_eq!(states(&settings), vec![second[0].clone()]);
    let missing = Registry::new().remove_prepared(&settings, Some("no-such-copy")).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::InvalidArgument);
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn fixed_length_text_graphs_are_rewritten_to_run_at_the_caption_length() {
    // tiny-random's text graph fixes 77 (input, positional embedding, causal mask);
    // the test-models folder adds a graph with torch.onnx.export's pattern
    // (Constant masks per layer, Constant [77] shape pieces).
    let test_models =
        std::env::var("CLIP_EMBED_TEST_MODELS").unwrap_or_else(|_| "/var/tmp/clip_embed/test-models".into());
    for (models, model) in [(common::model_dir(), "tiny-random"), (PathBuf::from(test_models), "torch-export")] {
        assert!(models.join(model).exists(), "{}/{model}: run scripts/make_test_models.sh", models.display());
        let store = scratch(&format!("rewrite_{model}"));
        let settings = Settings { model_dir: models.clone(), ..with_store(&store) };
        let plain = Settings { model_dir: models.clone(), ..common::settings() };
        let mut rewritten = Registry::new();
        let mut original = Registry::new();
        for text in ["a cat", "a photo of a red bicycle on a white background", &"word ".repeat(100)] {
            let found = rewritten.embed_text(&settings, model, text, true).unwrap();
            let expected = original.embed_text(&plain, model, text, true).unwrap();
            let cosine = cosine(&found, &expected);
            assert!(cosine >= 0.99999, "{model} {text:?}: cosine {cosine}");
        }
        assert!(take_warnings().is_empty(), "{model}");
        let rows = rewritten.list_prepared(&settings).unwrap();
        let manifest = std::fs::read_to_string(rows[0].path.join("manifest.json")).unwrap();
        assert!(manifest.contains("\"text_length\": 77"), "{model}: {manifest}");
        std::fs::remove_dir_all(&store).unwrap();
    }
}

#[test]
fn backends_preparing_the_same_copy_at_once_write_it_once() {
    let store = scratch("concurrent");
    let settings = with_store(&store);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (most_temporary, vectors) = std::thread::scope(|scope| {
        // Watches the store: temporary folders of copies being written.
        let watcher = scope.spawn(|| {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let temporary = std::fs::read_dir(&store)
                    .map(|entries| {
                        entries
                            .filter_map(|e| e.ok())
                            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                            .count()
                    })
                    .unwrap_or(0);
                most = most.max(temporary);
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            most
        });
        let loaders: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let vector =
                        Registry::new().embed_text(&settings, "clip-shapes", "a photo of a cat", true).unwrap();
                    assert!(take_warnings().is_empty());
                    vector
                })
            })
            .collect();
        let vectors: Vec<Vec<f32>> = loaders.into_iter().map(|l| l.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::Release);
        (watcher.join().unwrap(), vectors)
    });
    assert_eq!(most_temporary, 1, "one copy written at a time");
    assert!(vectors.windows(2).all(|w| w[0] == w[1]), "all three loaded the same copy");
    let rows = Registry::new().list_prepared(&settings).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].state, "current");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn a_store_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let store = scratch("shared-store");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777)).unwrap();
    let settings = with_store(&store);
    let (original, _) = embed_both(&common::settings(), "tiny-random");
    let text = Registry::new().embed_text(&settings, "tiny-random", "a photo of a cat", true).unwrap();
    let warnings = take_warnings();
    assert!(warnings.iter().any(|w| w.contains("writable by no one else")), "{warnings:?}");
    assert_eq!(text, original, "the original graph's vector");
    assert!(states(&settings).is_empty(), "no copy written into it");
    std::fs::remove_dir_all(&store).unwrap();
}
