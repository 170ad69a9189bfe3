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

use std::path::Path;

use tokenizers::Tokenizer;
use unicode_normalization::UnicodeNormalization;

use crate::error::{io_error, Error, Result};

/// OpenAI's `<|startoftext|>` id in the 49,408-token CLIP vocabulary.
pub const START_OF_TEXT: u32 = 49406;
/// OpenAI's `<|endoftext|>` id; text pooling reads the features at this token.
pub const END_OF_TEXT: u32 = 49407;

/// A loaded CLIP tokenizer with its context length.
pub struct ClipTokenizer {
    tokenizer: Tokenizer,
    start_of_text: u32,
    end_of_text: u32,
    context_length: usize,
}

impl ClipTokenizer {
    /// Loads a Hugging Face `tokenizer.json` (the file `tools/build_tokenizer.py`
    /// writes, or the one shipped with `openai/clip-vit-*` models).
    pub fn from_file(path: &Path, context_length: usize) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| io_error("tokenizer file", path, e))?;
        let tokenizer = Tokenizer::from_bytes(&bytes)
            .map_err(|e| Error::InvalidModel(format!("invalid tokenizer file \"{}\": {e}", path.display())))?;
        let special = |name: &str, fallback: u32| tokenizer.token_to_id(name).unwrap_or(fallback);
        let start_of_text = special("<|startoftext|>", START_OF_TEXT);
        let end_of_text = special("<|endoftext|>", END_OF_TEXT);
        if context_length < 2 {
            return Err(Error::InvalidModel(format!("context length {context_length} is below 2")));
        }
        Ok(ClipTokenizer { tokenizer, start_of_text, end_of_text, context_length })
    }

    /// The number of token slots the text tower takes (77 for OpenAI's models).
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Token ids as `clip.tokenize(text, truncate=True)` gives them: SOT, the
    /// BPE ids, EOT, zero padding to the context length. Longer text is cut
    /// and EOT kept last, since the text tower pools at EOT.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let cleaned = clean_text(text);
        if cleaned.trim().is_empty() {
            return Err(Error::InvalidArgument("text to embed must not be empty".into()));
        }
        let encoding = self
            .tokenizer
            .encode_fast(cleaned.as_str(), false)
            .map_err(|e| Error::InvalidArgument(format!("could not tokenize text: {e}")))?;
        let mut ids = Vec::with_capacity(self.context_length);
        ids.push(i64::from(self.start_of_text));
        let body_room = self.context_length - 2;
        ids.extend(encoding.get_ids().iter().take(body_room).map(|&id| i64::from(id)));
        ids.push(i64::from(self.end_of_text));
        ids.resize(self.context_length, 0);
        Ok(ids)
    }
}

/// The part of OpenAI's `basic_clean` (ftfy + `html.unescape` twice + strip)
/// that `tokenizer.json` cannot express. See the module docs for what is left out.
pub fn clean_text(text: &str) -> String {
    // ftfy only unescapes when the text has no '<' (it might be HTML), and
    // repeats its fixes until nothing changes; OpenAI then unescapes twice more.
    let mut text = text.to_string();
    let ftfy_unescapes = !text.contains('<');
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
    for _ in 0..2 {
        text = htmlize::unescape(&text).into_owned();
    }
    text.trim().to_string()
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
