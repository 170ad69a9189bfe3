//! Embedding a text or an image with a model's tower.

use super::state::{Registry, Settings};
use super::towers::{release_freed_memory, DEFAULT_IMAGE_SIZE};
use crate::error::{Error, Result};
use crate::image::decode::check_encoded;
use crate::image::preprocess_cancellable;
use crate::math::l2_normalize;
use crate::text::is_blank;

impl Registry {
    /// Embeds one text with the named model's text tower.
    pub fn embed_text(&mut self, settings: &Settings, model: &str, text: &str, normalize: bool) -> Result<Vec<f32>> {
        let model = self.resolve(settings, model)?;
        // The cheap part of the tokenizer's own check, before a tower loads for nothing.
        if is_blank(text) {
            return Err(Error::InvalidArgument("text to embed must not be empty".into()));
        }
        self.ensure_text_tower(settings, &model)?;
        let text_tower = self.models.get_mut(&model.key).and_then(|m| m.textual.as_mut()).expect("loaded above");
        let mut embedding = match self.text_cache.get(text_tower.identity, text) {
            Some(raw) => raw,
            None => {
                self.embedding_freed_memory = true;
                let (ids, real) = text_tower.tokenizer.encode_counted(text, settings.cancel)?;
                let raw = text_tower.tower.embed_ids(&ids, real, settings.cancel)?;
                self.text_cache.put(text_tower.identity, text, &raw, settings.text_cache_entries);
                raw
            }
        };
        finish(&mut embedding, normalize)?;
        Ok(embedding)
    }

    /// Embeds one encoded image with the named model's vision tower.
    pub fn embed_image(&mut self, settings: &Settings, model: &str, bytes: &[u8], normalize: bool) -> Result<Vec<f32>> {
        self.embedding_freed_memory = true;
        let model = self.resolve(settings, model)?;
        check_encoded(bytes, &settings.limits)?;
        self.ensure_visual_tower(settings, &model)?;
        let model = self.models.get_mut(&model.key).expect("loaded above");
        let tower = model.visual.as_mut().expect("loaded above");
        let recipe = &model.layout.image;
        let size = recipe.size.or(tower.image_size()).unwrap_or(DEFAULT_IMAGE_SIZE);
        let pixels = preprocess_cancellable(bytes, recipe, size, &settings.limits, settings.cancel)?;
        let mut embedding = tower.embed_pixels(pixels, size, settings.cancel)?;
        finish(&mut embedding, normalize)?;
        Ok(embedding)
    }

    /// Hands back to the system the heap pages that embedding since the last
    /// call freed (decoded images, a failed or cancelled load's temporaries,
    /// and a run's activations, for towers without ONNX Runtime's CPU arena),
    /// if a tower loaded or ran or an image was decoded. The SQL layer calls this when a transaction
    /// ends: a statement that embeds 1,000 images reuses the same pages for
    /// each (trimming after every run touched ~7,000 pages afresh per ViT-B/16
    /// image), and an idle backend keeps none of them.
    pub fn release_memory_freed_by_embedding(&mut self) {
        if std::mem::take(&mut self.embedding_freed_memory) {
            release_freed_memory();
        }
    }
}

/// Normalises where asked, and refuses what no index could take: a model
/// that gives NaN or an infinity (pgvector's cast would refuse it later, in a
/// generated column as a less clear error).
fn finish(embedding: &mut [f32], normalize: bool) -> Result<()> {
    if embedding.iter().any(|v| !v.is_finite()) {
        return Err(Error::Inference("the model gave an embedding with NaN or infinite values".into()));
    }
    if normalize {
        l2_normalize(embedding);
    }
    Ok(())
}
