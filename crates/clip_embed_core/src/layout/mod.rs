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
//! `clip_config.json`).

use std::path::{Path, PathBuf};

use ort::value::TensorElementType;

use crate::error::Result;

pub mod openai;

/// One family: whether a folder is one of its models, and its description.
pub struct Family {
    /// Shown by `clip_models()`.
    pub name: &'static str,
    /// Cheap: looks at which files exist.
    pub recognises: fn(dir: &Path) -> bool,
    /// Reads the family's configuration files and says everything the core needs.
    pub describe: fn(dir: &Path, model_dir: &Path) -> Result<Layout>,
}

/// Every family, in the order folders are tried.
pub const FAMILIES: &[Family] = &[openai::FAMILY];

/// The family whose folder `dir` is, if any.
pub fn family_of(dir: &Path) -> Option<&'static Family> {
    FAMILIES.iter().find(|family| (family.recognises)(dir))
}

/// Everything the core asks about a model folder.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The family's name.
    pub family: &'static str,
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
    /// CLIP's logit scale (the multiplier of cosine similarities before the
    /// softmax), where the folder states it.
    pub logit_scale: Option<f32>,
    /// Free text for `clip_models()`.
    pub description: Option<String>,
    /// The family's rule for which graph inputs and outputs are which.
    pub bind_visual: fn(&Signature) -> std::result::Result<Binding, String>,
    /// The same for the text tower.
    pub bind_textual: fn(&Signature) -> std::result::Result<Binding, String>,
}

/// The logit scale used where a folder states none: OpenAI CLIP's trained
/// `logit_scale.exp()`, which training clamps at 100 (clip-shapes' too).
pub const DEFAULT_LOGIT_SCALE: f32 = 100.0;

/// The image side of a family: OpenAI's transform (shorter side to `size`,
/// bicubic, centre crop) with the family's size and normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecipe {
    /// Side of the square input, where the configuration states it (else the graph's, else 224).
    pub size: Option<u32>,
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
    /// The id that fills the slots after the end-of-text token.
    pub pad_id: i64,
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
}
