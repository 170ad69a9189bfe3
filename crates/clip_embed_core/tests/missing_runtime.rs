//! A wrong ONNX Runtime path is an error, and a later right one still works.
//! Its own test binary: the runtime is process-global once loaded.
mod common;

use clip_embed_core::{ErrorKind, Registry};

#[test]
fn missing_or_relative_runtime_path_is_an_error_then_recovers() {
    let mut registry = Registry::new();
    let mut settings = common::settings();
    settings.onnxruntime_path = "/nonexistent/libonnxruntime.so".into();
    let err = registry.embed_text(&settings, "tiny-random", "x", true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingFile);
    assert!(err.hint().unwrap().contains("clip_embed.onnxruntime_path"));
    settings.onnxruntime_path = "libonnxruntime.so".into();
    let err = registry.embed_text(&settings, "tiny-random", "x", true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    // Not a shared library at all.
    settings.onnxruntime_path = common::model_dir().join("tokenizer.json");
    let err = registry.embed_text(&settings, "tiny-random", "x", true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidModel, "{err}");
    // Fixed: the same registry now loads it.
    let fixed = common::settings();
    assert_eq!(registry.embed_text(&fixed, "tiny-random", "x", true).unwrap().len(), 512);
}
