//! What a model family says about its inputs and its scores, as values: how an
//! image becomes the vision tower's input ([`ImageRecipe`]), how a text becomes
//! token ids ([`TextRecipe`]), and how similarities become zero-shot
//! probabilities ([`Logits`]). Families ([`crate::layout`]) fill them in from
//! their configuration files; [`crate::image`] and [`crate::text`] follow them.
//! Nothing here does work, and nothing here imports another module.

// ---- images

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

/// How an image becomes a square of the input's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// The shorter side to `shortest` (the input's side where None), then a
    /// centre crop of the input's side; `rounding` says whose arithmetic.
    ShortestThenCrop { shortest: Option<u32>, rounding: Rounding },
    /// Straight to S×S, the aspect ratio not kept.
    Squash,
}

/// Whose integer arithmetic sizes the resize and places the crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// torchvision (OpenAI, open_clip): long side `int(S * long / short)`, crop
    /// offset `int(round((d - S) / 2.0))`, half to even.
    Torchvision,
    /// transformers' `get_resize_output_image_size` and `center_crop`: the same
    /// long side, crop offset `(d - S) // 2`.
    Transformers,
    /// Immich's `resize_pil`/`crop_pil`: long side `int((long / short) * S)` in
    /// floating point, crop offset `int(d / 2 - S / 2)` (a floor).
    Immich,
}

/// A resampling filter of PIL's, as model families name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `Image.BICUBIC` (3): OpenAI's, Hugging Face's and most open_clip configs'.
    Bicubic,
    /// `Image.BILINEAR` (2): some open_clip configs (`"interpolation": "bilinear"`).
    Bilinear,
}

/// OpenAI CLIP's per-channel normalisation mean (RGB).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel normalisation standard deviation (RGB).
#[allow(clippy::excessive_precision)] // OpenAI's constants as published; f32 rounds them as torch does
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

// ---- texts

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

/// What fills a text's slots after its last token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PadToken {
    /// A fixed id (`clip.tokenize` pads with 0).
    Id(i64),
    /// A token of the tokenizer, by its text (`tokenizer_config.json`'s
    /// `pad_token`): Immich and transformers look its id up the same way.
    Named(String),
}

/// What a family does to a text before the tokenizer's own normaliser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextCleanup {
    /// OpenAI's `clip.tokenize`: ftfy's character fixes and HTML unescaping
    /// ([`crate::text::clean_text`]); start and end tokens added here.
    OpenAi,
    /// Nothing: transformers' fast tokenizers and transformers.js apply only
    /// `tokenizer.json` (its normaliser, and its post-processor's special tokens).
    TokenizerOnly,
    /// Immich's `clean_text`: `" ".join(text.split())`.
    Whitespace,
    /// Immich's `clean_text(canonicalize=True)` (open_clip's SigLIP configs
    /// say `"clean": "canonicalize"`): whitespace joined, ASCII punctuation
    /// removed, `lower()`.
    Canonicalize,
}

impl TextCleanup {
    /// The name `clip_model_layouts()` shows.
    pub fn name(self) -> &'static str {
        match self {
            TextCleanup::OpenAi => "openai (ftfy, html)",
            TextCleanup::TokenizerOnly => "tokenizer.json",
            TextCleanup::Whitespace => "whitespace",
            TextCleanup::Canonicalize => "canonicalize",
        }
    }
}

// ---- zero-shot scores

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
