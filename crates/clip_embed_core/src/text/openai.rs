//! OpenAI's `clip.tokenize(text, truncate=True)`: `SimpleTokenizer` runs
//! `ftfy.fix_text`, `html.unescape` twice, whitespace collapse and `lower()`
//! before its regex split and BPE. Whitespace collapse, split and BPE live in
//! the model's `tokenizer.json` (normalizer, pre-tokenizer, BPE);
//! [`super::ftfy`] and [`super::pystr`] (Python's `lower()`, whose final sigma
//! the normalizer's per-character `Lowercase` lacks) do the rest. The text is cleaned and tokenized a chunk at a time ([`TextChunks`])
//! until the context is full.

use tokenizers::Tokenizer;

use super::ftfy::{fix_segment, ftfy_fix_text, openai_unescape, FTFY_SEGMENT_CHARS};
use super::pystr::python_lower;
use super::scan::{count_chars, is_separator, skip_tokenless, SCAN_BYTES_PER_STEP};
use crate::cancel::CancelCheck;
use crate::error::{Error, Result};

/// Bytes cleaned and tokenized per step. A step ends just after a separator
/// (see [`is_separator`]), so the text is read a few KiB past the 75th token at most.
pub(super) const CHUNK_BYTES: usize = 4 * 1024;

/// The longest run without a separator that is cleaned and tokenized in one
/// step. A longer run is cut here (on a character boundary) and its first
/// 64 KiB are tokenized as a word of their own. That gives the run's own ids
/// whenever those 64 KiB hold the 75 tokens, which any run of letters, digits
/// or punctuation does: no CLIP token covers more than 32 bytes (eight emoji;
/// a test checks the vocabulary), so 75 tokens span at most 2,400 bytes, and
/// the BPE merges that the cut could change sit at its end, 60 KiB away. Only
/// a run made mostly of characters that cleaning deletes can differ.
pub(super) const MAX_RUN_BYTES: usize = 64 * 1024;

/// OpenAI's reading of a text: its special tokens around the chunks' BPE ids.
pub(super) struct OpenAiPath {
    pub(super) start_of_text: u32,
    pub(super) end_of_text: u32,
}

impl OpenAiPath {
    /// Start token, the chunks' BPE ids up to the context, end token (the
    /// caller pads). Reading stops once the context is full.
    pub(super) fn encode(
        &self,
        tokenizer: &Tokenizer,
        context_length: usize,
        text: &str,
        cancel: Option<CancelCheck>,
    ) -> Result<Vec<i64>> {
        let body_room = context_length - 2;
        let mut ids = Vec::with_capacity(context_length);
        ids.push(i64::from(self.start_of_text));
        let mut chunks = TextChunks::new(text);
        while ids.len() - 1 < body_room {
            if crate::cancel::requested(cancel) {
                return Err(Error::Cancelled);
            }
            let Some(cleaned) = chunks.next_cleaned(cancel)? else { break };
            let encoding = tokenizer
                .encode_fast(cleaned.as_str(), false)
                .map_err(|e| Error::InvalidArgument(format!("could not tokenize text: {e}")))?;
            let room = body_room - (ids.len() - 1);
            ids.extend(encoding.get_ids().iter().take(room).map(|&id| i64::from(id)));
        }
        if ids.len() == 1 {
            return Err(Error::InvalidArgument("text to embed must not be empty".into()));
        }
        ids.push(i64::from(self.end_of_text));
        Ok(ids)
    }
}

/// Walks a text in cleaned chunks, as [`clean_text`] would clean the whole.
///
/// ftfy fixes a text a segment at a time (a line, or 1,000,000 characters of
/// one). A segment of ASCII without a reference ftfy unescapes can only meet
/// ftfy's character fixes, which map characters or terminal escapes that
/// cannot cross a separator: it is cleaned a chunk at a time. Any other
/// segment may hold mojibake, whose repair ftfy decides over the whole
/// segment (is any of it bad, can all of it be re-encoded), so it is fixed
/// whole, at most 1,000,000 characters (0.1 s of dense mojibake, 0.43 s for
/// the slowest line found: docs/decoding.md), and handed out in chunks.
/// ftfy's one text-wide rule ("no HTML unescaping in a segment that contains
/// '<', nor in any later one") is decided by scanning each segment once. A chunk ends just after a separator, or after
/// [`MAX_RUN_BYTES`] of a run without one, in ftfy's joined output: a chunk
/// that reaches a segment's end without a separator goes on into the next.
pub(super) struct TextChunks<'a> {
    text: &'a str,
    at: usize,
    segment_start: usize,
    segment_end: usize,
    /// ftfy's `unescape_html="auto"` for the current segment; once off, off for good.
    ftfy_unescapes: bool,
    /// Whether the current segment must be fixed whole (non-ASCII, or a '&' ftfy may unescape).
    segment_fixed_whole: bool,
    /// The current segment fixed whole, and how much of it has been handed out.
    fixed_segment: String,
    fixed_at: usize,
}

impl<'a> TextChunks<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        TextChunks {
            text,
            at: 0,
            segment_start: 0,
            segment_end: 0,
            ftfy_unescapes: true,
            segment_fixed_whole: false,
            fixed_segment: String::new(),
            fixed_at: 0,
        }
    }

    /// The next chunk, cleaned; `None` at the end of the text. An empty chunk
    /// when this step's scanning budget ran out first (the caller polls
    /// cancel); a segment fixed whole polls it too, between its steps.
    pub(super) fn next_cleaned(&mut self, cancel: Option<CancelCheck>) -> Result<Option<String>> {
        let mut fixed = String::new();
        if self.fixed_at < self.fixed_segment.len() {
            self.take_fixed_chunk(&mut fixed);
        } else {
            let start = self.at;
            self.at = skip_tokenless(self.text, self.at, SCAN_BYTES_PER_STEP);
            if self.at >= self.text.len() {
                return Ok(None);
            }
            if self.at - start >= SCAN_BYTES_PER_STEP {
                return Ok(Some(String::new()));
            }
            if self.at >= self.segment_end {
                self.enter_segment_at(self.at);
            }
            self.fix_next_piece(&mut fixed, cancel)?;
        }
        let continued_from = self.at;
        while self.continues_into_next_segment(&fixed) && self.at - continued_from < SCAN_BYTES_PER_STEP {
            self.enter_segment_at(self.at);
            self.fix_next_piece(&mut fixed, cancel)?;
        }
        Ok(Some(finish_chunk(fixed)))
    }

    /// Appends ftfy's fixes of the next piece of the current segment: a
    /// chunk's worth read a chunk at a time, or the first chunk of the
    /// segment fixed whole.
    fn fix_next_piece(&mut self, out: &mut String, cancel: Option<CancelCheck>) -> Result<()> {
        if self.segment_fixed_whole {
            let segment = &self.text[self.segment_start..self.segment_end];
            self.fixed_segment = fix_segment(segment, self.ftfy_unescapes, cancel)?;
            self.fixed_at = 0;
            self.at = self.segment_end;
            self.take_fixed_chunk(out);
        } else {
            let end = chunk_end(self.text, self.at).min(self.segment_end);
            out.push_str(&fix_segment(&self.text[self.at..end], self.ftfy_unescapes, cancel)?);
            self.at = end;
        }
        Ok(())
    }

    /// Appends the next chunk of the segment fixed whole.
    fn take_fixed_chunk(&mut self, out: &mut String) {
        let end = chunk_end(&self.fixed_segment, self.fixed_at);
        out.push_str(&self.fixed_segment[self.fixed_at..end]);
        self.fixed_at = end;
        if self.fixed_at == self.fixed_segment.len() {
            self.fixed_segment = String::new();
            self.fixed_at = 0;
        }
    }

    /// Whether a chunk that ends where a segment ends must go on into the
    /// next one: ftfy joins its segments, and one may end inside a word (a
    /// 1,000,000-character boundary) or lose its final '\n' (ftfy's
    /// `utf-8-variants` codec reads "C0 0A" at the end as Java's NUL).
    fn continues_into_next_segment(&self, fixed: &str) -> bool {
        self.fixed_segment.is_empty()
            && self.at == self.segment_end
            && self.at < self.text.len()
            && !fixed.as_bytes().last().is_some_and(|&b| is_separator(b))
            && fixed.len() < MAX_RUN_BYTES
    }

    /// Enters the ftfy segment that holds `at`, where everything from the end
    /// of the last segment up to `at` gives no token (so holds no '<', and no
    /// segment in it changes ftfy's rule, and ftfy leaves it token-less).
    /// Segments end after each '\n' and every 1,000,000 characters of a line:
    /// the last segment's end is such a boundary, so the line's character
    /// count restarts at the last '\n' before `at`, or there. Scans the
    /// skipped bytes at SIMD speed, then at most one segment's worth (<= 4 MB)
    /// from `at`.
    fn enter_segment_at(&mut self, at: usize) {
        let bytes = self.text.as_bytes();
        let from = self.segment_end;
        let line_start = memchr::memrchr(b'\n', &bytes[from..at]).map_or(from, |i| from + i + 1);
        let before = count_chars(&bytes[line_start..at]);
        let into_segment = before % FTFY_SEGMENT_CHARS;
        let left_in_segment = FTFY_SEGMENT_CHARS - into_segment;
        let mut chars = 0usize;
        let mut end = bytes.len() - at;
        let mut has_lt = false;
        let mut has_amp = false;
        let mut has_non_ascii = false;
        for (i, &b) in bytes[at..].iter().enumerate() {
            if b & 0xc0 != 0x80 {
                if chars == left_in_segment {
                    end = i;
                    break;
                }
                chars += 1;
            }
            has_lt |= b == b'<';
            has_amp |= b == b'&';
            has_non_ascii |= b >= 0x80;
            if b == b'\n' {
                end = i + 1;
                break;
            }
        }
        self.segment_start = char_boundary_back(self.text, at, into_segment);
        self.segment_end = at + end;
        self.ftfy_unescapes &= !has_lt;
        self.segment_fixed_whole = has_non_ascii || (has_amp && self.ftfy_unescapes);
    }
}

/// The byte position `chars` characters before `at`.
fn char_boundary_back(text: &str, at: usize, chars: usize) -> usize {
    if chars == 0 {
        return at;
    }
    text[..at].char_indices().rev().nth(chars - 1).map_or(0, |(i, _)| i)
}

/// Where the chunk of `text` starting at `start` ends: after a separator, or
/// at the end of the text (or the 64 KiB cut of [`MAX_RUN_BYTES`]).
fn chunk_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
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
    (start + 1..=far_end).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(far_end)
}

/// The part of OpenAI's clean-up (ftfy + `html.unescape` twice + strip, and
/// Python's `lower()`) that `tokenizer.json` cannot express. See the module
/// docs for what is left out. [`ClipTokenizer::encode`] cleans chunk by chunk
/// and gives the same tokens as cleaning the whole text with this function.
pub fn clean_text(text: &str) -> String {
    // The whole text at once: the reference for the chunked path, not a user of it.
    finish_chunk(ftfy_fix_text(text)).trim().to_string()
}

/// What OpenAI does after ftfy, on a chunk of ftfy's output: `html.unescape`
/// twice, then Python's `lower()` (whitespace collapse, which the tokenizer
/// does, changes no case). A chunk ends after whitespace, which neither
/// unescaping nor the final-sigma rule looks across.
fn finish_chunk(fixed: String) -> String {
    python_lower(&openai_unescape(fixed))
}
