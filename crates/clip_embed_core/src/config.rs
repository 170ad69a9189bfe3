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
            Err(e) => return Err(io_error("model config", &path, e)),
        };
        let config: ModelConfig = serde_json::from_str(&text)
            .map_err(|e| Error::InvalidModel(format!("invalid \"{}\": {e}", path.display())))?;
        let invalid = |what: &str| Error::InvalidModel(format!("invalid \"{}\": {what}", path.display()));
        if config.image_size.is_some_and(|s| !(1..=4096).contains(&s)) {
            return Err(invalid("image_size must be between 1 and 4096"));
        }
        if config.context_length.is_some_and(|c| !(2..=4096).contains(&c)) {
            return Err(invalid("context_length must be between 2 and 4096"));
        }
        if config.embed_dim == Some(0) {
            return Err(invalid("embed_dim must be positive"));
        }
        if let Some(std) = config.image_std {
            if std.iter().any(|&s| s.is_nan() || s <= 0.0) {
                return Err(invalid("image_std must be positive"));
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

    fn load_config(json: &str) -> Result<ModelConfig> {
        let dir = std::env::temp_dir().join(format!("clip_embed_config_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(CONFIG_FILE), json).unwrap();
        let config = ModelConfig::load(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        config
    }

    #[test]
    fn config_values_are_checked() {
        assert_eq!(load_config(r#"{"image_size": 336, "embed_dim": 768}"#).unwrap().image_size, Some(336));
        for bad in [
            r#"{"image_size": 0}"#,
            r#"{"context_length": 1}"#,
            r#"{"embed_dim": 0}"#,
            r#"{"image_std": [0.2, 0.0, 0.2]}"#,
            r#"{"unknown_key": 1}"#,
            "not json",
        ] {
            let err = load_config(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidModel, "{bad}: {err}");
        }
    }

    #[test]
    fn missing_config_means_defaults() {
        let config = ModelConfig::load(Path::new("/nonexistent-model-dir")).unwrap();
        assert_eq!(config.mean(), CLIP_MEAN);
        assert_eq!(config.std(), CLIP_STD);
    }

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
