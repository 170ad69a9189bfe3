//! A model folder's optional `clip_config.json`, and model names.

use std::path::Path;

use serde::Deserialize;

use crate::error::{io_error, Error, Result};
use crate::preprocess::{CLIP_MEAN, CLIP_STD};

/// The file name of a model folder's optional configuration.
pub const CONFIG_FILE: &str = "clip_config.json";

/// What `clip_config.json` may say. Every field is optional: a bare OpenAI-CLIP
/// export (`visual.onnx` + `textual.onnx`, as Roboflow Inference and
/// clip-as-service ship them) loads with OpenAI's mean/std and the sizes its
/// graphs state.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Embedding width both towers project to.
    pub embed_dim: Option<usize>,
    /// Side of the square image input.
    pub image_size: Option<u32>,
    /// Token slots of the text input (77 for OpenAI's models).
    pub context_length: Option<usize>,
    /// Per-channel normalisation mean (RGB).
    pub image_mean: Option<[f32; 3]>,
    /// Per-channel normalisation standard deviation (RGB).
    pub image_std: Option<[f32; 3]>,
    /// Free text shown by `clip_models()`.
    pub description: Option<String>,
}

impl ModelConfig {
    /// Reads `dir/clip_config.json`, or the defaults where there is none.
    pub fn load(dir: &Path) -> Result<ModelConfig> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ModelConfig::default()),
            Err(e) => return Err(io_error(&path, e)),
        };
        let config: ModelConfig = serde_json::from_str(&text)
            .map_err(|e| Error::InvalidModel(format!("invalid \"{}\": {e}", path.display())))?;
        if let Some(std) = config.image_std {
            if std.iter().any(|&s| s.is_nan() || s <= 0.0) {
                return Err(Error::InvalidModel(format!("invalid \"{}\": image_std must be positive", path.display())));
            }
        }
        Ok(config)
    }

    /// The normalisation mean, OpenAI's unless configured.
    pub fn mean(&self) -> [f32; 3] {
        self.image_mean.unwrap_or(CLIP_MEAN)
    }

    /// The normalisation standard deviation, OpenAI's unless configured.
    pub fn std(&self) -> [f32; 3] {
        self.image_std.unwrap_or(CLIP_STD)
    }
}

/// Checks that `name` is a plain folder name, so it can never reach outside
/// the model directory ("../x", "/etc", "").
pub fn validate_model_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        Ok(())
    } else {
        Err(Error::InvalidModelName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_plain_folder_names() {
        for ok in ["tiny-random", "ViT-B-16", "clip_v1.2"] {
            assert!(validate_model_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "../etc", "a/b", "/abs", ".hidden", "sp ace", "x\0y"] {
            assert!(validate_model_name(bad).is_err(), "{bad:?}");
        }
    }
}
