//! OpenAI CLIP tokenization: `clip.tokenize(text, truncate=True)`.
//!
//! OpenAI's `SimpleTokenizer` runs `ftfy.fix_text`, `html.unescape` twice,
//! whitespace collapse and `lower()` before its regex split and BPE. The last
//! three live in the model's `tokenizer.json` (normalizer, pre-tokenizer, BPE);
//! [`clean_text`] does the rest in Rust: HTML unescaping and every ftfy fix that
//! is a plain character mapping (C1 controls read as Windows-1252, Latin
//! ligatures, full/half width, curly quotes, terminal escapes, control
//! characters, NFC). ftfy's mojibake repair (`fix_encoding`) is a statistical
//! heuristic and is not reproduced: text that is itself mis-decoded UTF-8
//! ("cafÃ©") tokenizes as written.
//!
//! Only as much text is read as 77 tokens need ([`ClipTokenizer::encode`]):
//! tokenizing the whole input let any caller hold a backend for 30 s and 5 GB
//! with one `repeat()`.

use std::path::Path;

use tokenizers::Tokenizer;
use unicode_normalization::UnicodeNormalization;

use crate::cancel::CancelCheck;
use crate::error::{bounded, io_error, Error, Result};

/// OpenAI's `<|startoftext|>` id in the 49,408-token CLIP vocabulary.
pub const START_OF_TEXT: u32 = 49406;
/// OpenAI's `<|endoftext|>` id; text pooling reads the features at this token.
pub const END_OF_TEXT: u32 = 49407;

/// ftfy's `max_decode_length`: `fix_text` fixes a line at a time, and a line
/// longer than this many characters in pieces of this many.
const FTFY_SEGMENT_CHARS: usize = 1_000_000;

/// Bytes cleaned and tokenized per step. A step ends just after a separator
/// (see [`is_separator`]), so the text is read a few KiB past the 75th token at most.
const CHUNK_BYTES: usize = 4 * 1024;

/// The longest run without a separator that is cleaned and tokenized in one
/// step. A longer run is cut here (on a character boundary) and its first
/// 64 KiB are tokenized as a word of their own. That gives the run's own ids
/// whenever those 64 KiB hold the 75 tokens, which any run of letters, digits
/// or punctuation does: no CLIP token covers more than 32 bytes (eight emoji;
/// a test checks the vocabulary), so 75 tokens span at most 2,400 bytes, and
/// the BPE merges that the cut could change sit at its end, 60 KiB away. Only
/// a run made mostly of characters that cleaning deletes can differ.
const MAX_RUN_BYTES: usize = 64 * 1024;

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
    /// ([`clean_text`]); start and end tokens added here.
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

    /// The cleaned text, for the families whose cleanup is a plain string function.
    fn apply(self, text: &str) -> std::borrow::Cow<'_, str> {
        match self {
            TextCleanup::OpenAi | TextCleanup::TokenizerOnly => text.into(),
            TextCleanup::Whitespace => python_split_join(text).into(),
            TextCleanup::Canonicalize => python_split_join(text)
                .chars()
                .filter(|c| !c.is_ascii_punctuation())
                .collect::<String>()
                .to_lowercase()
                .into(),
        }
    }
}

/// Python's `" ".join(text.split())`: `str.split()` also splits at the
/// separators U+001C..U+001F, which Rust's `char::is_whitespace` leaves out.
fn python_split_join(text: &str) -> String {
    let is_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    text.split(is_space).filter(|word| !word.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Bytes of text the generic path ([`ClipTokenizer::encode_counted`] for
/// families other than OpenAI) tokenizes first; it takes four times as much
/// until the context is full, up to [`GENERIC_MAX_BYTES`].
const GENERIC_FIRST_BYTES: usize = 4 * 1024;
/// The most text the generic path tokenizes. A cut falls at whitespace, so
/// the words before it tokenize as in the whole text, and runs of whitespace
/// are read as one space where the tokenizer makes no difference (see
/// [`ClipTokenizer::encode_generic`]); only a text whose first 4 MiB of
/// non-blank content hold no whitespace and fewer tokens than the context
/// could differ from the whole text's tokens. Measured once with
/// `examples/long_text.rs` (the installed CLIP vocabulary): 1 GB of spaces
/// then a word 0.67 s (the OpenAI path 0.21 s), a cancel honoured within 5.4
/// ms; a 10 MB word and 8 M repeats of "ab cd " 0.001 s.
const GENERIC_MAX_BYTES: usize = 4 << 20;

/// A loaded CLIP tokenizer with its context length and pad id.
pub struct ClipTokenizer {
    tokenizer: Tokenizer,
    start_of_text: u32,
    end_of_text: u32,
    context_length: usize,
    pad_id: i64,
    cleanup: TextCleanup,
    /// Generic path: the ids the tokenizer's post-processor puts before and after the text.
    framing: (Vec<i64>, Vec<i64>),
    /// Generic path: whether a run of whitespace tokenizes as one space (a
    /// probe at load says), so a long run need not be read twice or count
    /// towards the bound.
    whitespace_collapses: bool,
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
        let (framing, whitespace_collapses) = if cleanup == TextCleanup::OpenAi {
            ((Vec::new(), Vec::new()), false)
        } else {
            (framing(&tokenizer).map_err(invalid)?, whitespace_collapses(&tokenizer, cleanup))
        };
        if framing.0.len() + framing.1.len() >= context_length {
            return Err(invalid(format!("its special tokens fill the context of {context_length}")));
        }
        Ok(ClipTokenizer {
            tokenizer,
            start_of_text,
            end_of_text,
            context_length,
            pad_id,
            cleanup,
            framing,
            whitespace_collapses,
        })
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
    /// tokenized a chunk at a time ([`TextChunks`]), and reading stops once the
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
        if self.cleanup != TextCleanup::OpenAi {
            return self.encode_generic(text, cancel);
        }
        let body_room = self.context_length - 2;
        let mut ids = Vec::with_capacity(self.context_length);
        ids.push(i64::from(self.start_of_text));
        let mut chunks = TextChunks::new(text);
        while ids.len() - 1 < body_room {
            if crate::cancel::requested(cancel) {
                return Err(Error::Cancelled);
            }
            let Some(cleaned) = chunks.next_cleaned() else { break };
            let encoding = self
                .tokenizer
                .encode_fast(cleaned.as_str(), false)
                .map_err(|e| Error::InvalidArgument(format!("could not tokenize text: {e}")))?;
            let room = body_room - (ids.len() - 1);
            ids.extend(encoding.get_ids().iter().take(room).map(|&id| i64::from(id)));
        }
        if ids.len() == 1 {
            return Err(Error::InvalidArgument("text to embed must not be empty".into()));
        }
        ids.push(i64::from(self.end_of_text));
        let real = ids.len();
        ids.resize(self.context_length, self.pad_id);
        Ok((ids, real))
    }
}

impl ClipTokenizer {
    /// Every family but OpenAI's: the family's cleanup, then `tokenizer.json`
    /// as transformers/Immich apply it (normaliser, pre-tokenizer, model, the
    /// post-processor's special tokens), truncated to the context keeping the
    /// special tokens, padded with the pad id. Bounded like the OpenAI path:
    /// a prefix cut at whitespace is tokenized, four times longer each time,
    /// until it gives more tokens than fit; whitespace runs are read as one
    /// space where the tokenizer does so itself, so 1 GB of blanks before or
    /// between words costs a scan, not a tokenization.
    fn encode_generic(&self, text: &str, cancel: Option<CancelCheck>) -> Result<(Vec<i64>, usize)> {
        let (prefix, suffix) = &self.framing;
        let room = self.context_length - prefix.len() - suffix.len();
        let mut budget = GENERIC_FIRST_BYTES;
        let body = loop {
            if crate::cancel::requested(cancel) {
                return Err(Error::Cancelled);
            }
            let (piece, whole) = self.generic_prefix(text, budget, cancel)?;
            let cleaned = self.cleanup.apply(&piece);
            let encoding = self
                .tokenizer
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
        let mut ids = Vec::with_capacity(self.context_length);
        ids.extend_from_slice(prefix);
        ids.extend(body);
        ids.extend_from_slice(suffix);
        let real = ids.len();
        ids.resize(self.context_length, self.pad_id);
        Ok((ids, real))
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

impl ClipTokenizer {
    /// The text up to about `budget` bytes of it, cut just before whitespace
    /// where the text goes on, with each whitespace run read as one space
    /// where the tokenizer makes no difference; and whether that is the whole text.
    fn generic_prefix(&self, text: &str, budget: usize, cancel: Option<CancelCheck>) -> Result<(String, bool)> {
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

/// Where the whitespace run at `at` ends, scanned [`SCAN_BYTES_PER_STEP`] at
/// a time with `cancel` polled between steps (a run may be 1 GB).
fn skip_whitespace(text: &str, mut at: usize, cancel: Option<CancelCheck>) -> Result<usize> {
    let bytes = text.as_bytes();
    let mut polled = at;
    while at < text.len() {
        // ASCII whitespace a byte at a time; anything else decoded and asked.
        let ascii = bytes[at..].iter().take(SCAN_BYTES_PER_STEP).position(|&b| !b.is_ascii_whitespace() && b != 0x0b);
        match ascii {
            None => at = (at + SCAN_BYTES_PER_STEP).min(text.len()),
            Some(i) if bytes[at + i] < 0x80 => return Ok(at + i),
            Some(i) => {
                at += i;
                match text[at..].chars().next() {
                    Some(c) if c.is_whitespace() => at += c.len_utf8(),
                    _ => return Ok(at),
                }
            }
        }
        if at - polled >= SCAN_BYTES_PER_STEP {
            polled = at;
            if crate::cancel::requested(cancel) {
                return Err(Error::Cancelled);
            }
        }
    }
    Ok(at)
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

/// Bytes of token-less characters skipped, or of ftfy segments entered, per
/// step of [`TextChunks`]: [`ClipTokenizer::encode`] polls cancel between steps,
/// so a cancel waits for at most this much scanning (a few ms).
const SCAN_BYTES_PER_STEP: usize = 16 << 20;

/// How far [`is_blank`] looks.
const BLANK_CHECK_BYTES: usize = 1 << 20;

/// Whether `text` certainly gives no token: nothing in its first MiB but
/// whitespace and the control characters ftfy removes, and nothing after. A
/// cheap check before a model loads (at once for ordinary text); a longer
/// blank text is found blank by [`ClipTokenizer::encode`] instead, which polls
/// cancel while it reads.
pub fn is_blank(text: &str) -> bool {
    skip_tokenless(text, 0, BLANK_CHECK_BYTES) == text.len()
}

/// A separator ends a chunk: a character that no HTML character reference
/// (`html.unescape`'s pattern excludes `\t \n \x0c ' '`), ftfy fix, NFC
/// composition, special token or pre-tokenizer word can span. `\r` and `\x0b`
/// are whitespace too, but may sit inside a named reference; they do not end a chunk.
fn is_separator(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0c')
}

/// The position of the first character at or after `at` that may give a token:
/// skips whitespace and the control characters ftfy deletes (ESC excepted,
/// which starts a terminal escape). Only called at the start of a chunk, just
/// after a separator, where such characters can join nothing: they neither
/// merge two words nor form a reference.
fn skip_tokenless(text: &str, at: usize, budget: usize) -> usize {
    let bytes = text.as_bytes();
    let stop = at.saturating_add(budget).min(bytes.len());
    let blank_byte = |b: u8| matches!(b, 0x00..=0x1a | 0x1c..=0x20 | 0x7f);
    let mut i = at;
    while i < stop {
        let width = match bytes[i] {
            b if blank_byte(b) => {
                // A run of one repeated blank byte (spaces, line feeds), 8 bytes a step.
                let word = u64::from_ne_bytes([b; 8]);
                let run_start = i;
                while i + 8 <= stop && u64::from_ne_bytes(bytes[i..i + 8].try_into().expect("8 bytes")) == word {
                    i += 8;
                }
                if i > run_start {
                    continue; // look at the byte after the run afresh
                }
                1
            }
            0xc2 if bytes.get(i + 1) == Some(&0xa0) => 2, // U+00A0
            lead @ (0xe1 | 0xe2 | 0xe3 | 0xef) if i + 2 < bytes.len() => {
                // A valid &str: a three-byte sequence, decoded in place.
                let code = (u32::from(lead & 0x0f) << 12)
                    | (u32::from(bytes[i + 1] & 0x3f) << 6)
                    | u32::from(bytes[i + 2] & 0x3f);
                if !char::from_u32(code).is_some_and(is_tokenless_wide) {
                    break;
                }
                // A run of the same character (U+FEFF, U+3000, ...), 24 bytes a step.
                let triple = [bytes[i], bytes[i + 1], bytes[i + 2]];
                let pattern: [u8; 24] = std::array::from_fn(|k| triple[k % 3]);
                let run_start = i;
                while i + 24 <= stop && bytes[i..i + 24] == pattern {
                    i += 24;
                }
                if i > run_start {
                    continue;
                }
                3
            }
            _ => break,
        };
        i += width;
    }
    i.min(bytes.len())
}

/// Characters in a UTF-8 byte slice: bytes that are not continuation bytes
/// (0b10xxxxxx), counted 8 at a time.
fn count_chars(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut continuation = 0usize;
    for word in &mut words {
        let w = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
        // Bit 7 set and bit 6 clear in a byte marks a continuation byte.
        continuation += (w & !(w << 1) & 0x8080_8080_8080_8080).count_ones() as usize;
    }
    continuation += words.remainder().iter().filter(|&&b| b & 0xc0 == 0x80).count();
    bytes.len() - continuation
}

/// The three-byte characters that give no token: Unicode whitespace (tokenizer
/// and OpenAI's `\s+` collapse), and the format characters ftfy removes.
fn is_tokenless_wide(c: char) -> bool {
    matches!(c,
        '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
        | '\u{206a}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffc}')
}

/// Walks a text in cleaned chunks, as [`clean_text`] would clean the whole.
///
/// Each chunk lies inside one ftfy segment (a line, or 1,000,000 characters of
/// one) and ends just after a separator, at the segment's end, or after
/// [`MAX_RUN_BYTES`] of a run without one. Cleaning is then chunk-local: every
/// fix maps characters or references that cannot cross a separator, and
/// ftfy's one segment-wide rule ("no HTML unescaping in a segment that contains
/// '<', nor in any later one") is decided by scanning the segment once.
struct TextChunks<'a> {
    text: &'a str,
    at: usize,
    segment_end: usize,
    /// ftfy's `unescape_html="auto"` for the current segment; once off, off for good.
    ftfy_unescapes: bool,
}

impl<'a> TextChunks<'a> {
    fn new(text: &'a str) -> Self {
        TextChunks { text, at: 0, segment_end: 0, ftfy_unescapes: true }
    }

    /// The next chunk, cleaned; `None` at the end of the text. An empty chunk
    /// when this step's scanning budget ran out first (the caller polls cancel).
    fn next_cleaned(&mut self) -> Option<String> {
        let start = self.at;
        self.at = skip_tokenless(self.text, self.at, SCAN_BYTES_PER_STEP);
        if self.at >= self.text.len() {
            return None;
        }
        if self.at - start >= SCAN_BYTES_PER_STEP {
            return Some(String::new());
        }
        if self.at >= self.segment_end {
            self.enter_segment_at(self.at);
        }
        let end = self.chunk_end();
        let cleaned = self.ftfy_fixed(end);
        self.at = end;
        Some(openai_unescape(cleaned))
    }

    /// ftfy's fixes on `self.at..end`, a segment part at a time, each with
    /// its segment's unescaping rule: ftfy fixes segments independently, and a
    /// chunk may cross a 1,000,000-character boundary inside a word.
    fn ftfy_fixed(&mut self, end: usize) -> String {
        let mut out = String::new();
        let mut at = self.at;
        while at < end {
            if at >= self.segment_end {
                self.enter_segment_at(at);
            }
            let part_end = self.segment_end.min(end);
            out.push_str(&ftfy_fixpoint(&self.text[at..part_end], self.ftfy_unescapes));
            at = part_end;
        }
        out
    }

    /// Enters the ftfy segment that holds `at`, where everything from the end
    /// of the last segment up to `at` gives no token (so holds no '<', and no
    /// segment in it changes ftfy's rule). Segments end after each '\n' and
    /// every 1,000,000 characters of a line: the last segment's end is such a
    /// boundary, so the line's character count restarts at the last '\n'
    /// before `at`, or there. Scans the skipped bytes at SIMD speed, then at
    /// most one segment's worth (<= 4 MB) from `at`.
    fn enter_segment_at(&mut self, at: usize) {
        let bytes = self.text.as_bytes();
        let from = self.segment_end;
        let line_start = memchr::memrchr(b'\n', &bytes[from..at]).map_or(from, |i| from + i + 1);
        let before = count_chars(&bytes[line_start..at]);
        let left_in_segment = FTFY_SEGMENT_CHARS - before % FTFY_SEGMENT_CHARS;
        let mut chars = 0usize;
        let mut end = bytes.len() - at;
        let mut has_lt = false;
        for (i, &b) in bytes[at..].iter().enumerate() {
            if b & 0xc0 != 0x80 {
                if chars == left_in_segment {
                    end = i;
                    break;
                }
                chars += 1;
            }
            has_lt |= b == b'<';
            if b == b'\n' {
                end = i + 1;
                break;
            }
        }
        self.segment_end = at + end;
        self.ftfy_unescapes &= !has_lt;
    }

    /// Where the chunk starting at `self.at` ends: after a separator, or at
    /// the end of the text (or the 64 KiB cut of [`MAX_RUN_BYTES`]).
    fn chunk_end(&self) -> usize {
        let bytes = self.text.as_bytes();
        let start = self.at;
        if bytes.len() - start <= CHUNK_BYTES {
            return bytes.len();
        }
        // The last separator within CHUNK_BYTES, else the first one within MAX_RUN_BYTES.
        let near = &bytes[start..start + CHUNK_BYTES];
        if let Some(i) = near.iter().rposition(|&b| is_separator(b)) {
            return start + i + 1;
        }
        let far_end = (start + MAX_RUN_BYTES).min(bytes.len());
        if let Some(i) = bytes[start + CHUNK_BYTES..far_end].iter().position(|&b| is_separator(b)) {
            return start + CHUNK_BYTES + i + 1;
        }
        if far_end == bytes.len() {
            return far_end;
        }
        // A run of over 64 KiB without a separator: cut on a character boundary.
        (start + 1..=far_end).rev().find(|&i| self.text.is_char_boundary(i)).unwrap_or(far_end)
    }
}

/// The part of OpenAI's `basic_clean` (ftfy + `html.unescape` twice + strip)
/// that `tokenizer.json` cannot express. See the module docs for what is left
/// out. [`ClipTokenizer::encode`] cleans chunk by chunk and gives the same
/// tokens as cleaning the whole text with this function.
pub fn clean_text(text: &str) -> String {
    // The whole text at once: the reference for the chunked path, not a user of it.
    let mut chunks = TextChunks::new(text);
    let fixed = chunks.ftfy_fixed(text.len());
    openai_unescape(fixed).trim().to_string()
}

/// ftfy's fixes on (part of) one segment until nothing changes, unescaping
/// HTML only where ftfy's rule allows.
fn ftfy_fixpoint(text: &str, ftfy_unescapes: bool) -> String {
    let mut text = text.to_string();
    for _ in 0..16 {
        let before = text.clone();
        if ftfy_unescapes {
            text = htmlize::unescape(&text).into_owned();
        }
        text = ftfy_character_fixes(&text);
        if text == before {
            break;
        }
    }
    text
}

/// OpenAI's `html.unescape(html.unescape(text))`, on ftfy's joined output.
fn openai_unescape(mut text: String) -> String {
    for _ in 0..2 {
        text = htmlize::unescape(&text).into_owned();
    }
    text
}

/// ftfy 6's character-level fixes, in ftfy's order, then NFC.
fn ftfy_character_fixes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // remove_terminal_escapes: ESC '[' (digits | ';')* letter
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            let rest: String = chars.clone().skip(1).take_while(|c| c.is_ascii_digit() || *c == ';').collect();
            let after = chars.clone().nth(1 + rest.chars().count());
            if after.is_some_and(|c| c.is_ascii_alphabetic()) {
                for _ in 0..rest.chars().count() + 2 {
                    chars.next();
                }
                continue;
            }
        }
        let c = fix_c1_control(c);
        match c {
            // fix_latin_ligatures
            '\u{132}' => out.push_str("IJ"),
            '\u{133}' => out.push_str("ij"),
            '\u{149}' => out.push_str("\u{2bc}n"),
            '\u{1f1}' => out.push_str("DZ"),
            '\u{1f2}' => out.push_str("Dz"),
            '\u{1f3}' => out.push_str("dz"),
            '\u{1c4}' => out.push_str("D\u{17d}"),
            '\u{1c5}' => out.push_str("D\u{17e}"),
            '\u{1c6}' => out.push_str("d\u{17e}"),
            '\u{1c7}' => out.push_str("LJ"),
            '\u{1c8}' => out.push_str("Lj"),
            '\u{1c9}' => out.push_str("lj"),
            '\u{1ca}' => out.push_str("NJ"),
            '\u{1cb}' => out.push_str("Nj"),
            '\u{1cc}' => out.push_str("nj"),
            '\u{fb00}' => out.push_str("ff"),
            '\u{fb01}' => out.push_str("fi"),
            '\u{fb02}' => out.push_str("fl"),
            '\u{fb03}' => out.push_str("ffi"),
            '\u{fb04}' => out.push_str("ffl"),
            '\u{fb05}' => out.push_str("\u{17f}t"),
            '\u{fb06}' => out.push_str("st"),
            // fix_character_width: U+3000 and the half/fullwidth block, by NFKC
            '\u{3000}' => out.push(' '),
            '\u{ff01}'..='\u{ffef}' => out.extend(std::iter::once(c).nfkc()),
            // uncurl_quotes
            '\u{2bc}' | '\u{2018}'..='\u{201b}' => out.push('\''),
            '\u{201c}'..='\u{201f}' => out.push('"'),
            // fix_line_breaks
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\u{2028}' | '\u{2029}' | '\u{85}' => out.push('\n'),
            // remove_control_chars
            '\u{0}'..='\u{8}'
            | '\u{b}'
            | '\u{e}'..='\u{1f}'
            | '\u{7f}'
            | '\u{206a}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffc}' => {}
            _ => out.push(c),
        }
    }
    out.nfc().collect()
}

/// ftfy's `fix_c1_controls`: a C1 control is almost always a Windows-1252 byte
/// decoded as Latin-1. The five bytes Windows-1252 leaves undefined stay as they are.
fn fix_c1_control(c: char) -> char {
    const WINDOWS_1252_80_9F: [char; 32] = [
        '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{2c6}',
        '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}', '\u{90}', '\u{2018}', '\u{2019}',
        '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}',
        '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
    ];
    match c {
        '\u{80}'..='\u{9f}' => WINDOWS_1252_80_9F[c as usize - 0x80],
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokenizer set-up installs (as `tests/common.rs` finds it).
    fn installed_tokenizer() -> ClipTokenizer {
        let dir = std::env::var("CLIP_EMBED_MODEL_DIR")
            .unwrap_or_else(|_| "/usr/share/postgresql/15/clip_embed/models".into());
        ClipTokenizer::from_file(&Path::new(&dir).join("tokenizer.json"), 77, &PadToken::Id(0), TextCleanup::OpenAi)
            .expect("run scripts/setup.sh")
    }

    /// The installed CLIP tokenizer as a Hugging Face or Immich family loads it.
    fn generic_tokenizer(cleanup: TextCleanup) -> ClipTokenizer {
        let dir = std::env::var("CLIP_EMBED_MODEL_DIR")
            .unwrap_or_else(|_| "/usr/share/postgresql/15/clip_embed/models".into());
        let pad = PadToken::Named("<|endoftext|>".into());
        ClipTokenizer::from_file(&Path::new(&dir).join("tokenizer.json"), 77, &pad, cleanup)
            .expect("run scripts/setup.sh")
    }

    #[test]
    fn immich_cleanups_are_pythons() {
        assert_eq!(TextCleanup::Whitespace.apply(" a\u{1c}b \t c\n"), "a b c");
        assert_eq!(TextCleanup::Canonicalize.apply("  A Red,  Circle!! "), "a red circle");
        assert_eq!(TextCleanup::Canonicalize.apply("Straße_Ü"), "straßeü");
        assert_eq!(TextCleanup::TokenizerOnly.apply(" As Is! "), " As Is! ");
    }

    #[test]
    fn the_post_processors_special_tokens_frame_the_text() {
        let t = generic_tokenizer(TextCleanup::TokenizerOnly);
        assert_eq!(t.framing, (vec![i64::from(START_OF_TEXT)], vec![i64::from(END_OF_TEXT)]));
        let (ids, real) = t.encode_counted("a photo of a cat", None).unwrap();
        assert_eq!(&ids[..real], &[49406, 320, 1125, 539, 320, 2368, 49407]);
        assert!(ids[real..].iter().all(|&id| id == 49407), "padded with <|endoftext|>");
    }

    #[test]
    fn a_tokenizer_files_own_padding_and_truncation_are_ignored() {
        let dir = std::env::var("CLIP_EMBED_MODEL_DIR")
            .unwrap_or_else(|_| "/usr/share/postgresql/15/clip_embed/models".into());
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(Path::new(&dir).join("tokenizer.json")).unwrap()).unwrap();
        json["padding"] = serde_json::json!({"strategy": {"Fixed": 77}, "direction": "Right", "pad_to_multiple_of": null,
            "pad_id": 49407, "pad_type_id": 0, "pad_token": "<|endoftext|>"});
        json["truncation"] =
            serde_json::json!({"direction": "Right", "max_length": 3, "strategy": "LongestFirst", "stride": 0});
        let path = std::env::temp_dir().join(format!("clip_embed_padded_tokenizer_{}.json", std::process::id()));
        std::fs::write(&path, json.to_string()).unwrap();
        let pad = PadToken::Named("<|endoftext|>".into());
        let t = ClipTokenizer::from_file(&path, 77, &pad, TextCleanup::TokenizerOnly).unwrap();
        std::fs::remove_file(&path).unwrap();
        let (ids, real) = t.encode_counted("a photo of a cat", None).unwrap();
        assert_eq!(&ids[..real], &[49406, 320, 1125, 539, 320, 2368, 49407]);
    }

    #[test]
    fn generic_reading_is_bounded_and_equals_the_whole_text() {
        let t = generic_tokenizer(TextCleanup::Whitespace);
        let whole = |text: &str| -> Vec<i64> {
            let cleaned = TextCleanup::Whitespace.apply(text);
            let ids = t.tokenizer.encode_fast(cleaned.as_ref(), false).unwrap().get_ids().to_vec();
            let mut out = vec![i64::from(START_OF_TEXT)];
            out.extend(ids.iter().take(75).map(|&id| i64::from(id)));
            out.push(i64::from(END_OF_TEXT));
            out.resize(77, i64::from(END_OF_TEXT));
            out
        };
        for text in [
            "a red circle ".repeat(20_000),
            format!("{}a cat after blanks", " \t\n".repeat(100_000)),
            "x".repeat(100_000),
            format!("{} tail", "abc".repeat(40_000)),
            // Blank runs longer than the 4 MiB bound, before and between words.
            format!("{}a cat", " \n".repeat(5_000_000)),
            format!("a cat{}on a mat", "\u{3000}\t".repeat(3_000_000)),
        ] {
            let (ids, _) = t.encode_counted(&text, None).unwrap();
            assert_eq!(ids, whole(&text), "{}", &text[..40]);
        }
        assert!(t.whitespace_collapses, "CLIP's normaliser replaces \\s+ by a space");
        let err = t.encode_counted(" \t ", None).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
    }

    /// What `encode` computed before it was bounded: the whole text cleaned, then tokenized.
    fn encode_whole(tokenizer: &ClipTokenizer, text: &str) -> Option<Vec<i64>> {
        let cleaned = clean_text(text);
        let encoding = tokenizer.tokenizer.encode_fast(cleaned.as_str(), false).unwrap();
        let mut ids = vec![i64::from(START_OF_TEXT)];
        ids.extend(encoding.get_ids().iter().take(75).map(|&id| i64::from(id)));
        if ids.len() == 1 {
            return None;
        }
        ids.push(i64::from(END_OF_TEXT));
        ids.resize(77, 0);
        Some(ids)
    }

    #[test]
    fn chunked_encoding_equals_whole_text_encoding() {
        // Pieces that exercise every rule a chunk boundary could break.
        let long_word = "y".repeat(5000);
        let long_space = " ".repeat(5000);
        let pieces: Vec<&str> = vec![
            "&amp;",
            "&amp;amp;amp;",
            "&lt;",
            "&#",
            "65;",
            "&#x41;",
            "&",
            "amp",
            ";",
            "<",
            "<b>",
            "\n",
            "\r\n",
            "\r",
            " ",
            "  ",
            "\t",
            "\x0c",
            "\x0b",
            "\u{feff}",
            "\u{3000}",
            "\u{a0}",
            "\u{1b}[31m",
            "\u{1b}",
            "[",
            "e",
            "\u{301}",
            "\u{fb01}",
            "\u{ff21}",
            "\u{93}",
            "word",
            "x",
            "123",
            "!!",
            "'s",
            "<|endoftext|>",
            "\u{2028}",
            "\u{3a3}",
            "caf\u{e9}",
            "\u{1f6b2}",
            &long_word,
            &long_space,
        ];
        let tokenizer = installed_tokenizer();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as usize) % n
        };
        for case in 0..400 {
            let count = 1 + next(if case % 4 == 0 { 40 } else { 400 });
            let text: String = (0..count).map(|_| pieces[next(pieces.len())]).collect();
            let chunked = tokenizer.encode(&text, None).ok();
            assert_eq!(chunked, encode_whole(&tokenizer, &text), "case {case}: {:?}", &text[..text.len().min(300)]);
        }
    }

    #[test]
    fn skipping_across_ftfy_segments_equals_the_whole_text() {
        // Lines of over 1,000,000 characters are several ftfy segments; a '<' in
        // one turns unescaping off for the rest. The chunked path jumps over
        // blank stretches to the segment of the next token; the whole-text path
        // walks every segment. They must agree wherever the boundaries fall.
        let tokenizer = installed_tokenizer();
        let blank = |n: usize| " ".repeat(n);
        let cases = [
            format!("<b>{}&amp;amp;amp; cat", blank(999_990)),
            format!("<b>{}&amp;amp;amp; cat", blank(1_000_010)),
            format!("&amp;amp; x{}<b>{}&amp;amp;amp; cat", blank(999_985), blank(2_500_000)),
            format!("{}\n{}<i> &amp;amp;amp;\n&amp;amp;amp;", blank(1_700_000), "\u{feff}".repeat(1_200_000)),
            format!("{}&amp;amp;amp; dog", "\t\n".repeat(1_600_000)),
        ];
        for (i, text) in cases.iter().enumerate() {
            assert_eq!(tokenizer.encode(text, None).ok(), encode_whole(&tokenizer, text), "case {i}");
        }
    }

    #[test]
    fn characters_are_counted_like_chars() {
        for text in ["", "abc", "caf\u{e9} \u{feff}\u{3000}\u{1f6b2}", &"\u{feff}x\u{a0}".repeat(37)] {
            assert_eq!(count_chars(text.as_bytes()), text.chars().count(), "{text:?}");
        }
    }

    #[test]
    fn no_clip_token_is_longer_than_the_run_bound_assumes() {
        // MAX_RUN_BYTES counts on 75 tokens spanning at most 75 x 32 bytes (byte-level
        // characters are bytes).
        let tokenizer = installed_tokenizer();
        let longest = tokenizer
            .tokenizer
            .get_vocab(false)
            .keys()
            .filter(|t| !t.starts_with("<|"))
            .map(|t| t.trim_end_matches("</w>").chars().count())
            .max()
            .unwrap();
        assert!(longest <= 32, "longest token: {longest} bytes");
        assert!(75 * longest < MAX_RUN_BYTES / 16);
    }

    #[test]
    fn ftfy_skips_unescaping_from_the_first_line_with_a_bracket_on() {
        // ftfy fixes a line at a time and stops unescaping at the first line
        // holding '<'; OpenAI's two html.unescape calls still apply everywhere.
        assert_eq!(clean_text("&amp;amp;amp;\n<b>"), "&\n<b>");
        assert_eq!(clean_text("<b>\n&amp;amp;amp;"), "<b>\n&amp;");
    }

    #[test]
    fn clean_text_unescapes_html_and_uncurls_quotes() {
        assert_eq!(clean_text("  Tom &amp; Jerry  "), "Tom & Jerry");
        assert_eq!(clean_text("&amp;lt;b&amp;gt;"), "<b>");
        assert_eq!(clean_text("don\u{2019}t \u{201c}stop\u{201d}"), "don't \"stop\"");
    }

    #[test]
    fn clean_text_applies_ftfy_character_fixes() {
        assert_eq!(clean_text("\u{fb01}sh \u{ff21}\u{ff22}\u{3000}c"), "fish AB c");
        assert_eq!(clean_text("\u{1b}[36;44mblue\u{1b}[0m"), "blue");
        assert_eq!(clean_text("a\u{0}b\u{feff}c"), "abc");
        assert_eq!(clean_text("\u{93}quoted\u{94}"), "\"quoted\"");
        assert_eq!(clean_text("e\u{301}"), "\u{e9}");
    }

    #[test]
    fn clean_text_leaves_entities_alone_in_html_for_ftfy_but_not_for_openai() {
        // ftfy skips unescaping when '<' is present, OpenAI's two html.unescape calls still run.
        assert_eq!(clean_text("<p>&amp;amp;amp;</p>"), "<p>&amp;</p>");
    }
}
