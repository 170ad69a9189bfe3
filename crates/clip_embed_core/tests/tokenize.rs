//! Tokenizer ids against OpenAI's tokenizer, on the tokenizer.json set-up builds.
mod common;

use clip_embed_core::recipe::{PadToken, TextCleanup};
use clip_embed_core::text::{is_blank, ClipTokenizer, END_OF_TEXT, START_OF_TEXT};
use clip_embed_core::ErrorKind;

fn tokenizer() -> ClipTokenizer {
    ClipTokenizer::from_file(&common::model_dir().join("tokenizer.json"), 77, &PadToken::Id(0), TextCleanup::OpenAi)
        .unwrap()
}

fn encode(text: &str) -> Vec<i64> {
    tokenizer().encode(text, None).unwrap()
}

fn body(ids: &[i64]) -> Vec<i64> {
    ids.iter().copied().take_while(|&id| id != 0).collect()
}

#[test]
fn known_strings_give_openai_ids() {
    // Ids from OpenAI's clip.tokenize, as printed by tools/clip_reference.py.
    assert_eq!(body(&encode("a photo of a cat")), [49406, 320, 1125, 539, 320, 2368, 49407]);
    assert_eq!(
        body(&encode("Hello World! it's 2026 &amp; café 🚲")),
        [49406, 3306, 1002, 256, 585, 568, 273, 271, 273, 277, 261, 15304, 37085, 49407]
    );
}

#[test]
fn output_is_padded_to_the_context_length() {
    let ids = encode("a dog");
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], i64::from(START_OF_TEXT));
    assert!(ids[4..].iter().all(|&id| id == 0));
}

#[test]
fn padding_uses_the_family_pad_id_and_the_real_length_is_counted() {
    let t = ClipTokenizer::from_file(
        &common::model_dir().join("tokenizer.json"),
        16,
        &PadToken::Id(49407),
        TextCleanup::OpenAi,
    )
    .unwrap();
    // OpenAI's tokenizer gives [343, 0, 1, 349] for 'x !"~': id 0 ('!' inside a
    // punctuation word) is a real token, which a mask by id would hide.
    let (ids, real) = t.encode_counted("x !\"~", None).unwrap();
    assert_eq!(&ids[..real], &[49406, 343, 0, 1, 349, 49407]);
    assert!(ids[real..].iter().all(|&id| id == 49407));
}

#[test]
fn long_text_is_truncated_with_end_of_text_kept_last() {
    let ids = encode(&"word ".repeat(200));
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], i64::from(START_OF_TEXT));
    assert_eq!(ids[76], i64::from(END_OF_TEXT));
    assert!(ids[1..76].iter().all(|&id| id == 2653), "'word' is id 2653 in OpenAI's vocabulary");
}

#[test]
fn empty_and_whitespace_text_is_rejected() {
    let t = tokenizer();
    for blank in ["", " \n\t ", "\u{feff}\u{3000}\r\n", "&#32;", "\u{1b}[31m"] {
        let err = t.encode(blank, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{blank:?}");
    }
    assert!(is_blank(" \u{a0}\u{2028}\u{0}\u{7f}"));
    assert!(!is_blank("   x"));
    // ESC may start a terminal escape, '&' a reference: neither is blank by itself.
    assert!(!is_blank("\u{1b}"));
    assert!(!is_blank(" &#32;"));
}

#[test]
fn a_long_text_embeds_as_its_prefix() {
    let prefix = "the quick brown fox jumps over the lazy dog ".repeat(10);
    let long = prefix.repeat(200_000); // 88 MB
    assert_eq!(encode(&long), encode(&prefix));
}

#[test]
fn huge_runs_without_separators_end_in_bounded_work() {
    // A 10 MB word took 15.6 s and 1 GB before tokenizing was bounded; now the
    // first 64 KiB of the run give the 75 tokens.
    let word = "x".repeat(10 << 20);
    let ids = encode(&word);
    assert_eq!(ids[0], i64::from(START_OF_TEXT));
    assert_eq!(ids[76], i64::from(END_OF_TEXT));
    assert!(ids[1..76].iter().all(|&id| id > 0 && id < i64::from(START_OF_TEXT)));
    // The same word capped at 70 KiB: the ids do not depend on the rest of the run.
    assert_eq!(ids, encode(&word[..70 << 10]));
    // Half a gigabyte of spaces before one word: skipped, not tokenized.
    let spaced = format!("{}a cat", " ".repeat(512 << 20));
    assert_eq!(encode(&spaced), encode("a cat"));
}

#[test]
fn cancel_is_polled_while_tokenizing() {
    fn always() -> bool {
        true
    }
    let err = tokenizer().encode("a cat", Some(always)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}
