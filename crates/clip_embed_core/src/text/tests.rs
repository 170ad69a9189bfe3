//! The tokenizer's unit tests: chunked reading against whole-text cleaning,
//! bounds, and the installed vocabulary.

use std::path::Path;

use super::generic::GenericPath;
use super::openai::*;
use super::pystr::python_lower;
use super::scan::*;
use super::tokenizer::ReadPath;
use super::*;
use crate::recipe::{PadToken, TextCleanup};

/// The tokenizer set-up installs (as `tests/common.rs` finds it).
fn installed_tokenizer() -> ClipTokenizer {
    let dir =
        std::env::var("CLIP_EMBED_MODEL_DIR").unwrap_or_else(|_| "/usr/share/postgresql/15/clip_embed/models".into());
    ClipTokenizer::from_file(&Path::new(&dir).join("tokenizer.json"), 77, &PadToken::Id(0), TextCleanup::OpenAi)
        .expect("run scripts/setup.sh")
}

/// The installed CLIP tokenizer as a Hugging Face or Immich family loads it.
fn generic_tokenizer(cleanup: TextCleanup) -> ClipTokenizer {
    let dir =
        std::env::var("CLIP_EMBED_MODEL_DIR").unwrap_or_else(|_| "/usr/share/postgresql/15/clip_embed/models".into());
    let pad = PadToken::Named("<|endoftext|>".into());
    ClipTokenizer::from_file(&Path::new(&dir).join("tokenizer.json"), 77, &pad, cleanup).expect("run scripts/setup.sh")
}

/// The generic reading path of a tokenizer loaded for a non-OpenAI family.
fn generic_path(t: &ClipTokenizer) -> &GenericPath {
    match &t.path {
        ReadPath::Generic(generic) => generic,
        ReadPath::OpenAi(_) => panic!("an OpenAI tokenizer"),
    }
}

#[test]
fn immich_cleanups_are_pythons() {
    assert_eq!(TextCleanup::Whitespace.apply(" a\u{1c}b \t c\n"), "a b c");
    assert_eq!(TextCleanup::Canonicalize.apply("  A Red,  Circle!! "), "a red circle");
    assert_eq!(TextCleanup::Canonicalize.apply("Straße_Ü"), "straßeü");
    assert_eq!(TextCleanup::TokenizerOnly.apply(" As Is! "), " As Is! ");
}

#[test]
fn the_post_processors_special_tokens_frame_the_text() {
    let t = generic_tokenizer(TextCleanup::TokenizerOnly);
    assert_eq!(generic_path(&t).framing, (vec![i64::from(START_OF_TEXT)], vec![i64::from(END_OF_TEXT)]));
    let (ids, real) = t.encode_counted("a photo of a cat", None).unwrap();
    assert_eq!(&ids[..real], &[49406, 320, 1125, 539, 320, 2368, 49407]);
    assert!(ids[real..].iter().all(|&id| id == 49407), "padded with <|endoftext|>");
}

#[test]
fn a_tokenizer_files_own_padding_and_truncation_are_ignored() {
    let dir =
        std::env::var("CLIP_EMBED_MODEL_DIR").unwrap_or_else(|_| "/usr/share/postgresql/15/clip_embed/models".into());
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&dir).join("tokenizer.json")).unwrap()).unwrap();
    json["padding"] = serde_json::json!({"strategy": {"Fixed": 77}, "direction": "Right", "pad_to_multiple_of": null,
        "pad_id": 49407, "pad_type_id": 0, "pad_token": "<|endoftext|>"});
    json["truncation"] =
        serde_json::json!({"direction": "Right", "max_length": 3, "strategy": "LongestFirst", "stride": 0});
    let path = std::env::temp_dir().join(format!("clip_embed_padded_tokenizer_{}.json", std::process::id()));
    std::fs::write(&path, json.to_string()).unwrap();
    let pad = PadToken::Named("<|endoftext|>".into());
    let t = ClipTokenizer::from_file(&path, 77, &pad, TextCleanup::TokenizerOnly).unwrap();
    std::fs::remove_file(&path).unwrap();
    let (ids, real) = t.encode_counted("a photo of a cat", None).unwrap();
    assert_eq!(&ids[..real], &[49406, 320, 1125, 539, 320, 2368, 49407]);
}

#[test]
fn generic_reading_is_bounded_and_equals_the_whole_text() {
    let t = generic_tokenizer(TextCleanup::Whitespace);
    let whole = |text: &str| -> Vec<i64> {
        let cleaned = TextCleanup::Whitespace.apply(text);
        let ids = t.tokenizer.encode_fast(cleaned.as_ref(), false).unwrap().get_ids().to_vec();
        let mut out = vec![i64::from(START_OF_TEXT)];
        out.extend(ids.iter().take(75).map(|&id| i64::from(id)));
        out.push(i64::from(END_OF_TEXT));
        out.resize(77, i64::from(END_OF_TEXT));
        out
    };
    for text in [
        "a red circle ".repeat(20_000),
        format!("{}a cat after blanks", " \t\n".repeat(100_000)),
        "x".repeat(100_000),
        format!("{} tail", "abc".repeat(40_000)),
        // Blank runs longer than the 4 MiB bound, before and between words.
        format!("{}a cat", " \n".repeat(5_000_000)),
        format!("a cat{}on a mat", "\u{3000}\t".repeat(3_000_000)),
    ] {
        let (ids, _) = t.encode_counted(&text, None).unwrap();
        assert_eq!(ids, whole(&text), "{}", &text[..40]);
    }
    assert!(generic_path(&t).whitespace_collapses, "CLIP's normaliser replaces \\s+ by a space");
    let err = t.encode_counted(" \t ", None).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
}

/// What `encode` computed before it was bounded: the whole text cleaned, then tokenized.
fn encode_whole(tokenizer: &ClipTokenizer, text: &str) -> Option<Vec<i64>> {
    let cleaned = clean_text(text);
    let encoding = tokenizer.tokenizer.encode_fast(cleaned.as_str(), false).unwrap();
    let mut ids = vec![i64::from(START_OF_TEXT)];
    ids.extend(encoding.get_ids().iter().take(75).map(|&id| i64::from(id)));
    if ids.len() == 1 {
        return None;
    }
    ids.push(i64::from(END_OF_TEXT));
    ids.resize(77, 0);
    Some(ids)
}

#[test]
fn chunked_encoding_equals_whole_text_encoding() {
    // Pieces that exercise every rule a chunk boundary could break.
    let long_word = "y".repeat(5000);
    let long_space = " ".repeat(5000);
    let pieces: Vec<&str> = vec![
        "&amp;",
        "&amp;amp;amp;",
        "&lt;",
        "&#",
        "65;",
        "&#x41;",
        "&",
        "amp",
        ";",
        "<",
        "<b>",
        "\n",
        "\r\n",
        "\r",
        " ",
        "  ",
        "\t",
        "\x0c",
        "\x0b",
        "\u{feff}",
        "\u{3000}",
        "\u{a0}",
        "\u{1b}[31m",
        "\u{1b}",
        "[",
        "e",
        "\u{301}",
        "\u{fb01}",
        "\u{ff21}",
        "\u{93}",
        "word",
        "x",
        "123",
        "!!",
        "'s",
        "<|endoftext|>",
        "\u{2028}",
        "\u{3a3}",
        "caf\u{e9}",
        "\u{1f6b2}",
        &long_word,
        &long_space,
    ];
    let tokenizer = installed_tokenizer();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % n
    };
    for case in 0..400 {
        let count = 1 + next(if case % 4 == 0 { 40 } else { 400 });
        let text: String = (0..count).map(|_| pieces[next(pieces.len())]).collect();
        let chunked = tokenizer.encode(&text, None).ok();
        assert_eq!(chunked, encode_whole(&tokenizer, &text), "case {case}: {:?}", &text[..text.len().min(300)]);
    }
}

#[test]
fn skipping_across_ftfy_segments_equals_the_whole_text() {
    // Lines of over 1,000,000 characters are several ftfy segments; a '<' in
    // one turns unescaping off for the rest. The chunked path jumps over
    // blank stretches to the segment of the next token; the whole-text path
    // walks every segment. They must agree wherever the boundaries fall.
    let tokenizer = installed_tokenizer();
    let blank = |n: usize| " ".repeat(n);
    let cases = [
        format!("<b>{}&amp;amp;amp; cat", blank(999_990)),
        format!("<b>{}&amp;amp;amp; cat", blank(1_000_010)),
        format!("&amp;amp; x{}<b>{}&amp;amp;amp; cat", blank(999_985), blank(2_500_000)),
        format!("{}\n{}<i> &amp;amp;amp;\n&amp;amp;amp;", blank(1_700_000), "\u{feff}".repeat(1_200_000)),
        format!("{}&amp;amp;amp; dog", "\t\n".repeat(1_600_000)),
    ];
    for (i, text) in cases.iter().enumerate() {
        assert_eq!(tokenizer.encode(text, None).ok(), encode_whole(&tokenizer, text), "case {i}");
    }
}

#[test]
fn words_across_a_segment_boundary_read_as_ftfy_joins_them() {
    // ftfy fixes each 1,000,000-character segment on its own and joins them:
    // a word the boundary cuts is one word again, and mojibake the boundary
    // cuts stays unrepaired (Python's ftfy gives "cafés", "cafés", "cafÃ©").
    let tokenizer = installed_tokenizer();
    let cases = [
        (format!("{}caf\u{c3}\u{a9}s", " ".repeat(999_998)), "caf\u{e9}s"),
        (format!("{}caf\u{c3}\u{a9}s", " ".repeat(999_997)), "caf\u{e9}s"),
        (format!("{}caf\u{c3}\u{a9}", " ".repeat(999_996)), "caf\u{c3}\u{a9}"),
    ];
    for (i, (text, word)) in cases.iter().enumerate() {
        assert_eq!(clean_text(text), python_lower(word), "case {i}");
        assert_eq!(tokenizer.encode(text, None).ok(), encode_whole(&tokenizer, text), "case {i}");
    }
}

#[test]
fn characters_are_counted_like_chars() {
    for text in ["", "abc", "caf\u{e9} \u{feff}\u{3000}\u{1f6b2}", &"\u{feff}x\u{a0}".repeat(37)] {
        assert_eq!(count_chars(text.as_bytes()), text.chars().count(), "{text:?}");
    }
}

#[test]
fn no_clip_token_is_longer_than_the_run_bound_assumes() {
    // MAX_RUN_BYTES counts on 75 tokens spanning at most 75 x 32 bytes (byte-level
    // characters are bytes).
    let tokenizer = installed_tokenizer();
    let longest = tokenizer
        .tokenizer
        .get_vocab(false)
        .keys()
        .filter(|t| !t.starts_with("<|"))
        .map(|t| t.trim_end_matches("</w>").chars().count())
        .max()
        .unwrap();
    assert!(longest <= 32, "longest token: {longest} bytes");
    assert!(75 * longest < MAX_RUN_BYTES / 16);
}

#[test]
fn ftfy_skips_unescaping_from_the_first_line_with_a_bracket_on() {
    // ftfy fixes a line at a time and stops unescaping at the first line
    // holding '<'; OpenAI's two html.unescape calls still apply everywhere.
    assert_eq!(clean_text("&amp;amp;amp;\n<b>"), "&\n<b>");
    assert_eq!(clean_text("<b>\n&amp;amp;amp;"), "<b>\n&amp;");
}

#[test]
fn clean_text_unescapes_html_and_uncurls_quotes() {
    assert_eq!(clean_text("  Tom &amp; Jerry  "), "tom & jerry");
    assert_eq!(clean_text("&amp;lt;b&amp;gt;"), "<b>");
    assert_eq!(clean_text("don\u{2019}t \u{201c}stop\u{201d}"), "don't \"stop\"");
}

#[test]
fn clean_text_applies_ftfy_character_fixes() {
    assert_eq!(clean_text("\u{fb01}sh \u{ff21}\u{ff22}\u{3000}c"), "fish ab c");
    assert_eq!(clean_text("\u{1b}[36;44mblue\u{1b}[0m"), "blue");
    assert_eq!(clean_text("a\u{0}b\u{feff}c"), "abc");
    assert_eq!(clean_text("\u{93}quoted\u{94}"), "\"quoted\"");
    assert_eq!(clean_text("e\u{301}"), "\u{e9}");
}

#[test]
fn a_capital_sigma_ending_a_word_reaches_the_bpe_as_final_sigma() {
    // Python's lower() gives "οδος"; the tokenizer's per-character Lowercase alone gave "οδοσ".
    let tokenizer = installed_tokenizer();
    let upper = tokenizer.encode("\u{39f}\u{394}\u{39f}\u{3a3} \u{3a3}\u{37a}", None).unwrap();
    let python_lowered = tokenizer.encode("\u{3bf}\u{3b4}\u{3bf}\u{3c2} \u{3c3}\u{37a}", None).unwrap();
    assert_eq!(upper, python_lowered);
    let per_character = tokenizer.encode("\u{3bf}\u{3b4}\u{3bf}\u{3c3} \u{3c3}\u{37a}", None).unwrap();
    assert_ne!(per_character, python_lowered, "σ and ς are different tokens");
}

#[test]
fn an_accent_unescaped_after_ftfy_stays_decomposed_as_in_python() {
    // ftfy does not unescape a line with '<' and OpenAI's html.unescape comes
    // after ftfy's NFC, so Python tokenizes "e" + U+0301, not "é".
    let tokenizer = installed_tokenizer();
    let decomposed = tokenizer.encode("<b>e&#769;", None).unwrap();
    // (ftfy composes a literal "e\u{301}", so that text tokenizes as "é".)
    let composed = tokenizer.encode("<b>e\u{301}", None).unwrap();
    assert_eq!(composed, tokenizer.encode("<b>\u{e9}", None).unwrap());
    assert_ne!(decomposed, composed);
    // Without '<', ftfy unescapes and composes it.
    assert_eq!(tokenizer.encode("e&#769;", None).unwrap(), tokenizer.encode("\u{e9}", None).unwrap());
}

#[test]
fn the_split_reads_like_openais_case_insensitive_pattern() {
    // Ids from OpenAI's tokenizer (tools/clip_reference.py): U+0345 gives no
    // token, and "'ſ" is the contraction "'s" under re.IGNORECASE.
    let tokenizer = installed_tokenizer();
    let body = |text: &str| -> Vec<i64> {
        tokenizer.encode(text, None).unwrap().into_iter().take_while(|&id| id != 0).collect()
    };
    assert_eq!(body("a\u{345}b"), [49406, 320, 321, 49407]);
    assert_eq!(body("y'\u{17f}a"), [49406, 344, 6, 129, 379, 320, 49407]);
}

#[test]
fn clean_text_leaves_entities_alone_in_html_for_ftfy_but_not_for_openai() {
    // ftfy skips unescaping when '<' is present, OpenAI's two html.unescape calls still run.
    assert_eq!(clean_text("<p>&amp;amp;amp;</p>"), "<p>&amp;</p>");
}

/// One text of tests/data/ftfy_cases.json (tools/ftfy_fixture.py): what ftfy
/// 6.3.1's `fix_text` makes of it, OpenAI's clean-up but for its whitespace
/// collapse (which the tokenizer does), and OpenAI's token ids.
#[derive(serde::Deserialize)]
struct FtfyCase {
    label: String,
    input: String,
    ftfy: String,
    openai: String,
    /// OpenAI's `clip.tokenize` ids between its start and end tokens.
    ids: Vec<i64>,
}

#[test]
fn ftfy_port_matches_python_on_every_fixture_case() {
    // cargo test sets CARGO_MANIFEST_DIR at run time too: a test binary that a checkout
    // elsewhere compiled into the shared target dir still reads this checkout's fixture.
    let root = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let path = std::path::PathBuf::from(root).join("tests/data/ftfy_cases.json");
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases: Vec<FtfyCase> = serde_json::from_value(fixture["cases"].clone()).unwrap();
    let tokenizer = installed_tokenizer();
    let mut failures = Vec::new();
    for case in &cases {
        let fixed = super::ftfy::ftfy_fix_text(&case.input);
        let cleaned = clean_text(&case.input);
        if fixed != case.ftfy || cleaned != case.openai {
            failures.push(format!(
                "{}: {:?} -> {:?} / {:?}, Python {:?} / {:?}",
                case.label, case.input, fixed, cleaned, case.ftfy, case.openai
            ));
        }
        let chunked = tokenizer.encode(&case.input, None).ok();
        assert_eq!(chunked, encode_whole(&tokenizer, &case.input), "{}: {:?}", case.label, case.input);
        // A text that gives no token is an error here, where OpenAI embeds an empty text.
        let openai = (!case.ids.is_empty()).then(|| {
            let mut ids = vec![i64::from(START_OF_TEXT)];
            ids.extend(case.ids.iter().take(75));
            ids.push(i64::from(END_OF_TEXT));
            ids.resize(77, 0);
            ids
        });
        if chunked != openai {
            failures.push(format!("{}: {:?} -> ids {:?}, OpenAI {:?}", case.label, case.input, chunked, openai));
        }
    }
    println!("{} of {} ftfy fixture cases clean and tokenize as in Python", cases.len() - failures.len(), cases.len());
    assert!(cases.len() > 2000, "the fixture holds {} cases", cases.len());
    assert!(failures.is_empty(), "{} differ:\n{}", failures.len(), failures.join("\n"));
}

/// Lines of 1,000,000 characters of dense mojibake, the most ftfy fixes at
/// once: one that re-encodes whole, one that only `decode_inconsistent_utf8`
/// can mend run by run (a trailing CJK character blocks every encoding), one
/// where every encoding fails to decode (a trailing lone lead byte), and
/// HTML references that take 21 rounds to unescape.
fn dense_mojibake_lines() -> Vec<(&'static str, String, String)> {
    let unit = "caf\u{c3}\u{a9} ";
    let repeat = FTFY_LINE_CHARS / unit.chars().count();
    let fixed_unit = "caf\u{e9} ";
    let nested = format!("&{}lt; ", "amp;".repeat(19));
    vec![
        ("re-encodes whole", unit.repeat(repeat), fixed_unit.repeat(repeat)),
        (
            "mended run by run",
            format!("{}\u{65e5}", unit.repeat(repeat - 1)),
            format!("{}\u{65e5}", fixed_unit.repeat(repeat - 1)),
        ),
        (
            "decodes nowhere",
            format!("{}\u{c3}", unit.repeat(repeat - 1)),
            format!("{}\u{c3}", fixed_unit.repeat(repeat - 1)),
        ),
        (
            "references 20 deep",
            nested.repeat(FTFY_LINE_CHARS / nested.len()),
            "< ".repeat(FTFY_LINE_CHARS / nested.len()),
        ),
    ]
}

/// ftfy's segment length: the most any one fix sees at once.
const FTFY_LINE_CHARS: usize = 1_000_000;

#[test]
fn a_line_of_dense_mojibake_cleans_in_bounded_time() {
    // Measured at opt-level 2 on the 2-core dev machine: 49, 85, 93 and 57 ms
    // (docs/decoding.md); Python's ftfy 6.3.1 takes 0.49, 1.5, 1.7 and 0.22 s.
    // The 2 s bound leaves room for a loaded machine.
    let tokenizer = installed_tokenizer();
    for (name, line, expected) in dense_mojibake_lines() {
        let started = std::time::Instant::now();
        let fixed = super::ftfy::ftfy_fix_text(&line);
        let elapsed = started.elapsed();
        println!("{name}: {} chars fixed in {elapsed:?}", line.chars().count());
        assert!(fixed == expected, "{name}: not repaired as ftfy repairs it");
        assert!(elapsed.as_secs_f64() < 2.0, "{name}: {elapsed:?}");
        let started = std::time::Instant::now();
        let ids = tokenizer.encode(&line, None).unwrap();
        println!("{name}: tokenized in {:?}", started.elapsed());
        assert_eq!(Some(ids), encode_whole(&tokenizer, &line), "{name}");
    }
}

/// Calls of [`counting_cancel`], and the call from which it says "cancel" (0: never).
static CANCEL_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static CANCEL_FROM_CALL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn counting_cancel() -> bool {
    use std::sync::atomic::Ordering::SeqCst;
    let call = CANCEL_CALLS.fetch_add(1, SeqCst) + 1;
    let from = CANCEL_FROM_CALL.load(SeqCst);
    from != 0 && call >= from
}

#[test]
fn a_segment_fixed_whole_polls_cancel_between_its_steps() {
    use std::sync::atomic::Ordering::SeqCst;
    // A line of references nested 20 deep: ftfy fixes it whole, in 21 rounds.
    let tokenizer = installed_tokenizer();
    let (name, line, _) = dense_mojibake_lines().into_iter().find(|(name, ..)| *name == "references 20 deep").unwrap();
    CANCEL_FROM_CALL.store(0, SeqCst);
    CANCEL_CALLS.store(0, SeqCst);
    let ids = tokenizer.encode(&line, Some(counting_cancel)).unwrap();
    let polls = CANCEL_CALLS.load(SeqCst);
    // Three polls a round inside the segment, beside the reader's own between chunks.
    assert!(polls >= 3 * 21, "{name}: cancel polled {polls} times");
    assert_eq!(Some(ids), encode_whole(&tokenizer, &line), "{name}");
    // A cancel in the middle of the segment stops it at that poll.
    CANCEL_FROM_CALL.store(10, SeqCst);
    CANCEL_CALLS.store(0, SeqCst);
    assert!(matches!(tokenizer.encode(&line, Some(counting_cancel)), Err(crate::error::Error::Cancelled)));
    assert_eq!(CANCEL_CALLS.load(SeqCst), 10, "{name}: work went on after the cancel");
}
