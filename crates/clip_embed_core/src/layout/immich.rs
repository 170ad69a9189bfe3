//! Immich's OpenCLIP exports (`immich-app/ViT-B-32__openai` and the rest), as
//! Immich's exporter writes them and `immich_ml/models/clip/` reads them:
//!
//! ```text
//! <name>/config.json                     open_clip's model config: embed_dim, vision_cfg, text_cfg
//! <name>/visual/model.onnx               image [1,3,S,S] float32 -> embedding [1,D], normalised
//! <name>/visual/preprocess_cfg.json      size, mean, std, interpolation, resize_mode
//! <name>/textual/model.onnx              text [1,L] int32 -> embedding [1,D], normalised
//! <name>/textual/tokenizer.json          the tokenizer transformers saved
//! <name>/textual/tokenizer_config.json   pad_token
//! ```
//!
//! Images as Immich's `OpenClipVisualEncoder` does: `resize_mode` "shortest"
//! (`resize_pil`: the long side from the aspect ratio in floating point, then
//! `crop_pil`) or "squash", with PIL's `interpolation`. Texts as
//! `OpenClipTextualEncoder`: `clean_text` (whitespace, and canonicalize where
//! `text_cfg.tokenizer_kwargs.clean` says so), `tokenizer.json`, padded to
//! `text_cfg.context_length` with `pad_token`. Multilingual models (M-CLIP,
//! `MClipTextualEncoder`) have a text graph that takes `input_ids` and
//! `attention_mask` and mean-pools over the mask: the binding feeds the mask,
//! and a tokenizer other than CLIP's keeps every text padded. The graphs normalise their
//! outputs (`encode_*(normalize=True)`). A config with `init_logit_bias` is a
//! SigLIP model: [`super::siglip`].

use std::path::Path;

use super::config::{read_json, Config};
use super::family::{plain_only, Family, Layout};
use super::openai;
use crate::error::{Error, Result};
use crate::recipe::{
    Filter, ImageRecipe, Logits, PadToken, Resize, Rounding, Scoring, TextCleanup, TextRecipe, DEFAULT_LOGIT_SCALE,
};

/// open_clip's model configuration, at the top of the folder.
pub const CONFIG_FILE: &str = "config.json";
/// The vision tower and its preprocessing configuration.
pub const VISUAL_FILE: &str = "visual/model.onnx";
pub const PREPROCESS_FILE: &str = "visual/preprocess_cfg.json";
/// The text tower and its tokenizer.
pub const TEXTUAL_FILE: &str = "textual/model.onnx";
pub const TOKENIZER_FILE: &str = "textual/tokenizer.json";
pub const TOKENIZER_CONFIG_FILE: &str = "textual/tokenizer_config.json";

/// The family as the registry sees it.
pub const FAMILY: Family = Family {
    name: "immich-clip",
    marker: "visual/model.onnx, textual/model.onnx",
    recognises: |dir| is_immich_folder(dir) && !states_logit_bias(dir),
    variants: plain_only,
    describe: |dir, _model_dir, _variant| describe(dir, &CLIP),
};

/// What differs between CLIP and SigLIP in this folder shape.
pub(super) struct Flavour {
    pub family: &'static str,
    pub causal: bool,
    pub scoring: Scoring,
    /// Scale and bias where `config.json` states none.
    pub default_scale: f32,
    pub default_bias: f32,
}

const CLIP: Flavour = Flavour {
    family: "immich-clip",
    // open_clip's text transformer: causal mask, pooled at the argmax id (the end of text).
    causal: true,
    scoring: Scoring::Softmax,
    default_scale: DEFAULT_LOGIT_SCALE,
    default_bias: 0.0,
};

pub(super) fn is_immich_folder(dir: &Path) -> bool {
    dir.join(VISUAL_FILE).exists() || dir.join(TEXTUAL_FILE).exists()
}

/// open_clip's SigLIP configs state `init_logit_bias` (sigmoid loss); CLIP's do not.
pub(super) fn states_logit_bias(dir: &Path) -> bool {
    read_json(&dir.join(CONFIG_FILE), "model config").is_ok_and(|v| v.get("init_logit_bias").is_some())
}

pub(super) fn describe(dir: &Path, flavour: &Flavour) -> Result<Layout> {
    let config_path = dir.join(CONFIG_FILE);
    let config_value = read_json(&config_path, "model config")?;
    let config = Config { path: &config_path, value: &config_value };
    let visual = dir.join(VISUAL_FILE);
    let textual = dir.join(TEXTUAL_FILE);
    let tokenizer = dir.join(TOKENIZER_FILE);
    let tokenizer_config_path = dir.join(TOKENIZER_CONFIG_FILE);
    let preprocess_path = dir.join(PREPROCESS_FILE);

    let image_size = config.square("vision_cfg/image_size")?;
    let image = if visual.exists() {
        let value = read_json(&preprocess_path, "preprocessing config")?;
        image_recipe(&Config { path: &preprocess_path, value: &value }, image_size)?
    } else {
        ImageRecipe {
            size: image_size,
            resize: Resize::ShortestThenCrop { shortest: None, rounding: Rounding::Immich },
            filter: Filter::Bicubic,
            mean: crate::recipe::CLIP_MEAN,
            std: crate::recipe::CLIP_STD,
        }
    };
    let (pad, clip_tokenizer) = if textual.exists() {
        if !tokenizer.exists() {
            return Err(Error::MissingFile { what: "tokenizer file", path: tokenizer });
        }
        let value = read_json(&tokenizer_config_path, "tokenizer config")?;
        let tokenizer_config = Config { path: &tokenizer_config_path, value: &value };
        let token = super::hf::pad_token_of(&tokenizer_config)?
            .ok_or_else(|| tokenizer_config.invalid("no pad_token (Immich pads every text with it)"))?;
        let class = tokenizer_config.string("tokenizer_class")?.unwrap_or_default();
        (PadToken::Named(token), class.starts_with("CLIPTokenizer"))
    } else {
        (PadToken::Id(0), true)
    };
    let cleanup = match config.string("text_cfg/tokenizer_kwargs/clean")? {
        Some("canonicalize") => TextCleanup::Canonicalize,
        _ => TextCleanup::Whitespace,
    };
    let stated_bias = config.number("init_logit_bias")?;
    let stated_scale = config.number("init_logit_scale")?.map(f64::exp);
    if stated_scale.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        return Err(config.invalid("init_logit_scale is out of range"));
    }
    let files = [&visual, &textual, &tokenizer, &config_path, &preprocess_path, &tokenizer_config_path]
        .into_iter()
        .filter(|p| p.exists())
        .cloned()
        .collect();
    Ok(Layout {
        family: flavour.family,
        variant: String::new(),
        visual,
        textual,
        tokenizer,
        files,
        config_file: config_path.clone(),
        embed_dim: config.uint("embed_dim", 1..=65536)?.map(|d| d as usize),
        image,
        text: TextRecipe {
            context_length: Some(config.uint("text_cfg/context_length", 2..=4096)?.map_or(77, |c| c as usize)),
            pad,
            cleanup,
            // Only CLIP's own text transformer is causal and pooled at the end
            // token, so that its text may run at its own length. Immich's other
            // text towers (M-CLIP's XLM-R and LaBSE with an attention_mask,
            // open_clip's Hugging Face towers) pool over every slot: padded.
            causal: flavour.causal && clip_tokenizer,
        },
        outputs_normalized: true,
        logits: Logits {
            scoring: flavour.scoring,
            scale: stated_scale.map_or(flavour.default_scale, |s| s as f32),
            bias: stated_bias.map_or(flavour.default_bias, |b| b as f32),
            source: if stated_bias.is_some() || stated_scale.is_some() { CONFIG_FILE } else { "default" },
        },
        description: None,
        bind_visual: openai::bind_visual,
        bind_textual: openai::bind_textual,
    })
}

/// `preprocess_cfg.json` (open_clip's `PreprocessCfg`) as a recipe.
fn image_recipe(cfg: &Config, config_size: Option<u32>) -> Result<ImageRecipe> {
    let size = cfg.square("size")?.ok_or_else(|| cfg.invalid("no size"))?;
    if config_size.is_some_and(|s| s != size) {
        return Err(cfg.invalid(format!("size {size} differs from config.json's vision_cfg.image_size")));
    }
    let filter = match cfg.string("interpolation")?.unwrap_or("bicubic") {
        "bicubic" => Filter::Bicubic,
        "bilinear" => Filter::Bilinear,
        other => {
            return Err(cfg.invalid(format!("interpolation \"{}\" is not supported", crate::error::bounded(other))))
        }
    };
    let resize = match cfg.string("resize_mode")?.unwrap_or("shortest") {
        "shortest" => Resize::ShortestThenCrop { shortest: None, rounding: Rounding::Immich },
        "squash" => Resize::Squash,
        other => return Err(cfg.invalid(format!("resize_mode \"{}\" is not supported", crate::error::bounded(other)))),
    };
    if cfg.string("mode")?.is_some_and(|m| m != "RGB") {
        return Err(cfg.invalid("mode must be RGB"));
    }
    let mean = cfg.triple("mean", false)?.ok_or_else(|| cfg.invalid("no mean"))?;
    let std = cfg.triple("std", true)?.ok_or_else(|| cfg.invalid("no std"))?;
    Ok(ImageRecipe { size: Some(size), resize, filter, mean, std })
}
