//! ftfy 6's `fix_text` as OpenAI's `basic_clean` applies it, for what is a
//! plain character mapping (C1 controls read as Windows-1252, Latin ligatures,
//! full/half width, curly quotes, terminal escapes, control characters, NFC),
//! and HTML unescaping. ftfy's mojibake repair (`fix_encoding`) is a
//! statistical heuristic and is not reproduced: text that is itself
//! mis-decoded UTF-8 ("cafÃ©") tokenizes as written.

use unicode_normalization::UnicodeNormalization;

/// ftfy's `max_decode_length`: `fix_text` fixes a line at a time, and a line
/// longer than this many characters in pieces of this many.
pub(super) const FTFY_SEGMENT_CHARS: usize = 1_000_000;

/// ftfy's fixes on (part of) one segment until nothing changes, unescaping
/// HTML only where ftfy's rule allows.
pub(super) fn ftfy_fixpoint(text: &str, ftfy_unescapes: bool) -> String {
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
pub(super) fn openai_unescape(mut text: String) -> String {
    for _ in 0..2 {
        text = htmlize::unescape(&text).into_owned();
    }
    text
}

/// ftfy 6's character-level fixes, in ftfy's order, then NFC.
pub(super) fn ftfy_character_fixes(text: &str) -> String {
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
pub(super) fn fix_c1_control(c: char) -> char {
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
