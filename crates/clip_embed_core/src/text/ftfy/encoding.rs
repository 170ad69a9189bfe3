//! ftfy 6.3.1's `fix_encoding`: mojibake repair. Text that was UTF-8 but was
//! decoded as one of ten single-byte encodings ("cafÃ©") is encoded back to
//! those bytes and decoded as UTF-8, step by step until nothing changes; only
//! when ftfy's `badness` heuristic finds a sequence that is far likelier
//! mojibake than intended text. Every table and regex is ftfy's own,
//! generated (tables.rs); the control flow follows
//! `_fix_encoding_one_step_and_explain` line by line.

use std::borrow::Cow;

use once_cell::sync::Lazy;
use regex::bytes::Regex as BytesRegex;
use regex::Regex;

use super::tables::{
    ALTERED_UTF8_PATTERN, A_GRAVE_NOT_BEFORE, A_GRAVE_WORD, BADNESS_PATTERN, C1_AS_WINDOWS_1252, CHARMAP_ENCODINGS,
    LOSSY_UTF8_PATTERN, UTF8_CONTINUATION_STRICT, UTF8_DETECTOR_UNIT_PATTERN,
};

static BADNESS: Lazy<Regex> = Lazy::new(|| Regex::new(BADNESS_PATTERN).expect("generated pattern compiles"));
static ALTERED_UTF8: Lazy<BytesRegex> =
    Lazy::new(|| BytesRegex::new(ALTERED_UTF8_PATTERN).expect("generated pattern compiles"));
static LOSSY_UTF8: Lazy<BytesRegex> =
    Lazy::new(|| BytesRegex::new(LOSSY_UTF8_PATTERN).expect("generated pattern compiles"));
/// One unit of `UTF8_DETECTOR_RE`'s repeated group: finds where a match may start.
static UTF8_DETECTOR_UNIT: Lazy<Regex> =
    Lazy::new(|| Regex::new(UTF8_DETECTOR_UNIT_PATTERN).expect("generated pattern compiles"));
/// The whole repeated group, anchored: how far a match that starts here reaches.
static UTF8_DETECTOR_RUN: Lazy<Regex> =
    Lazy::new(|| Regex::new(&format!("^(?:{UTF8_DETECTOR_UNIT_PATTERN})+")).expect("generated pattern compiles"));

/// ftfy loops until a step changes nothing. Each step that changes the text
/// decodes it from a longer byte string, so real text settles within three
/// or four steps; the bound only guards against a cycle.
const MAX_ENCODING_STEPS: usize = 32;

/// ftfy's `is_bad`: whether the text holds a sequence `badness` counts.
pub(crate) fn is_bad(text: &str) -> bool {
    BADNESS.is_match(text)
}

/// ftfy's `fix_encoding` with its default configuration.
pub(crate) fn fix_encoding(text: &str) -> Cow<'_, str> {
    let Some(mut fixed) = fix_encoding_one_step(text) else {
        return Cow::Borrowed(text);
    };
    if fixed == text {
        return Cow::Borrowed(text);
    }
    for _ in 1..MAX_ENCODING_STEPS {
        match fix_encoding_one_step(&fixed) {
            Some(next) if next != fixed => fixed = next,
            _ => break,
        }
    }
    Cow::Owned(fixed)
}

/// One step of `fix_encoding`; `None` where ftfy returns the text unchanged.
fn fix_encoding_one_step(text: &str) -> Option<String> {
    if text.is_ascii() || !is_bad(text) {
        return None;
    }
    let mut possible = [false; CHARMAP_ENCODINGS.len()];
    for (i, charmap) in CHARMAP_ENCODINGS.iter().enumerate() {
        let Some(mut bytes) = encode(text, charmap.chars) else { continue };
        possible[i] = true;
        if charmap.name != "macroman" && ALTERED_UTF8.is_match(&bytes) {
            bytes = restore_byte_a0(&bytes);
        }
        if charmap.sloppy {
            if let Cow::Owned(replaced) = LOSSY_UTF8.replace_all(&bytes, "\u{fffd}".as_bytes()) {
                bytes = replaced;
            }
        }
        let decoded = if bytes.contains(&0xed) || bytes.contains(&0xc0) {
            decode_utf8_variants(&bytes)
        } else {
            String::from_utf8(bytes).ok()
        };
        if decoded.is_some() {
            return decoded;
        }
    }
    if detector_matches(text).next().is_some() {
        let fixed = decode_inconsistent_utf8(text);
        if fixed != text {
            return Some(fixed);
        }
    }
    let (latin_1, sloppy_windows_1252) = (encoding_index("latin-1"), encoding_index("sloppy-windows-1252"));
    if possible[latin_1] {
        if possible[sloppy_windows_1252] {
            return None;
        }
        // Windows-1252 proper: five bytes it leaves undefined fail the decode.
        let undefined = |c: char| matches!(c, '\u{80}'..='\u{9f}') && C1_AS_WINDOWS_1252[c as usize - 0x80] == c;
        if !text.chars().any(undefined) {
            return Some(fix_c1_controls(text).into_owned());
        }
    }
    if text.chars().any(|c| matches!(c, '\u{80}'..='\u{9f}')) {
        return Some(fix_c1_controls(text).into_owned());
    }
    None
}

fn encoding_index(name: &str) -> usize {
    CHARMAP_ENCODINGS.iter().position(|charmap| charmap.name == name).expect("ftfy's encoding list names it")
}

/// `text.encode(encoding)` for one of ftfy's single-byte encodings, or
/// `None` where `possible_encoding` says no: ASCII but 0x1A stands for
/// itself, everything else needs an entry in the charmap.
fn encode(text: &str, charmap: &[(char, u8)]) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() && c != '\u{1a}' {
            bytes.push(c as u8);
        } else {
            let i = charmap.binary_search_by_key(&c, |&(k, _)| k).ok()?;
            bytes.push(charmap[i].1);
        }
    }
    Some(bytes)
}

/// ftfy's `fix_c1_controls`: U+0080..U+009F read as Windows-1252 bytes.
pub(crate) fn fix_c1_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| matches!(c, '\u{80}'..='\u{9f}')) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\u{80}'..='\u{9f}' => C1_AS_WINDOWS_1252[c as usize - 0x80],
                _ => c,
            })
            .collect(),
    )
}

/// ftfy's `restore_byte_a0`: a space that was U+00A0 (byte 0xA0) inside a
/// UTF-8 sequence before some software turned it into a plain space.
fn restore_byte_a0(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(A_GRAVE_WORD)
            && !A_GRAVE_NOT_BEFORE.iter().any(|w| rest[A_GRAVE_WORD.len()..].starts_with(w))
        {
            out.extend_from_slice(b"\xc3\xa0 ");
            i += A_GRAVE_WORD.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    ALTERED_UTF8
        .replace_all(&out, |caps: &regex::bytes::Captures<'_>| {
            caps[0].iter().map(|&b| if b == b' ' { 0xa0 } else { b }).collect::<Vec<u8>>()
        })
        .into_owned()
}

/// ftfy's `utf-8-variants` codec: strict UTF-8, plus Java's two-byte NUL
/// (C0 80) and CESU-8's surrogate pairs (six bytes for one character).
/// `None` where Python raises `UnicodeDecodeError`. Python's `$` also matches
/// before a final '\n', so C0 or a surrogate pair's last byte may swallow one.
fn decode_utf8_variants(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut at = 0;
    let is_special = |i: usize| match bytes[i] {
        0xc0 => true,
        0xed => bytes.get(i + 1).is_some_and(|b| (0xa0..=0xbf).contains(b)),
        _ => false,
    };
    while at < bytes.len() {
        let special = (at..bytes.len()).find(|&i| is_special(i)).unwrap_or(bytes.len());
        out.push_str(std::str::from_utf8(&bytes[at..special]).ok()?);
        at = special;
        if at == bytes.len() {
            break;
        }
        let rest = &bytes[at..];
        let final_newline = |i: usize| i + 1 == rest.len() && rest[i] == b'\n';
        if rest[0] == 0xc0 {
            if rest.len() > 1 && (rest[1] == 0x80 || final_newline(1)) {
                out.push('\0');
                at += 2;
                continue;
            }
            return None;
        }
        let cesu = rest.len() >= 6
            && (0xa0..=0xaf).contains(&rest[1])
            && (0x80..=0xbf).contains(&rest[2])
            && rest[3] == 0xed
            && (0xb0..=0xbf).contains(&rest[4])
            && ((0x80..=0xbf).contains(&rest[5]) || final_newline(5));
        if !cesu {
            return None;
        }
        let code = (u32::from(rest[1] & 0x0f) << 16)
            + (u32::from(rest[2] & 0x3f) << 10)
            + (u32::from(rest[4] & 0x0f) << 6)
            + u32::from(rest[5] & 0x3f)
            + 0x10000;
        out.push(char::from_u32(code)?);
        at += 6;
    }
    Some(out)
}

/// The matches of ftfy's `UTF8_DETECTOR_RE`, as `re.sub` finds them: its
/// negative lookbehind (no strict continuation character just before) is
/// tested at each start the unit pattern finds, and only an accepted start
/// is extended to the full run, so rejected starts cost a few characters each.
fn detector_matches(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(unit) = UTF8_DETECTOR_UNIT.find_at(text, at) {
            let start = unit.start();
            let before = text[..start].chars().next_back();
            if before.is_some_and(is_strict_continuation) {
                at = start + text[start..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            let run = UTF8_DETECTOR_RUN.find(&text[start..]).expect("a unit starts a run");
            at = start + run.end();
            return Some(start..at);
        }
        None
    })
}

fn is_strict_continuation(c: char) -> bool {
    UTF8_CONTINUATION_STRICT
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// ftfy's `decode_inconsistent_utf8`: repairs each run that looks like
/// UTF-8 mojibake on its own, where the text as a whole mixes it with text
/// that cannot be re-encoded.
fn decode_inconsistent_utf8(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for range in detector_matches(text) {
        out.push_str(&text[last..range.start]);
        let run = &text[range.clone()];
        if run.len() < text.len() && is_bad(run) {
            out.push_str(&fix_encoding(run));
        } else {
            out.push_str(run);
        }
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_1_and_windows_1252_mojibake_is_repaired() {
        assert_eq!(fix_encoding("caf\u{c3}\u{a9}"), "caf\u{e9}");
        assert_eq!(fix_encoding("\u{e2}\u{80}\u{9c}quoted\u{e2}\u{80}\u{9d}"), "\u{201c}quoted\u{201d}");
        // Two rounds of mojibake take two steps.
        assert_eq!(fix_encoding("caf\u{c3}\u{83}\u{c2}\u{a9}"), "caf\u{e9}");
    }

    #[test]
    fn text_that_is_not_bad_is_left_alone() {
        assert_eq!(fix_encoding("na\u{ef}ve caf\u{e9} \u{c5}ngstr\u{f6}m"), "na\u{ef}ve caf\u{e9} \u{c5}ngstr\u{f6}m");
        assert!(!is_bad("plain ASCII"));
        assert!(is_bad("caf\u{c3}\u{a9}"));
    }

    #[test]
    fn utf8_variants_decode_java_nul_and_cesu_8() {
        assert_eq!(decode_utf8_variants(b"a\xc0\x80b").as_deref(), Some("a\0b"));
        assert_eq!(decode_utf8_variants(b"\xed\xa0\xbd\xed\xb8\x80").as_deref(), Some("\u{1f600}"));
        assert_eq!(decode_utf8_variants(b"\xed\xa0\xbd"), None);
        assert_eq!(decode_utf8_variants(b"\xc0A"), None);
    }

    #[test]
    fn restore_byte_a0_puts_back_no_break_spaces() {
        assert_eq!(restore_byte_a0(b"\xc3 la"), b"\xc3\xa0 la");
        assert_eq!(restore_byte_a0(b"\xc3 s "), b"\xc3\xa0s ");
        assert_eq!(restore_byte_a0(b"\xc2 "), b"\xc2\xa0");
    }

    #[test]
    fn c1_controls_become_windows_1252() {
        assert_eq!(fix_c1_controls("\u{93}hi\u{94}\u{81}"), "\u{201c}hi\u{201d}\u{81}");
    }
}
