//! Texts: the tokenizer that turns a text into a tower's token ids, and the
//! per-backend cache of text embeddings.
//!
//! * `tokenizer`: [`ClipTokenizer`], a `tokenizer.json`, the family's context length,
//!   pad token and cleanup ([`TextRecipe`](crate::recipe::TextRecipe))
//! * `openai`: OpenAI's `clip.tokenize(text, truncate=True)`, read a chunk at a
//!   time ([`clean_text`] is the whole-text reference of its cleaning)
//! * `generic`: every other family (transformers, Immich, SigLIP), read a
//!   growing prefix at a time
//! * `ftfy`: ftfy 6.3.1's `fix_text` (mojibake repair, character fixes, HTML unescaping)
//! * `pystr`: Python 3.11's `str.lower` (final sigma), for OpenAI's `lower()`
//! * `scan`: byte scanners for whitespace and characters that give no token
//! * `cleanup`: Immich's and open_clip's plain-string cleanups
//! * [`cache`]: the LRU cache of text embeddings
//!
//! Only as much text is read as the context needs ([`ClipTokenizer::encode`]):
//! tokenizing the whole input let any caller hold a backend for 30 s and 5 GB
//! with one `repeat()`.

pub mod cache;
mod cleanup;
mod ftfy;
mod generic;
mod openai;
mod pystr;
mod scan;
#[cfg(test)]
mod tests;
mod tokenizer;

pub use openai::clean_text;
pub use scan::is_blank;
pub use tokenizer::{ClipTokenizer, END_OF_TEXT, START_OF_TEXT};
