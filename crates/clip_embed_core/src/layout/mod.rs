//! What a model *family* is, in one place.
//!
//! Model folders come in families (OpenAI/Roboflow exports, Hugging Face
//! splits, Immich/open_clip, SigLIP): each names its files differently, binds
//! its graphs' inputs and outputs differently, pads text differently and
//! preprocesses images its own way. A family is one file in this folder that
//! recognises its folders and describes one as a [`Layout`]; the rest of the
//! core (registry, sessions, tokenizer, preprocessing) reads the `Layout` and
//! never guesses. Adding a family is a new file and a line in [`FAMILIES`].
//!
//! Families today: [`openai`] (`visual.onnx` + `textual.onnx`, optional
//! `clip_config.json`), [`hf`] (Hugging Face / transformers.js split exports:
//! `onnx/vision_model*.onnx`, `onnx/text_model*.onnx` and their JSON configs),
//! [`immich`] (Immich's open_clip exports: `visual/model.onnx`,
//! `textual/model.onnx`, open_clip's `config.json`) and [`siglip`] (SigLIP in
//! either of the last two forms: padded, non-causal text, sigmoid scores).
//!
//! A folder may hold several sets of weights (transformers.js ships
//! `_quantized`, `_fp16`, ... beside the fp32 graphs): each is its own model,
//! named `folder:variant` ([`crate::registry::names`]), so one name always means
//! one set of weights (the IMMUTABLE contract).

use std::path::Path;

use crate::error::{Error, Result};

mod binding;
mod config;
mod family;
pub mod hf;
pub mod immich;
pub mod openai;
pub mod siglip;

pub use binding::{BindFn, Binding, Signature, Tensors};
pub use family::{Family, Layout};

/// Every family, in the order folders are tried.
pub const FAMILIES: &[Family] = &[openai::FAMILY, hf::FAMILY, siglip::HF_FAMILY, immich::FAMILY, siglip::IMMICH_FAMILY];

/// Whether any family recognises `dir` (a cheap filter for listings).
pub fn looks_like_model(dir: &Path) -> bool {
    FAMILIES.iter().any(|family| (family.recognises)(dir))
}

/// The family whose folder `dir` is: None where no family recognises it, an
/// error naming the files where several do (a folder that mixes layouts would
/// otherwise load whichever family happens to be tried first).
pub fn family_of(dir: &Path) -> Result<Option<&'static Family>> {
    let found: Vec<&Family> = FAMILIES.iter().filter(|family| (family.recognises)(dir)).collect();
    match found.as_slice() {
        [] => Ok(None),
        [family] => Ok(Some(family)),
        several => Err(Error::InvalidModel(format!(
            "model folder \"{}\" mixes the layouts of {}: keep the files of one",
            dir.display(),
            several.iter().map(|f| format!("{} ({})", f.name, f.marker)).collect::<Vec<_>>().join(" and ")
        ))),
    }
}

#[cfg(test)]
mod tests;
