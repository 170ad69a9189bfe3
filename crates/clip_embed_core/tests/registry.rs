//! The registry end to end on the tiny generated model: lazy loading, reuse, errors.
mod common;

use clip_embed_core::{ErrorKind, Registry};

#[test]
fn text_and_image_embeddings_are_unit_vectors_and_deterministic() {
    let settings = common::settings();
    let mut registry = Registry::new();
    let a = registry.embed_text(&settings, "tiny-random", "a photo of a cat", true).unwrap();
    let b = registry.embed_text(&settings, "tiny-random", "a photo of a cat", true).unwrap();
    assert_eq!(a.len(), 512);
    assert_eq!(a, b);
    let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    let other = registry.embed_text(&settings, "tiny-random", "a photo of a dog", true).unwrap();
    assert_ne!(a, other);

    let image = registry.embed_image(&settings, "tiny-random", &common::data("portrait.jpg"), true).unwrap();
    assert_eq!(image.len(), 512);
    let raw = registry.embed_image(&settings, "tiny-random", &common::data("portrait.jpg"), false).unwrap();
    let raw_norm: f32 = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((raw_norm - 1.0).abs() > 1e-3, "normalize=false keeps the raw norm ({raw_norm})");
}

#[test]
fn towers_load_lazily_and_once() {
    let settings = common::settings();
    let mut registry = Registry::new();
    registry.embed_text(&settings, "tiny-random", "hello", true).unwrap();
    let listed = registry.list_models(&settings).unwrap();
    let tiny = listed.iter().find(|m| m.name == "tiny-random").unwrap();
    assert!(tiny.text_load_ms.is_some(), "text tower loaded");
    assert!(tiny.image_load_ms.is_none(), "vision tower not loaded by a text call");
    let first_load = tiny.text_load_ms;
    registry.embed_text(&settings, "tiny-random", "hello again", true).unwrap();
    let again = registry.list_models(&settings).unwrap();
    let tiny = again.iter().find(|m| m.name == "tiny-random").unwrap();
    assert_eq!(tiny.text_load_ms, first_load, "the session was reused, not reloaded");
    assert_eq!(tiny.embed_dim, Some(512));
    assert!(tiny.fingerprint.starts_with("sha256:"));
}

#[test]
fn unknown_model_and_bad_name_are_errors() {
    let settings = common::settings();
    let mut registry = Registry::new();
    let kind = |r: &mut Registry, s: &clip_embed_core::Settings, model: &str| {
        r.embed_text(s, model, "x", true).unwrap_err().kind()
    };
    assert_eq!(kind(&mut registry, &settings, "no-such-model"), ErrorKind::UnknownModel);
    assert_eq!(kind(&mut registry, &settings, "../models"), ErrorKind::InvalidModelName);
    assert_eq!(kind(&mut registry, &settings, ""), ErrorKind::InvalidModelName);
    // No model directory at all (a Citus worker set up without it): the
    // server's installation is missing a folder, not the user's model a name.
    let nowhere = clip_embed_core::Settings { model_dir: "/nonexistent/clip_models".into(), ..common::settings() };
    let err = registry.embed_text(&nowhere, "tiny-random", "x", true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingFile);
    assert_eq!(err.to_string(), "model directory not found at \"/nonexistent/clip_models\"");
    assert!(err.hint().unwrap().contains("clip_embed.model_dir"), "{:?}", err.hint());
}
