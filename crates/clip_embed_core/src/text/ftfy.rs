//! ftfy 6.3.1's `fix_text` with its default configuration, as OpenAI's
//! `basic_clean` applies it, then OpenAI's two `html.unescape` calls.
//!
//! ftfy fixes a text a segment at a time (a line, or 1,000,000 characters of
//! one), each until nothing changes: HTML references (not in or after a
//! segment that holds '<'), mojibake repair ([`encoding`]: "cafÃ©" -> "café"),
//! then character fixes in ftfy's order (C1 controls as Windows-1252,
//! ligatures, full/half width, curly quotes, line breaks, terminal escapes,
//! control characters) and NFC. Every table and regex is generated from
//! ftfy and CPython 3.11 by `tools/ftfy_tables.py` ([`tables`]).
//!
//! Known differences from Python: NFC comes from the `unicode-normalization`
//! crate (a newer Unicode than Python 3.11's 14.0, so characters assigned
//! since compose by newer data); a numeric reference of more than 4,300
//! digits, on which Python raises, is read as an out-of-range number.

mod encoding;
mod html;
#[rustfmt::skip]
mod tables;

use std::borrow::Cow;

use once_cell::sync::Lazy;
use regex::Regex;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::cancel::{poll, CancelCheck};
use crate::error::Result;
use encoding::fix_encoding;
use html::ftfy_unescape_html;
pub(super) use html::html_unescape;
use tables::{
    C1_AS_WINDOWS_1252, CONTROL_CHARS, DOUBLE_QUOTES, LIGATURES, SINGLE_QUOTES, TERMINAL_ESCAPE_PATTERN, WIDTH_MAP,
};

/// ftfy's `max_decode_length`: `fix_text` fixes a line at a time, and a line
/// longer than this many characters in pieces of this many.
pub(super) const FTFY_SEGMENT_CHARS: usize = 1_000_000;

/// ftfy repeats its fixes on a segment until a round changes nothing, with
/// no bound: "&amp;amp;amp;" loses one "amp;" a round. Rounds always run
/// while fewer than [`MIN_ROUNDS`], then while the bytes fixed so far stay
/// under this budget: a caption nested 10,000 references deep still ends
/// as in Python, and a 1,000,000-character segment stops after 16 to 64
/// rounds. A round of a 1 MB line of references takes about 2.7 ms (21
/// rounds: 57 ms; Python's ftfy: 0.22 s), so the budget is about 0.2 s.
const ROUND_BUDGET_BYTES: usize = 64 << 20;
/// The rounds any segment gets; real text settles in two or three.
const MIN_ROUNDS: usize = 16;

static TERMINAL_ESCAPE: Lazy<Regex> =
    Lazy::new(|| Regex::new(TERMINAL_ESCAPE_PATTERN).expect("generated pattern compiles"));

/// ftfy's `fix_text`: each segment fixed on its own, and HTML unescaping
/// off from the first segment that holds '<' on.
pub(super) fn ftfy_fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut unescapes = true;
    let mut rest = text;
    while !rest.is_empty() {
        let end = segment_len(rest);
        let segment = &rest[..end];
        unescapes &= !segment.contains('<');
        out.push_str(&fix_segment(segment, unescapes, None).expect("fixing fails only when cancelled"));
        rest = &rest[end..];
    }
    out
}

/// The byte length of the ftfy segment that starts `text`: through its first
/// '\n', and at most [`FTFY_SEGMENT_CHARS`] characters.
fn segment_len(text: &str) -> usize {
    let line = memchr::memchr(b'\n', text.as_bytes()).map_or(text.len(), |i| i + 1);
    text[..line].char_indices().nth(FTFY_SEGMENT_CHARS).map_or(line, |(i, _)| i)
}

/// ftfy's `fix_and_explain` on one segment (or, where every fix is local,
/// on a piece of one): all fixes, round after round until nothing changes.
/// `cancel` is polled before each of a round's three steps: a segment of a
/// million characters took up to 0.43 s over its rounds (docs/decoding.md),
/// a step of one round a tenth of that.
pub(super) fn fix_segment(text: &str, unescapes: bool, cancel: Option<CancelCheck>) -> Result<String> {
    let mut text = text.to_string();
    let mut fixed_bytes = 0usize;
    for round in 0.. {
        if round >= MIN_ROUNDS && fixed_bytes >= ROUND_BUDGET_BYTES {
            break;
        }
        fixed_bytes += text.len();
        poll(cancel)?;
        let unescaped = if unescapes { ftfy_unescape_html(&text) } else { Cow::Borrowed(text.as_str()) };
        poll(cancel)?;
        let decoded = match fix_encoding(&unescaped) {
            Cow::Borrowed(_) => unescaped,
            Cow::Owned(fixed) => Cow::Owned(fixed),
        };
        poll(cancel)?;
        let fixed = character_fixes(&decoded);
        if fixed == text {
            break;
        }
        text = fixed;
    }
    Ok(text)
}

/// ftfy's fixes after `fix_encoding`, in its order, then NFC.
fn character_fixes(text: &str) -> String {
    if text.is_ascii() {
        // Only line breaks, terminal escapes and control characters apply.
        let text = fix_line_breaks(text);
        let text = if text.contains('\u{1b}') {
            Cow::Owned(TERMINAL_ESCAPE.replace_all(&text, "").into_owned())
        } else {
            text
        };
        return remove_control_chars(&text).into_owned();
    }
    let text = map_each_char(text);
    let text = fix_line_breaks(&text);
    let text =
        if text.contains('\u{1b}') { Cow::Owned(TERMINAL_ESCAPE.replace_all(&text, "").into_owned()) } else { text };
    let text = remove_control_chars(&text);
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => text.into_owned(),
        _ => text.nfc().collect(),
    }
}

/// ftfy's four character maps in one pass, each applied to what the one
/// before gave, as its consecutive passes do: `fix_c1_controls`,
/// `fix_latin_ligatures`, `fix_character_width`, `uncurl_quotes`. (One pass
/// instead of four: a line of a million mixed characters took 50 ms a round.)
fn map_each_char(text: &str) -> String {
    let lookup = |map: &'static [(char, &'static str)], c: char| {
        map.binary_search_by_key(&c, |&(k, _)| k).ok().map(|i| map[i].1)
    };
    let (first_ligature, last_ligature) = (LIGATURES[0].0, LIGATURES[LIGATURES.len() - 1].0);
    let (first_wide, last_wide) = (WIDTH_MAP[0].0, WIDTH_MAP[WIDTH_MAP.len() - 1].0);
    let push_uncurled = |out: &mut String, c: char| {
        if in_ranges(SINGLE_QUOTES, c) {
            out.push('\'');
        } else if in_ranges(DOUBLE_QUOTES, c) {
            out.push('"');
        } else {
            out.push(c);
        }
    };
    let push_narrowed =
        |out: &mut String, c: char| match (first_wide..=last_wide).contains(&c).then(|| lookup(WIDTH_MAP, c)).flatten()
        {
            Some(narrow) => narrow.chars().for_each(|n| push_uncurled(out, n)),
            None => push_uncurled(out, c),
        };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let c = match c {
            '\u{80}'..='\u{9f}' => C1_AS_WINDOWS_1252[c as usize - 0x80],
            _ => c,
        };
        match (first_ligature..=last_ligature).contains(&c).then(|| lookup(LIGATURES, c)).flatten() {
            Some(letters) => letters.chars().for_each(|l| push_narrowed(&mut out, l)),
            None => push_narrowed(&mut out, c),
        }
    }
    out
}

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// ftfy's `fix_line_breaks`: CRLF, CR, U+2028, U+2029 and NEL become '\n'.
fn fix_line_breaks(text: &str) -> Cow<'_, str> {
    if !text.contains(['\r', '\u{2028}', '\u{2029}', '\u{85}']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\u{2028}' | '\u{2029}' | '\u{85}' => out.push('\n'),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// ftfy's `remove_control_chars`.
fn remove_control_chars(text: &str) -> Cow<'_, str> {
    let is_control =
        |c: char| !(' '..'\u{7f}').contains(&c) && CONTROL_CHARS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|&c| !is_control(c)).collect())
}

/// OpenAI's `html.unescape(html.unescape(text))`, on ftfy's joined output.
pub(super) fn openai_unescape(text: String) -> String {
    let once = html_unescape(&text).into_owned();
    html_unescape(&once).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_fixes_follow_ftfys_order() {
        // Full-width digits become ASCII before terminal escapes are removed.
        assert_eq!(character_fixes("\u{1b}[\u{ff13}mx"), "x");
        // NEL is a C1 control first: Windows-1252 reads it as an ellipsis.
        assert_eq!(character_fixes("a\u{85}b"), "a\u{2026}b");
        assert_eq!(character_fixes("a\r\nb\rc\u{2028}d"), "a\nb\nc\nd");
        assert_eq!(character_fixes("\u{149}"), "'n");
    }

    #[test]
    fn segments_are_lines_and_unescaping_stops_at_a_bracket() {
        assert_eq!(segment_len("ab\ncd"), 3);
        assert_eq!(ftfy_fix_text("&amp;\n<b>&amp;\n&amp;"), "&\n<b>&amp;\n&amp;");
    }

    #[test]
    fn fixes_repeat_until_nothing_changes() {
        // An escaped mojibake sequence: unescaped in round one, decoded in round two.
        assert_eq!(fix_segment("caf&Atilde;&copy;", true, None).unwrap(), "caf\u{e9}");
        // One "amp;" a round, 100 rounds, as Python's ftfy does.
        assert_eq!(fix_segment(&format!("&{}lt;", "amp;".repeat(100)), true, None).unwrap(), "<");
    }
}
