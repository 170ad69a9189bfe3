//! Byte scanners: where whitespace and characters that give no token end,
//! read fast (8 or 24 bytes a step) and in bounded steps, so a gigabyte of
//! blanks costs a scan with cancel polled between steps.

use crate::cancel::CancelCheck;
use crate::error::{Error, Result};

/// Where the whitespace run at `at` ends, scanned [`SCAN_BYTES_PER_STEP`] at
/// a time with `cancel` polled between steps (a run may be 1 GB).
pub(super) fn skip_whitespace(text: &str, mut at: usize, cancel: Option<CancelCheck>) -> Result<usize> {
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

/// Bytes of token-less characters skipped, or of ftfy segments entered, per
/// step of [`TextChunks`]: [`ClipTokenizer::encode`] polls cancel between steps,
/// so a cancel waits for at most this much scanning (a few ms).
pub(super) const SCAN_BYTES_PER_STEP: usize = 16 << 20;

/// How far [`is_blank`] looks.
pub(super) const BLANK_CHECK_BYTES: usize = 1 << 20;

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
pub(super) fn is_separator(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0c')
}

/// The position of the first character at or after `at` that may give a token:
/// skips whitespace and the control characters ftfy deletes (ESC excepted,
/// which starts a terminal escape). Only called at the start of a chunk, just
/// after a separator, where such characters can join nothing: they neither
/// merge two words nor form a reference.
pub(super) fn skip_tokenless(text: &str, at: usize, budget: usize) -> usize {
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
pub(super) fn count_chars(bytes: &[u8]) -> usize {
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
pub(super) fn is_tokenless_wide(c: char) -> bool {
    matches!(c,
        '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
        | '\u{206a}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffc}')
}
