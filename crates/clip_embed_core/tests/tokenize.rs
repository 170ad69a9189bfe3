//! Tokenizer ids against OpenAI's tokenizer, on the tokenizer.json set-up builds.
mod common;

use clip_embed_core::tokenize::{ClipTokenizer, END_OF_TEXT, START_OF_TEXT};

fn tokenizer() -> ClipTokenizer {
    ClipTokenizer::from_file(&common::model_dir().join("tokenizer.json"), 77).unwrap()
}

fn body(ids: &[i64]) -> Vec<i64> {
    ids.iter().copied().take_while(|&id| id != 0).collect()
}

#[test]
fn known_strings_give_openai_ids() {
    let t = tokenizer();
    // Ids from OpenAI's clip.tokenize, as printed by tools/clip_reference.py.
    assert_eq!(body(&t.encode("a photo of a cat").unwrap()), [49406, 320, 1125, 539, 320, 2368, 49407]);
    assert_eq!(
        body(&t.encode("Hello World! it's 2026 &amp; café 🚲").unwrap()),
        [49406, 3306, 1002, 256, 585, 568, 273, 271, 273, 277, 261, 15304, 37085, 49407]
    );
}

#[test]
fn output_is_padded_to_the_context_length() {
    let ids = tokenizer().encode("a dog").unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], i64::from(START_OF_TEXT));
    assert!(ids[4..].iter().all(|&id| id == 0));
}

#[test]
fn long_text_is_truncated_with_end_of_text_kept_last() {
    let long = "word ".repeat(200);
    let ids = tokenizer().encode(&long).unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], i64::from(START_OF_TEXT));
    assert_eq!(ids[76], i64::from(END_OF_TEXT));
    assert!(ids[1..76].iter().all(|&id| id == 2653), "'word' is id 2653 in OpenAI's vocabulary");
}

#[test]
fn empty_and_whitespace_text_is_rejected() {
    let t = tokenizer();
    assert!(t.encode("").is_err());
    assert!(t.encode(" \n\t ").is_err());
}
