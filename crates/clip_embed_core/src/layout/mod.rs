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
//! named `folder:variant` ([`split_model_name`]), so one name always means
//! one set of weights (the IMMUTABLE contract).

use std::path::{Path, PathBuf};

use ort::value::TensorElementType;

use crate::error::{Error, Result};
pub use crate::preprocess::{Filter, Resize, Rounding};
pub use crate::tokenize::{PadToken, TextCleanup};

pub mod hf;
pub mod immich;
pub mod openai;
pub mod siglip;

/// One family: whether a folder is one of its models, and its description.
pub struct Family {
    /// Shown by `clip_models()` and `clip_model_layouts()`.
    pub name: &'static str,
    /// The files that make a folder this family's, for messages.
    pub marker: &'static str,
    /// Cheap: looks at which files exist (and, to tell CLIP from SigLIP, at a config's type).
    pub recognises: fn(dir: &Path) -> bool,
    /// The variants the folder holds, "" for the plain (fp32) one.
    pub variants: fn(dir: &Path) -> Vec<String>,
    /// Reads the family's configuration files and says everything the core needs about one variant.
    pub describe: fn(dir: &Path, model_dir: &Path, variant: &str) -> Result<Layout>,
}

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

/// Splits a model name into its folder and variant: `"clip"` is the folder's
/// plain variant, `"clip:quantized"` its `quantized` one.
pub fn split_model_name(name: &str) -> (&str, &str) {
    name.split_once(':').unwrap_or((name, ""))
}

/// The model name of a folder's variant.
pub fn model_name(folder: &str, variant: &str) -> String {
    if variant.is_empty() {
        folder.to_string()
    } else {
        format!("{folder}:{variant}")
    }
}

/// `Family::variants` of a family whose folders hold one set of weights.
fn plain_only(_dir: &Path) -> Vec<String> {
    vec![String::new()]
}

/// A JSON configuration file of a model folder: a clear error names the file
/// when it is missing or is not JSON.
pub(crate) fn read_json(path: &Path, what: &'static str) -> Result<serde_json::Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingFile { what, path: path.to_path_buf() })
        }
        Err(e) => return Err(crate::error::io_error(what, path, e)),
    };
    serde_json::from_str(&text).map_err(|e| Error::InvalidModel(format!("invalid \"{}\": {e}", path.display())))
}

/// Reads typed values out of one configuration file, naming the file and the
/// key in every error.
pub(crate) struct Config<'a> {
    pub path: &'a Path,
    pub value: &'a serde_json::Value,
}

impl Config<'_> {
    /// The value at a `/`-separated key path, if present and not null.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        key.split('/').try_fold(self.value, |v, k| v.get(k)).filter(|v| !v.is_null())
    }

    pub fn invalid(&self, what: impl std::fmt::Display) -> Error {
        Error::InvalidModel(format!("invalid \"{}\": {what}", self.path.display()))
    }

    /// A whole number in `range`, if the key is present.
    pub fn uint(&self, key: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        match value.as_u64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(self.invalid(format!(
                "{key} is {}, not a whole number from {} to {}",
                crate::error::bounded(&value.to_string()),
                range.start(),
                range.end()
            ))),
        }
    }

    /// A finite number, if the key is present.
    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        value.as_f64().filter(|n| n.is_finite()).map(Some).ok_or_else(|| self.invalid(format!("{key} is not a number")))
    }

    /// A string, if the key is present.
    pub fn string(&self, key: &str) -> Result<Option<&str>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        value.as_str().map(Some).ok_or_else(|| self.invalid(format!("{key} is not a string")))
    }

    /// A per-channel triple (mean or std); one number means the same for each channel.
    pub fn triple(&self, key: &str, positive: bool) -> Result<Option<[f32; 3]>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let numbers: Option<Vec<f64>> = match value {
            serde_json::Value::Array(items) => items.iter().map(|v| v.as_f64()).collect(),
            single => single.as_f64().map(|n| vec![n; 3]),
        };
        // Normalisation divides by the std: bounded so that (pixel - mean) / std
        // stays finite in f32 (a std of 1e-300 became 0.0 and NaN vectors).
        let range = if positive { 1e-6..=1e3 } else { -1e3..=1e3 };
        match numbers.as_deref() {
            Some(&[a, b, c]) if [a, b, c].iter().all(|n| range.contains(n)) => Ok(Some([a as f32, b as f32, c as f32])),
            _ => Err(self.invalid(format!("{key} must be three numbers from {} to {}", range.start(), range.end()))),
        }
    }

    /// A square side: a number, `[s, s]`, or `{"height": s, "width": s}`.
    pub fn square(&self, key: &str) -> Result<Option<u32>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let side = |v: &serde_json::Value| v.as_u64().filter(|n| (1..=4096).contains(n));
        let sides = match value {
            serde_json::Value::Array(items) if items.len() == 2 => (side(&items[0]), side(&items[1])),
            serde_json::Value::Object(map) => (map.get("height").and_then(side), map.get("width").and_then(side)),
            single => (side(single), side(single)),
        };
        match sides {
            (Some(h), Some(w)) if h == w => Ok(Some(h as u32)),
            (Some(h), Some(w)) => Err(self.invalid(format!("{key} is {h}x{w}; only square inputs are supported"))),
            _ => Err(self.invalid(format!("{key} must be a side from 1 to 4096"))),
        }
    }
}

impl ImageRecipe {
    /// One line for `clip_model_layouts()`: "shortest 224, crop 224 (torchvision), bicubic".
    pub fn summary(&self, size: u32) -> String {
        let filter = match self.filter {
            Filter::Bicubic => "bicubic",
            Filter::Bilinear => "bilinear",
        };
        match self.resize {
            Resize::Squash => format!("squash to {size}, {filter}"),
            Resize::ShortestThenCrop { shortest, rounding } => {
                let rounding = match rounding {
                    Rounding::Torchvision => "torchvision",
                    Rounding::Transformers => "transformers",
                    Rounding::Immich => "immich",
                };
                format!("shortest side {}, centre crop {size} ({rounding}), {filter}", shortest.unwrap_or(size))
            }
        }
    }
}

/// Everything the core asks about a model folder.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The family's name.
    pub family: &'static str,
    /// The variant ("" for the plain one).
    pub variant: String,
    /// The vision tower's graph, where the family keeps it (it may be absent).
    pub visual: PathBuf,
    /// The text tower's graph, where the family keeps it (it may be absent).
    pub textual: PathBuf,
    /// The tokenizer's `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// Every file whose bytes make the model what it is (the fingerprint's input).
    pub files: Vec<PathBuf>,
    /// The configuration file that states sizes (named in messages).
    pub config_file: PathBuf,
    /// The embedding width, where the configuration states it.
    pub embed_dim: Option<usize>,
    /// How images become the vision tower's input.
    pub image: ImageRecipe,
    /// How texts become the text tower's input.
    pub text: TextRecipe,
    /// Whether the graphs' outputs are already L2-normalised (Immich exports
    /// with `normalize=True`): `normalized => false` cannot undo that.
    pub outputs_normalized: bool,
    /// How `clip_classify` turns similarities into probabilities.
    pub logits: Logits,
    /// Free text for `clip_models()`.
    pub description: Option<String>,
    /// The family's rule for which graph inputs and outputs are which.
    pub bind_visual: fn(&Signature) -> std::result::Result<Binding, String>,
    /// The same for the text tower.
    pub bind_textual: fn(&Signature) -> std::result::Result<Binding, String>,
}

/// The logit scale used where a CLIP folder states none: OpenAI CLIP's trained
/// `logit_scale.exp()`, which training clamps at 100 (clip-shapes' too).
pub const DEFAULT_LOGIT_SCALE: f32 = 100.0;

/// Zero-shot scores from cosine similarities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logits {
    /// Softmax over the labels (CLIP) or a sigmoid per label (SigLIP).
    pub scoring: Scoring,
    /// Multiplies the cosine similarity.
    pub scale: f32,
    /// Added after scaling (SigLIP's `logit_bias`; 0 for CLIP).
    pub bias: f32,
    /// Where the scale and bias come from: the file that states them, or
    /// "default" (the documented defaults of the family).
    pub source: &'static str,
}

/// How a family turns logits into probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoring {
    /// CLIP: `softmax(scale * cos)` over the labels; the probabilities sum to 1.
    Softmax,
    /// SigLIP: `sigmoid(scale * cos + bias)` for each label on its own.
    Sigmoid,
}

impl Scoring {
    /// The name `clip_model_layouts()` shows.
    pub fn name(self) -> &'static str {
        match self {
            Scoring::Softmax => "softmax",
            Scoring::Sigmoid => "sigmoid",
        }
    }
}

/// The image side of a family: how the decoded RGB image is resized, cropped
/// and normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecipe {
    /// Side of the square input, where the configuration states it (else the graph's, else 224).
    pub size: Option<u32>,
    /// Shorter side and centre crop, or a squash.
    pub resize: Resize,
    /// PIL's resampling filter.
    pub filter: Filter,
    /// Per-channel mean, RGB.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, RGB.
    pub std: [f32; 3],
}

/// The text side of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRecipe {
    /// Token slots, where the configuration states it (else the graph's, else 77).
    pub context_length: Option<usize>,
    /// What fills the slots after the end-of-text token.
    pub pad: PadToken,
    /// What happens to the text before the tokenizer's own normaliser.
    pub cleanup: TextCleanup,
    /// The tower reads tokens under a causal mask and pools at the end-of-text
    /// token (OpenAI CLIP): the slots after it never change the embedding, so
    /// the tower may run on the tokens up to it. False for towers that pool
    /// over every slot (SigLIP).
    pub causal: bool,
}

/// A graph's tensor inputs or outputs: (name, element type, dims with -1 where dynamic).
pub type Tensors = Vec<(String, TensorElementType, Vec<i64>)>;

/// What a graph declares, for a family's binding rule.
#[derive(Debug, Clone)]
pub struct Signature {
    pub inputs: Tensors,
    pub outputs: Tensors,
}

/// Which of a graph's inputs and outputs the tower uses.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Pixels `[N,3,S,S]` or token ids `[N,L]`: name, type, dims.
    pub input: (String, TensorElementType, Vec<i64>),
    /// An attention mask beside the ids (1 up to the end-of-text token, then 0).
    pub mask: Option<(String, TensorElementType)>,
    /// The embedding `[N,D]`: name and dims.
    pub output: (String, Vec<i64>),
    /// The embedding's element type: float32, or float16 (transformers.js's
    /// `_fp16` exports take and give float16; the core converts at the edges).
    pub output_type: TensorElementType,
}

#[cfg(test)]
mod tests;
