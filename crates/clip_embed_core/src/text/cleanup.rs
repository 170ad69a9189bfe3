//! The cleanups that are plain string functions: Immich's `clean_text` and
//! open_clip's canonicalisation (OpenAI's is [`super::ftfy`], applied chunk
//! by chunk).

use crate::recipe::TextCleanup;

impl TextCleanup {
    /// The cleaned text, for the families whose cleanup is a plain string function.
    pub(super) fn apply(self, text: &str) -> std::borrow::Cow<'_, str> {
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
pub(super) fn python_split_join(text: &str) -> String {
    let is_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    text.split(is_space).filter(|word| !word.is_empty()).collect::<Vec<_>>().join(" ")
}
