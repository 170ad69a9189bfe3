//! What a family is ([`Family`]: how it recognises and describes a folder)
//! and what it says about one model ([`Layout`]).

use std::path::{Path, PathBuf};

use super::binding::BindFn;
use crate::error::Result;
use crate::recipe::{ImageRecipe, Logits, TextRecipe};

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

/// `Family::variants` of a family whose folders hold one set of weights.
pub(super) fn plain_only(_dir: &Path) -> Vec<String> {
    vec![String::new()]
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
    pub bind_visual: BindFn,
    /// The same for the text tower.
    pub bind_textual: BindFn,
}
