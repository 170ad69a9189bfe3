//! HTML character references, unescaped twice over: ftfy's `unescape_html`
//! (a strict `&name;` / `&#num;` pattern and ftfy's own table, which adds
//! upper-case names such as `&EACUTE;`), then OpenAI's two calls of Python's
//! `html.unescape` (HTML 5's rules: names without ';', longest-prefix names,
//! remapped and dropped numbers). Both tables come from Python (tables.rs).

use std::borrow::Cow;
use std::collections::HashMap;

use once_cell::sync::Lazy;
use regex::{Captures, Regex, Replacer};

use super::tables::{
    FTFY_ENTITIES, FTFY_ENTITY_PATTERN, HTML5_ENTITIES, HTML_CHARREF_PATTERN, HTML_INVALID_CHARREFS,
    HTML_INVALID_CODEPOINTS,
};

static FTFY_ENTITY: Lazy<Regex> = Lazy::new(|| Regex::new(FTFY_ENTITY_PATTERN).expect("generated pattern compiles"));
static HTML_CHARREF: Lazy<Regex> = Lazy::new(|| Regex::new(HTML_CHARREF_PATTERN).expect("generated pattern compiles"));
static FTFY_ENTITY_MAP: Lazy<HashMap<&'static str, &'static str>> =
    Lazy::new(|| FTFY_ENTITIES.iter().copied().collect());
static HTML5_MAP: Lazy<HashMap<&'static str, &'static str>> = Lazy::new(|| HTML5_ENTITIES.iter().copied().collect());

/// ftfy's `unescape_html`: a name in ftfy's table, or a numeric reference
/// that `html.unescape` turns into text without a ';'.
pub(crate) fn ftfy_unescape_html(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    FTFY_ENTITY.replace_all(text, FtfyEntityReplacer)
}

/// ftfy's `_unescape_fixup`, appending in place (a line of references makes
/// hundreds of thousands of replacements a round).
struct FtfyEntityReplacer;

impl Replacer for FtfyEntityReplacer {
    fn replace_append(&mut self, caps: &Captures<'_>, dst: &mut String) {
        let reference = &caps[0];
        if let Some(value) = FTFY_ENTITY_MAP.get(reference) {
            dst.push_str(value);
        } else if reference.starts_with("&#") {
            let unescaped = html_unescape(reference);
            dst.push_str(if unescaped.contains(';') { reference } else { &unescaped });
        } else {
            dst.push_str(reference);
        }
    }
}

/// Python 3.11's `html.unescape`.
pub(crate) fn html_unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    HTML_CHARREF.replace_all(text, |caps: &Captures<'_>| replace_charref(&caps[0][1..]))
}

/// `html._replace_charref` on a reference without its '&'.
fn replace_charref(reference: &str) -> String {
    if let Some(number) = reference.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        // Saturates past U+10FFFF, where Python's big integer lands in the same branch.
        let code = digits
            .trim_end_matches(';')
            .chars()
            .filter_map(|c| c.to_digit(radix))
            .fold(0u32, |code, digit| code.saturating_mul(radix).saturating_add(digit).min(0x11_0000));
        if let Ok(i) = HTML_INVALID_CHARREFS.binary_search_by_key(&code, |&(k, _)| k) {
            return HTML_INVALID_CHARREFS[i].1.to_string();
        }
        if (0xd800..=0xdfff).contains(&code) || code > 0x10_ffff {
            return '\u{fffd}'.to_string();
        }
        if HTML_INVALID_CODEPOINTS.binary_search(&code).is_ok() {
            return String::new();
        }
        return char::from_u32(code).map_or_else(String::new, String::from);
    }
    if let Some(value) = HTML5_MAP.get(reference) {
        return (*value).to_string();
    }
    // The longest name that starts the reference, at least two characters long.
    let bounds: Vec<usize> = reference.char_indices().map(|(i, _)| i).collect();
    for &cut in bounds.iter().skip(2).rev() {
        if let Some(value) = HTML5_MAP.get(&reference[..cut]) {
            return format!("{value}{}", &reference[cut..]);
        }
    }
    format!("&{reference}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftfy_unescapes_only_whole_references_and_upper_case_names() {
        assert_eq!(ftfy_unescape_html("&EACUTE; &eacute; &amp &#65; &#65a;"), "\u{c9} \u{e9} &amp A &#65a;");
        assert_eq!(ftfy_unescape_html("&#x3b; &#128; &bogus;"), "&#x3b; \u{20ac} &bogus;");
    }

    #[test]
    fn html_unescape_follows_html5_like_python() {
        assert_eq!(
            html_unescape("&amp &ampx &notit; &#0; &#x110000; &#1; &#150;"),
            "& &x \u{ac}it; \u{fffd} \u{fffd}  \u{2013}"
        );
        assert_eq!(html_unescape("&; &# &#x; &zzz;"), "&; &# &#x; &zzz;");
    }
}
