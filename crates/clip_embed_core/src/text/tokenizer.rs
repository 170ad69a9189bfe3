//! [`ClipTokenizer`]: a `tokenizer.json` read the way the model's family
//! reads it, padded to the tower's context.

use std::path::Path;

use tokenizers::{NormalizerWrapper, PreTokenizerWrapper, Tokenizer};

use super::generic::GenericPath;
use super::openai::OpenAiPath;
use crate::cancel::CancelCheck;
use crate::error::{bounded, io_error, Error, Result};
use crate::recipe::{PadToken, TextCleanup};

/// OpenAI's `<|startoftext|>` id in the 49,408-token CLIP vocabulary.
pub const START_OF_TEXT: u32 = 49406;
/// OpenAI's `<|endoftext|>` id; text pooling reads the features at this token.
pub const END_OF_TEXT: u32 = 49407;

/// A loaded CLIP tokenizer with its context length and pad id.
pub struct ClipTokenizer {
    pub(super) tokenizer: Tokenizer,
    context_length: usize,
    pad_id: i64,
    /// How a text is read: OpenAI's chunks, or every other family's prefixes.
    pub(super) path: ReadPath,
}

/// The two ways of reading a text into ids.
pub(super) enum ReadPath {
    OpenAi(OpenAiPath),
    Generic(GenericPath),
}

impl ClipTokenizer {
    /// Loads a Hugging Face `tokenizer.json` (the file `tools/build_tokenizer.py`
    /// writes, or the one shipped with `openai/clip-vit-*` models); slots after
    /// the end-of-text token hold `pad_id` (the model family says which).
    pub fn from_file(path: &Path, context_length: usize, pad: &PadToken, cleanup: TextCleanup) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| io_error("tokenizer file", path, e))?;
        let invalid =
            |what: String| Error::InvalidModel(format!("invalid tokenizer file \"{}\": {what}", path.display()));
        let mut tokenizer = Tokenizer::from_bytes(&bytes).map_err(|e| invalid(e.to_string()))?;
        // A published tokenizer.json may carry its own padding or truncation
        // (to 77, to 64); the family's recipe pads and truncates here instead.
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| invalid(e.to_string()))?;
        let special = |name: &str, fallback: u32| tokenizer.token_to_id(name).unwrap_or(fallback);
        let start_of_text = special("<|startoftext|>", START_OF_TEXT);
        let end_of_text = special("<|endoftext|>", END_OF_TEXT);
        if context_length < 2 {
            return Err(Error::InvalidModel(format!("context length {context_length} is below 2")));
        }
        let pad_id = match pad {
            PadToken::Id(id) => *id,
            PadToken::Named(token) => match tokenizer.token_to_id(token) {
                Some(id) => i64::from(id),
                None => return Err(invalid(format!("it has no pad token \"{}\"", bounded(token)))),
            },
        };
        let path = if cleanup == TextCleanup::OpenAi {
            match_pythons_reading(&mut tokenizer).map_err(invalid)?;
            ReadPath::OpenAi(OpenAiPath { start_of_text, end_of_text })
        } else {
            let generic = GenericPath::new(&tokenizer, cleanup).map_err(invalid)?;
            if generic.special_tokens() >= context_length {
                return Err(invalid(format!("its special tokens fill the context of {context_length}")));
            }
            ReadPath::Generic(generic)
        };
        Ok(ClipTokenizer { tokenizer, context_length, pad_id, path })
    }

    /// The same tokenizer for a tower of `context_length` slots.
    pub fn with_context_length(self, context_length: usize) -> Result<Self> {
        if context_length < 2 {
            return Err(Error::InvalidModel(format!("context length {context_length} is below 2")));
        }
        Ok(ClipTokenizer { context_length, ..self })
    }

    /// The number of token slots the text tower takes (77 for OpenAI's models).
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Token ids as `clip.tokenize(text, truncate=True)` gives them: SOT, the
    /// BPE ids, EOT, padding to the context length. Longer text is cut
    /// and EOT kept last, since the text tower pools at EOT.
    ///
    /// Only as much of `text` is read as the context needs: it is cleaned and
    /// tokenized a chunk at a time (`openai::TextChunks`), and reading stops once the
    /// context is full. Tokens never depend on what follows a chunk, so the ids
    /// are those of the whole text (a test compares them on generated texts).
    /// Before, a 10 MB word took 15.6 s and 1 GB of memory. `cancel` is polled
    /// between chunks, so a long run of characters that give no token (1 GB of
    /// spaces) still stops when the query is cancelled.
    pub fn encode(&self, text: &str, cancel: Option<CancelCheck>) -> Result<Vec<i64>> {
        self.encode_counted(text, cancel).map(|(ids, _)| ids)
    }

    /// [`encode`](Self::encode), and how many of the slots are the text's
    /// (start to end of text): an attention mask covers those.
    pub fn encode_counted(&self, text: &str, cancel: Option<CancelCheck>) -> Result<(Vec<i64>, usize)> {
        let mut ids = match &self.path {
            ReadPath::OpenAi(openai) => openai.encode(&self.tokenizer, self.context_length, text, cancel)?,
            ReadPath::Generic(generic) => generic.encode(&self.tokenizer, self.context_length, text, cancel)?,
        };
        let real = ids.len();
        ids.resize(self.context_length, self.pad_id);
        Ok((ids, real))
    }
}

/// OpenAI's clean-up runs before the tokenizer here, as in Python: ftfy's NFC,
/// then `html.unescape`, then Python's `lower()`. A `tokenizer.json`
/// normalizer's own NFC and Lowercase steps would redo them with Rust's
/// tables and after the unescaping, where Python does not: "<b>e&#769;"
/// keeps its combining accent in Python (ftfy does not unescape a line with
/// '<'), and NFC would compose it into another token. So those two steps are
/// dropped for this family; whitespace collapse stays the tokenizer's.
///
/// OpenAI compiles its split pattern with `re.IGNORECASE`, which
/// `tokenizer.json` files drop. After `lower()` that flag changes exactly two
/// things (every code point checked with the `regex` module): U+0345 matches
/// none of the pattern's classes, so it gives no token, and "'ſ" (long s) is
/// the contraction "'s". Where the file holds OpenAI's pattern, it is
/// rewritten to read both the same way.
fn match_pythons_reading(tokenizer: &mut Tokenizer) -> std::result::Result<(), String> {
    if let Some(normalizer) = tokenizer.get_normalizer() {
        let mut json = serde_json::to_value(normalizer).map_err(|e| e.to_string())?;
        let redone = |step: &serde_json::Value| matches!(step["type"].as_str(), Some("NFC" | "Lowercase"));
        if redone(&json) {
            tokenizer.with_normalizer(None::<NormalizerWrapper>);
        } else if let Some(steps) = json.get_mut("normalizers").and_then(serde_json::Value::as_array_mut) {
            steps.retain(|step| !redone(step));
            let normalizer: NormalizerWrapper = serde_json::from_value(json).map_err(|e| e.to_string())?;
            tokenizer.with_normalizer(Some(normalizer));
        }
    }
    if let Some(pre_tokenizer) = tokenizer.get_pre_tokenizer() {
        let mut json = serde_json::to_value(pre_tokenizer).map_err(|e| e.to_string())?;
        if rewrite_openai_pattern(&mut json) {
            let pre_tokenizer: PreTokenizerWrapper = serde_json::from_value(json).map_err(|e| e.to_string())?;
            tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
        }
    }
    Ok(())
}

/// OpenAI's split pattern as `tokenizer.json` files write it.
const OPENAI_SPLIT_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";
/// The same split as Python's `regex` module makes it with `re.IGNORECASE`, on lower-case text.
const OPENAI_SPLIT_PATTERN_IGNORING_CASE: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'[s\x{17f}]|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}\x{345}]+";

/// Replaces OpenAI's split pattern wherever it stands in a pre-tokenizer's JSON.
fn rewrite_openai_pattern(json: &mut serde_json::Value) -> bool {
    match json {
        serde_json::Value::Object(map) => {
            let mut rewrote = false;
            for (key, value) in map.iter_mut() {
                if key == "Regex" && value.as_str() == Some(OPENAI_SPLIT_PATTERN) {
                    *value = OPENAI_SPLIT_PATTERN_IGNORING_CASE.into();
                    rewrote = true;
                } else {
                    rewrote |= rewrite_openai_pattern(value);
                }
            }
            rewrote
        }
        serde_json::Value::Array(items) => {
            let mut rewrote = false;
            for item in items {
                rewrote |= rewrite_openai_pattern(item);
            }
            rewrote
        }
        _ => false,
    }
}
