//! SigLIP, in both forms people download: the Hugging Face split export
//! (`Xenova/siglip-*`: [`super::hf`]'s folder with `"model_type": "siglip"`)
//! and Immich's open_clip export ([`super::immich`]'s folder whose
//! `config.json` states `init_logit_bias`).
//!
//! What makes SigLIP different from CLIP, and lives only here:
//! - the text tower attends to every slot and pools the last one, so texts
//!   are always padded to the context length (64 for the base models) with the
//!   pad token (`</s>` in transformers' SigLIP tokenizer), never trimmed;
//! - the tokenizer adds only an end token (`</s>`), no start token (read from
//!   `tokenizer.json`'s post-processor);
//! - zero-shot scores are a sigmoid per label, `sigmoid(scale * cos + bias)`,
//!   not a softmax; the folders state no trained scale or bias (they live in
//!   the full model's weights), so the defaults are SigLIP's initial values,
//!   scale 10 and bias -10, unless Immich's `config.json` states
//!   `init_logit_scale`/`init_logit_bias`. `clip_model_layouts()` shows which.
//!
//! Images: transformers' `SiglipImageProcessor` and open_clip's SigLIP configs
//! squash to S×S (bicubic, mean and std 0.5); both come from the folder's own
//! preprocessing config.

use super::family::{plain_only, Family};
use super::{hf, immich};
use crate::recipe::{Logits, Scoring};

/// SigLIP's initial logit scale (`exp(log 10)`), the default where a folder states none.
pub const DEFAULT_SCALE: f32 = 10.0;
/// SigLIP's initial logit bias, the default where a folder states none.
pub const DEFAULT_BIAS: f32 = -10.0;

/// The Hugging Face / transformers.js form.
pub const HF_FAMILY: Family = Family {
    name: "hf-siglip",
    marker: "onnx/vision_model*.onnx, onnx/text_model*.onnx with config.json model_type siglip",
    recognises: |dir| hf::is_hf_folder(dir) && hf::model_type(dir).as_deref() == Some("siglip"),
    variants: hf::graph_variants,
    describe: |dir, _model_dir, variant| hf::describe(dir, variant, &HF),
};

const HF: hf::Flavour = hf::Flavour {
    family: "hf-siglip",
    // transformers' SiglipTokenizer: pad_token "</s>".
    default_pad_token: "</s>",
    // SiglipTextConfig's max_position_embeddings default.
    default_context_length: 64,
    causal: false,
    // SigLIP has no projection: its embedding is the towers' hidden size.
    embed_dim_keys: &["text_config/hidden_size"],
    logits: Logits { scoring: Scoring::Sigmoid, scale: DEFAULT_SCALE, bias: DEFAULT_BIAS, source: "default" },
    clip_image_processor: false,
};

/// Immich's open_clip form.
pub const IMMICH_FAMILY: Family = Family {
    name: "immich-siglip",
    marker: "visual/model.onnx, textual/model.onnx with config.json init_logit_bias",
    recognises: |dir| immich::is_immich_folder(dir) && immich::states_logit_bias(dir),
    variants: plain_only,
    describe: |dir, _model_dir, _variant| immich::describe(dir, &IMMICH),
};

const IMMICH: immich::Flavour = immich::Flavour {
    family: "immich-siglip",
    causal: false,
    scoring: Scoring::Sigmoid,
    default_scale: DEFAULT_SCALE,
    default_bias: DEFAULT_BIAS,
};
