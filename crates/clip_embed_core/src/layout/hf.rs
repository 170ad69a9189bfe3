//! Hugging Face split exports, as transformers.js (`Xenova/clip-vit-base-patch16`
//! and its siblings) and Optimum publish them:
//!
//! ```text
//! <name>/config.json                 CLIPConfig: projection_dim, text_config, vision_config
//! <name>/preprocessor_config.json    CLIPImageProcessor: size, crop_size, resample, mean/std
//! <name>/tokenizer.json              the fast tokenizer (normaliser, BPE, start/end tokens)
//! <name>/tokenizer_config.json       pad_token, model_max_length (optional)
//! <name>/onnx/vision_model.onnx      pixel_values [N,3,S,S] -> image_embeds [N,D]
//! <name>/onnx/text_model.onnx        input_ids [N,L] (L dynamic) -> text_embeds [N,D]
//! <name>/onnx/vision_model_quantized.onnx, text_model_fp16.onnx, ...   other variants
//! ```
//!
//! Each `_suffix` is a variant, its own model `name:suffix`; the plain files
//! are `name`. Images follow `CLIPImageProcessor` (shortest edge, then a
//! centre crop with transformers' floor rounding, PIL's filter), texts only
//! `tokenizer.json` (no ftfy or HTML unescaping: transformers' fast tokenizer
//! and transformers.js do none). Outputs are not normalised. The same folder
//! shape with `"model_type": "siglip"` is [`super::siglip`]'s.

use std::path::{Path, PathBuf};

use super::config::{read_json, Config};
use super::family::{Family, Layout};
use super::openai;
use crate::error::{Error, Result};
use crate::recipe::{
    Filter, ImageRecipe, Logits, PadToken, Resize, Rounding, Scoring, TextCleanup, TextRecipe, DEFAULT_LOGIT_SCALE,
};

/// The folder of the graphs.
pub const ONNX_DIR: &str = "onnx";
/// The stem of the vision graphs: `vision_model{_variant}.onnx`.
pub const VISION_STEM: &str = "vision_model";
/// The stem of the text graphs: `text_model{_variant}.onnx`.
pub const TEXT_STEM: &str = "text_model";
/// transformers' model configuration.
pub const CONFIG_FILE: &str = "config.json";
/// transformers' image processor configuration.
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";
/// The fast tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The tokenizer's settings (pad token).
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// The family as the registry sees it.
pub const FAMILY: Family = Family {
    name: "hf-clip",
    marker: "onnx/vision_model*.onnx, onnx/text_model*.onnx",
    recognises: |dir| is_hf_folder(dir) && model_type(dir).as_deref() != Some("siglip"),
    variants: graph_variants,
    describe: |dir, _model_dir, variant| describe(dir, variant, &CLIP),
};

/// What differs between the model types this folder shape holds.
pub(super) struct Flavour {
    pub family: &'static str,
    /// The pad token where `tokenizer_config.json` names none.
    pub default_pad_token: &'static str,
    /// The context length where the configuration states none.
    pub default_context_length: usize,
    pub causal: bool,
    /// The keys of `config.json` that state the embedding width, first found wins.
    pub embed_dim_keys: &'static [&'static str],
    pub logits: Logits,
    /// `CLIPImageProcessor`'s readings of an older `preprocessor_config.json`
    /// (openai/clip-vit-base-patch32's own: `"size": 224`, `"crop_size": 224`):
    /// a plain-number `size` is the shortest edge (transformers' `get_size_dict`
    /// with `default_to_square=False`), not a square to squash to, and
    /// `do_center_crop` is on unless the file says otherwise. SigLIP's
    /// processor has neither reading (it squashes to `size`).
    pub clip_image_processor: bool,
}

const CLIP: Flavour = Flavour {
    family: "hf-clip",
    default_pad_token: "<|endoftext|>",
    default_context_length: 77,
    // CLIPTextTransformer: causal mask, pooled at the end-of-text token.
    causal: true,
    embed_dim_keys: &["projection_dim", "text_config/hidden_size"],
    // config.json states only logit_scale_init_value (2.6592, the value before
    // training), not the trained scale.
    logits: Logits { scoring: Scoring::Softmax, scale: DEFAULT_LOGIT_SCALE, bias: 0.0, source: "default" },
    clip_image_processor: true,
};

/// Whether `dir` holds an `onnx/` folder of vision or text graphs.
pub(super) fn is_hf_folder(dir: &Path) -> bool {
    !graph_variants(dir).is_empty()
}

/// `config.json`'s `model_type`, if it can be read (cheap: a few KB).
pub(super) fn model_type(dir: &Path) -> Option<String> {
    let value = read_json(&dir.join(CONFIG_FILE), "model config").ok()?;
    value.get("model_type")?.as_str().map(str::to_string)
}

/// The variant suffixes present ("" for the plain graphs), plain first.
pub(super) fn graph_variants(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join(ONNX_DIR)) else { return Vec::new() };
    let mut found: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|file| {
            let stem = file.strip_suffix(".onnx")?;
            let rest = stem.strip_prefix(VISION_STEM).or_else(|| stem.strip_prefix(TEXT_STEM))?;
            match rest.strip_prefix('_') {
                None if rest.is_empty() => Some(String::new()),
                Some(variant) if is_variant_name(variant) => Some(variant.to_string()),
                _ => None,
            }
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Variant names: what transformers.js uses (`quantized`, `fp16`, `q4f16`, ...).
fn is_variant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 20
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The graph file of a variant.
fn graph(dir: &Path, stem: &str, variant: &str) -> PathBuf {
    let suffix = if variant.is_empty() { String::new() } else { format!("_{variant}") };
    dir.join(ONNX_DIR).join(format!("{stem}{suffix}.onnx"))
}

pub(super) fn describe(dir: &Path, variant: &str, flavour: &Flavour) -> Result<Layout> {
    let config_path = dir.join(CONFIG_FILE);
    let config_value = read_json(&config_path, "model config")?;
    let config = Config { path: &config_path, value: &config_value };
    let preprocessor_path = dir.join(PREPROCESSOR_FILE);
    let preprocessor_value = read_json(&preprocessor_path, "image processor config")?;
    let preprocessor = Config { path: &preprocessor_path, value: &preprocessor_value };
    let tokenizer = dir.join(TOKENIZER_FILE);
    if !tokenizer.exists() {
        return Err(Error::MissingFile { what: "tokenizer file", path: tokenizer });
    }
    let tokenizer_config_path = dir.join(TOKENIZER_CONFIG_FILE);
    let pad_token = if tokenizer_config_path.exists() {
        let value = read_json(&tokenizer_config_path, "tokenizer config")?;
        let tokenizer_config = Config { path: &tokenizer_config_path, value: &value };
        pad_token_of(&tokenizer_config)?
    } else {
        None
    };

    let stated_dims =
        flavour.embed_dim_keys.iter().map(|key| config.uint(key, 1..=65536)).collect::<Result<Vec<_>>>()?;
    let embed_dim = stated_dims.into_iter().flatten().next();
    let context_length = config.uint("text_config/max_position_embeddings", 2..=4096)?;
    let config_image_size = config.square("vision_config/image_size")?;
    let image = image_recipe(&preprocessor, flavour.clip_image_processor)?;
    if let (Some(a), Some(b)) = (config_image_size, image.size) {
        if a != b {
            return Err(Error::InvalidModel(format!(
                "{CONFIG_FILE} says image_size {a}, but {PREPROCESSOR_FILE} crops to {b} in \"{}\"",
                dir.display()
            )));
        }
    }

    let visual = graph(dir, VISION_STEM, variant);
    let textual = graph(dir, TEXT_STEM, variant);
    if !visual.exists() && !textual.exists() {
        return Err(Error::MissingFile { what: "model variant", path: visual });
    }
    let files = [&visual, &textual, &tokenizer, &config_path, &preprocessor_path, &tokenizer_config_path]
        .into_iter()
        .filter(|p| p.exists())
        .cloned()
        .collect();
    Ok(Layout {
        family: flavour.family,
        variant: variant.to_string(),
        visual,
        textual,
        tokenizer,
        files,
        config_file: config_path.clone(),
        embed_dim: embed_dim.map(|d| d as usize),
        image,
        text: TextRecipe {
            context_length: Some(context_length.map_or(flavour.default_context_length, |c| c as usize)),
            pad: PadToken::Named(pad_token.unwrap_or_else(|| flavour.default_pad_token.to_string())),
            cleanup: TextCleanup::TokenizerOnly,
            causal: flavour.causal,
        },
        outputs_normalized: false,
        logits: flavour.logits,
        description: config.string("_name_or_path")?.map(|n| format!("transformers export of {n}")),
        bind_visual: openai::bind_visual,
        bind_textual: openai::bind_textual,
    })
}

/// `tokenizer_config.json`'s `pad_token`: a string, or an AddedToken object.
pub(super) fn pad_token_of(config: &Config) -> Result<Option<String>> {
    match config.get("pad_token") {
        None => Ok(None),
        Some(serde_json::Value::String(token)) => Ok(Some(token.clone())),
        Some(object) => match object.get("content").and_then(|c| c.as_str()) {
            Some(token) => Ok(Some(token.to_string())),
            None => Err(config.invalid("pad_token is neither a string nor a token")),
        },
    }
}

/// `CLIPImageProcessor`'s or `SiglipImageProcessor`'s settings as a recipe.
fn image_recipe(preprocessor: &Config, clip_image_processor: bool) -> Result<ImageRecipe> {
    let flag = |key: &str, default: bool| preprocessor.get(key).and_then(|v| v.as_bool()).unwrap_or(default);
    if !flag("do_resize", true) {
        return Err(preprocessor.invalid("do_resize false is not supported (the graph takes a fixed size)"));
    }
    if flag("do_rescale", true) {
        let factor = preprocessor.number("rescale_factor")?.unwrap_or(1.0 / 255.0);
        if (factor - 1.0 / 255.0).abs() > 1e-12 {
            return Err(preprocessor.invalid(format!("rescale_factor {factor} is not 1/255")));
        }
    } else {
        return Err(preprocessor.invalid("do_rescale false is not supported"));
    }
    let filter = match preprocessor.uint("resample", 0..=5)? {
        None | Some(3) => Filter::Bicubic,
        Some(2) => Filter::Bilinear,
        Some(other) => return Err(preprocessor.invalid(format!("resample {other} is not supported (2 or 3)"))),
    };
    let (mean, std) = if flag("do_normalize", true) {
        (
            preprocessor.triple("image_mean", false)?.unwrap_or(crate::recipe::CLIP_MEAN),
            preprocessor.triple("image_std", true)?.unwrap_or(crate::recipe::CLIP_STD),
        )
    } else {
        ([0.0; 3], [1.0; 3])
    };
    let plain_size = preprocessor.get("size").is_some_and(|size| size.is_number());
    let shortest = if clip_image_processor && plain_size {
        preprocessor.uint("size", 1..=4096)?
    } else {
        preprocessor.uint("size/shortest_edge", 1..=4096)?
    }
    .map(|s| s as u32);
    let crop = if flag("do_center_crop", clip_image_processor) { preprocessor.square("crop_size")? } else { None };
    let (size, resize) = match (shortest, crop) {
        (Some(shortest), Some(crop)) if crop <= shortest => {
            (crop, Resize::ShortestThenCrop { shortest: Some(shortest), rounding: Rounding::Transformers })
        }
        (Some(shortest), Some(crop)) => {
            return Err(preprocessor.invalid(format!(
                "crop_size {crop} is larger than size.shortest_edge {shortest} (transformers would pad)"
            )))
        }
        (Some(_), None) => {
            return Err(preprocessor.invalid("size.shortest_edge without a centre crop gives a non-square input"))
        }
        (None, crop) => {
            let side = preprocessor.square("size")?.ok_or_else(|| preprocessor.invalid("no size"))?;
            if crop.is_some_and(|c| c != side) {
                return Err(preprocessor.invalid("a crop_size other than size after a squash is not supported"));
            }
            (side, Resize::Squash)
        }
    };
    Ok(ImageRecipe { size: Some(size), resize, filter, mean, std })
}
