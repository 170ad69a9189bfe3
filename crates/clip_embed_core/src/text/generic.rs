//! Every family but OpenAI's: the family's cleanup, then `tokenizer.json` as
//! transformers and Immich apply it, on a prefix of the text that grows until
//! the context is full.

use tokenizers::Tokenizer;

use super::scan::skip_whitespace;
use crate::cancel::CancelCheck;
use crate::error::{Error, Result};
use crate::recipe::TextCleanup;

/// Bytes of text the generic path ([`ClipTokenizer::encode_counted`] for
/// families other than OpenAI) tokenizes first; it takes four times as much
/// until the context is full, up to [`GENERIC_MAX_BYTES`].
pub(super) const GENERIC_FIRST_BYTES: usize = 4 * 1024;

/// The most text the generic path tokenizes. A cut falls at whitespace, so
/// the words before it tokenize as in the whole text, and runs of whitespace
/// are read as one space where the tokenizer makes no difference (see
/// [`ClipTokenizer::encode_generic`]); only a text whose first 4 MiB of
/// non-blank content hold no whitespace and fewer tokens than the context
/// could differ from the whole text's tokens. Measured once with
/// `examples/long_text.rs` (the installed CLIP vocabulary): 1 GB of spaces
/// then a word 0.67 s (the OpenAI path 0.21 s), a cancel honoured within 5.4
/// ms; a 10 MB word and 8 M repeats of "ab cd " 0.001 s.
pub(super) const GENERIC_MAX_BYTES: usize = 4 << 20;

/// The generic reading of a text: the family's cleanup, the tokenizer's own
/// special tokens around the text's.
pub(super) struct GenericPath {
    pub(super) cleanup: TextCleanup,
    /// The ids the tokenizer's post-processor puts before and after the text.
    pub(super) framing: (Vec<i64>, Vec<i64>),
    /// Whether a run of whitespace tokenizes as one space (a probe at load
    /// says), so a long run need not be read twice or count towards the bound.
    pub(super) whitespace_collapses: bool,
}

impl GenericPath {
    /// The path for `tokenizer` after `cleanup`; an error says why the
    /// tokenizer cannot be read this way.
    pub(super) fn new(tokenizer: &Tokenizer, cleanup: TextCleanup) -> std::result::Result<GenericPath, String> {
        Ok(GenericPath {
            cleanup,
            framing: framing(tokenizer)?,
            whitespace_collapses: whitespace_collapses(tokenizer, cleanup),
        })
    }

    /// How many slots the special tokens take.
    pub(super) fn special_tokens(&self) -> usize {
        self.framing.0.len() + self.framing.1.len()
    }

    /// Every family but OpenAI's: the family's cleanup, then `tokenizer.json`
    /// as transformers/Immich apply it (normaliser, pre-tokenizer, model, the
    /// post-processor's special tokens), truncated to the context keeping the
    /// special tokens (the caller pads). Bounded like the OpenAI path:
    /// a prefix cut at whitespace is tokenized, four times longer each time,
    /// until it gives more tokens than fit; whitespace runs are read as one
    /// space where the tokenizer does so itself, so 1 GB of blanks before or
    /// between words costs a scan, not a tokenization.
    pub(super) fn encode(
        &self,
        tokenizer: &Tokenizer,
        context_length: usize,
        text: &str,
        cancel: Option<CancelCheck>,
    ) -> Result<Vec<i64>> {
        let (prefix, suffix) = &self.framing;
        let room = context_length - prefix.len() - suffix.len();
        let mut budget = GENERIC_FIRST_BYTES;
        let body = loop {
            if crate::cancel::requested(cancel) {
                return Err(Error::Cancelled);
            }
            let (piece, whole) = self.prefix(text, budget, cancel)?;
            let cleaned = self.cleanup.apply(&piece);
            let encoding = tokenizer
                .encode_fast(cleaned.as_ref(), false)
                .map_err(|e| Error::InvalidArgument(format!("could not tokenize text: {e}")))?;
            let ids = encoding.get_ids();
            // One token more than fits: a cut may leave a trailing piece (a lone "▁").
            if whole || ids.len() > room + 1 || budget >= GENERIC_MAX_BYTES {
                break ids.iter().take(room).map(|&id| i64::from(id)).collect::<Vec<_>>();
            }
            budget *= 4;
        };
        if body.is_empty() {
            // Blank, or nothing left once cleaned (SigLIP's canonicalisation removes punctuation).
            return Err(Error::InvalidArgument(format!(
                "text to embed must not be empty (it has no tokens after the model's text cleanup, {})",
                self.cleanup.name()
            )));
        }
        let mut ids = Vec::with_capacity(context_length);
        ids.extend_from_slice(prefix);
        ids.extend(body);
        ids.extend_from_slice(suffix);
        Ok(ids)
    }

    /// The text up to about `budget` bytes of it, cut just before whitespace
    /// where the text goes on, with each whitespace run read as one space
    /// where the tokenizer makes no difference; and whether that is the whole text.
    fn prefix(&self, text: &str, budget: usize, cancel: Option<CancelCheck>) -> Result<(String, bool)> {
        let mut out = String::with_capacity(budget.min(text.len()));
        let mut at = 0;
        while at < text.len() {
            // The next word, looked for no further than the budget reaches.
            let mut limit = (at + budget.saturating_sub(out.len()) + 1).min(text.len());
            while !text.is_char_boundary(limit) {
                limit += 1;
            }
            let run_start = text[at..limit].find(char::is_whitespace).map_or(limit, |i| at + i);
            let word = &text[at..run_start];
            if out.len() + word.len() > budget {
                // Over the budget in a word: cut at the last whitespace kept (else in the word).
                let mut end = budget.saturating_sub(out.len());
                while !word.is_char_boundary(end) {
                    end -= 1;
                }
                out.push_str(&word[..end]);
                if let Some(cut) = out.rfind(char::is_whitespace).filter(|&cut| cut > 0) {
                    out.truncate(cut);
                }
                return Ok((out, false));
            }
            out.push_str(word);
            if run_start == text.len() {
                break;
            }
            let run_end = skip_whitespace(text, run_start, cancel)?;
            let blank = if self.whitespace_collapses { " " } else { &text[run_start..run_end] };
            if out.len() + blank.len() > budget {
                // Over the budget in whitespace read as written: a cut there is a cut at whitespace.
                let mut end = budget - out.len();
                while !blank.is_char_boundary(end) {
                    end -= 1;
                }
                out.push_str(&blank[..end]);
                return Ok((out, false));
            }
            out.push_str(blank);
            at = run_end;
        }
        Ok((out, true))
    }
}

/// The ids a tokenizer's post-processor adds before and after a text (CLIP's
/// start and end tokens, SigLIP's `</s>` after), found by encoding a probe with
/// and without them.
fn framing(tokenizer: &Tokenizer) -> std::result::Result<(Vec<i64>, Vec<i64>), String> {
    let encode = |special: bool| {
        tokenizer.encode_fast("a", special).map(|e| e.get_ids().iter().map(|&id| i64::from(id)).collect::<Vec<_>>())
    };
    let plain = encode(false).map_err(|e| e.to_string())?;
    let framed = encode(true).map_err(|e| e.to_string())?;
    let at = (0..=framed.len().saturating_sub(plain.len()))
        .find(|&at| framed[at..].starts_with(&plain))
        .ok_or("its post-processor changes the text's own tokens")?;
    Ok((framed[..at].to_vec(), framed[at + plain.len()..].to_vec()))
}

/// Whether `tokenizer` (after `cleanup`) gives the same ids for a run of
/// mixed whitespace as for one space, before, between and after words:
/// CLIP's and SigLIP's normalisers replace `\s+` by a space, Immich's
/// `clean_text` joins on whitespace. A tokenizer that makes a difference gets
/// its whitespace read as written.
fn whitespace_collapses(tokenizer: &Tokenizer, cleanup: TextCleanup) -> bool {
    let ids = |text: &str| {
        let cleaned = cleanup.apply(text);
        tokenizer.encode_fast(cleaned.as_ref(), false).map(|e| e.get_ids().to_vec()).ok()
    };
    let run = " \t\n\r\u{a0}\u{85}\u{2003}\u{3000} ";
    [("a b", format!("a{run}b")), (" a", format!("{run}a")), ("a ", format!("a{run}"))]
        .iter()
        .all(|(single, long)| ids(single).is_some() && ids(single) == ids(long))
}
