//! Row shapes of the set-returning functions: the core returns plain data
//! ([`ModelInfo`], [`PreparedCopy`]); each function here makes one SQL row of
//! it, in the column order `api.rs` declares with `name!`.

use clip_embed_core::recipe::PadToken;
use clip_embed_core::{ModelInfo, PreparedCopy};
use pgrx::prelude::*;

/// A `clip_models()` row.
pub type ModelRow = (
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    String,
    bool,
    bool,
    Option<f64>,
    Option<f64>,
    bool,
    Option<String>,
    String,
);

/// A `clip_model_layouts()` row.
pub type LayoutRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Vec<f32>>,
    Option<Vec<f32>>,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<bool>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<String>,
    Option<String>,
);

/// A `clip_prepared_models()` row.
pub type PreparedRow =
    (String, Option<String>, Option<String>, String, i64, Option<TimestampWithTimeZone>, Option<f64>, bool, String);

/// `m` as a `clip_models()` row; `default_model` is `clip_embed.default_model`.
pub fn model(m: ModelInfo, default_model: &str) -> ModelRow {
    let to_i32 = |v: Option<usize>| v.and_then(|v| i32::try_from(v).ok());
    (
        m.name.clone(),
        to_i32(m.embed_dim),
        m.image_size.and_then(|s| i32::try_from(s).ok()),
        to_i32(m.context_length),
        m.fingerprint,
        m.text_load_ms.is_some(),
        m.image_load_ms.is_some(),
        m.text_load_ms,
        m.image_load_ms,
        m.name == default_model,
        m.description,
        m.path.display().to_string(),
    )
}

/// `m` as a `clip_model_layouts()` row: files relative to the model's folder.
pub fn model_layout(m: ModelInfo) -> LayoutRow {
    let relative = |p: &std::path::Path| {
        Some(p).filter(|p| p.exists()).map(|p| p.strip_prefix(&m.path).unwrap_or(p).display().to_string())
    };
    let l = m.details.as_ref();
    (
        m.name.clone(),
        m.layout.to_string(),
        m.variant.clone(),
        l.and_then(|l| relative(&l.visual)),
        l.and_then(|l| relative(&l.textual)),
        l.and_then(|l| relative(&l.tokenizer)),
        l.map(|l| l.image.summary(m.image_size.unwrap_or(224))),
        l.map(|l| l.image.mean.to_vec()),
        l.map(|l| l.image.std.to_vec()),
        m.context_length.and_then(|c| i32::try_from(c).ok()),
        l.map(|l| match &l.text.pad {
            PadToken::Id(id) => format!("id {id}"),
            PadToken::Named(token) => token.clone(),
        }),
        l.map(|l| l.text.cleanup.name().to_string()),
        l.map(|l| !l.text.causal),
        l.map(|l| l.outputs_normalized),
        l.map(|l| l.logits.scoring.name().to_string()),
        l.map(|l| f64::from(l.logits.scale)),
        l.map(|l| f64::from(l.logits.bias)),
        l.map(|l| l.logits.source.to_string()),
        m.problem.clone(),
    )
}

/// `copy` as a `clip_prepared_models()` row.
pub fn prepared_copy(copy: PreparedCopy) -> PreparedRow {
    (
        copy.copy,
        copy.model,
        copy.tower,
        copy.state.to_string(),
        i64::try_from(copy.bytes).unwrap_or(i64::MAX),
        copy.created_unix.map(|s| pgrx::datum::to_timestamp(s as f64)),
        copy.prepare_ms,
        copy.loaded_here,
        copy.path.display().to_string(),
    )
}
