//! The OpenAI/Roboflow/clip-as-service family: a folder with `visual.onnx`
//! and/or `textual.onnx`, an optional `clip_config.json`, and a
//! `tokenizer.json` in the folder or shared in the model directory. Graph I/O
//! names and the id type vary between exporters; the binding rule below reads
//! them from the graphs.

use std::path::Path;

use ort::value::TensorElementType;
use serde::Deserialize;

use super::binding::{Binding, Signature};
use super::family::{plain_only, Family, Layout};
use crate::error::{io_error, Error, Result};
use crate::recipe::{
    Filter, ImageRecipe, Logits, PadToken, Resize, Rounding, Scoring, TextCleanup, TextRecipe, CLIP_MEAN, CLIP_STD,
    DEFAULT_LOGIT_SCALE,
};

/// File name of the vision tower.
pub const VISUAL_FILE: &str = "visual.onnx";
/// File name of the text tower.
pub const TEXTUAL_FILE: &str = "textual.onnx";
/// File name of the tokenizer, in the model folder or the model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The file name of a model folder's optional configuration.
pub const CONFIG_FILE: &str = "clip_config.json";

/// The family as the registry sees it.
pub const FAMILY: Family =
    Family { name: "openai", marker: "visual.onnx, textual.onnx", recognises, variants: plain_only, describe };

fn recognises(dir: &Path) -> bool {
    dir.join(VISUAL_FILE).exists() || dir.join(TEXTUAL_FILE).exists()
}

fn describe(dir: &Path, model_dir: &Path, _variant: &str) -> Result<Layout> {
    let config = ModelConfig::load(dir)?;
    let present = |name: &str| Some(dir.join(name)).filter(|p| p.exists());
    let tokenizer = present(TOKENIZER_FILE).unwrap_or_else(|| model_dir.join(TOKENIZER_FILE));
    let files = [
        present(VISUAL_FILE),
        present(TEXTUAL_FILE),
        Some(tokenizer.clone()).filter(|p| p.exists()),
        present(CONFIG_FILE),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(Layout {
        family: FAMILY.name,
        variant: String::new(),
        visual: dir.join(VISUAL_FILE),
        textual: dir.join(TEXTUAL_FILE),
        tokenizer,
        files,
        config_file: dir.join(CONFIG_FILE),
        embed_dim: config.embed_dim,
        // OpenAI's _transform: Resize(S, BICUBIC), CenterCrop(S) (torchvision).
        image: ImageRecipe {
            size: config.image_size,
            resize: Resize::ShortestThenCrop { shortest: None, rounding: Rounding::Torchvision },
            filter: Filter::Bicubic,
            mean: config.mean(),
            std: config.std(),
        },
        // clip.tokenize pads with zeros.
        // Causal, pooled at the end-of-text token (the argmax of the ids).
        text: TextRecipe {
            context_length: config.context_length,
            pad: PadToken::Id(0),
            cleanup: TextCleanup::OpenAi,
            causal: true,
        },
        outputs_normalized: false,
        logits: Logits {
            scoring: Scoring::Softmax,
            scale: config.logit_scale.unwrap_or(DEFAULT_LOGIT_SCALE),
            bias: 0.0,
            source: if config.logit_scale.is_some() { CONFIG_FILE } else { "default" },
        },
        description: config.description,
        bind_visual,
        bind_textual,
    })
}

/// Float32, or float16 as `_fp16` exports have it.
fn is_float(ty: &TensorElementType) -> bool {
    matches!(ty, TensorElementType::Float32 | TensorElementType::Float16)
}

/// The one float32 (or float16) input of shape `[N,3,H,W]`, and the embedding output.
pub(super) fn bind_visual(signature: &Signature) -> std::result::Result<Binding, String> {
    let input = signature
        .inputs
        .iter()
        .find(|(_, ty, dims)| is_float(ty) && dims.len() == 4)
        .cloned()
        .ok_or("no float32 or float16 input of shape [N,3,H,W]")?;
    if input.2[1] != 3 && input.2[1] != -1 {
        return Err(format!("pixel input has {} channels, not 3", input.2[1]));
    }
    only_inputs(signature, 1)?;
    let (output, output_type) = embedding_output(signature)?;
    Ok(Binding { input, mask: None, output, output_type })
}

/// Int32 or int64 ids `[N,L]`, optionally an `attention_mask` beside them
/// (clip-as-service's and HF-derived exports), and the embedding output.
pub(super) fn bind_textual(signature: &Signature) -> std::result::Result<Binding, String> {
    let is_int = |ty: &TensorElementType| matches!(ty, TensorElementType::Int64 | TensorElementType::Int32);
    let input = signature
        .inputs
        .iter()
        .find(|(name, ty, dims)| is_int(ty) && dims.len() == 2 && !name.contains("mask"))
        .cloned()
        .ok_or("no int32/int64 input of shape [N,L]")?;
    let mask = signature
        .inputs
        .iter()
        .find(|(name, ty, dims)| is_int(ty) && dims.len() == 2 && name.contains("mask"))
        .map(|(name, ty, _)| (name.clone(), *ty));
    only_inputs(signature, 1 + usize::from(mask.is_some()))?;
    let (output, output_type) = embedding_output(signature)?;
    Ok(Binding { input, mask, output, output_type })
}

fn only_inputs(signature: &Signature, expected: usize) -> std::result::Result<(), String> {
    if signature.inputs.len() > expected {
        return Err(format!("{} inputs, expected 1 (or ids and attention_mask)", signature.inputs.len()));
    }
    Ok(())
}

/// Exports with several outputs name the embedding one *embed*; else the first float `[N,D]`.
fn embedding_output(signature: &Signature) -> std::result::Result<((String, Vec<i64>), TensorElementType), String> {
    let candidates: Vec<_> = signature.outputs.iter().filter(|(_, ty, dims)| is_float(ty) && dims.len() == 2).collect();
    candidates
        .iter()
        .find(|(name, ..)| name.contains("embed"))
        .or_else(|| candidates.first())
        .map(|(name, ty, dims)| ((name.clone(), dims.clone()), *ty))
        .ok_or_else(|| "no float32 or float16 output of shape [N,D]".to_string())
}

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
    /// CLIP's logit scale for `clip_classify` (`logit_scale.exp()` of the
    /// trained model, 100 for OpenAI's); 100 where absent.
    pub logit_scale: Option<f32>,
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
        if config.logit_scale.is_some_and(|s| !s.is_finite() || s <= 0.0) {
            return Err(invalid("logit_scale must be a positive number"));
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
            r#"{"logit_scale": 0}"#,
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
}
