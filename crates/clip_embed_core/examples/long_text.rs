//! The tokenizer's own time on hostile long texts, and how fast it stops when
//! cancelled, without Postgres around it (bench/long_text.sh measures through
//! SQL). Not a test. Usage: cargo run --release --example long_text -p clip_embed_core
//! (reads the tokenizer set-up installs, or CLIP_EMBED_MODEL_DIR).
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clip_embed_core::recipe::{PadToken, TextCleanup};
use clip_embed_core::text::{is_blank, ClipTokenizer};

static CANCEL: AtomicBool = AtomicBool::new(false);

fn cancelled() -> bool {
    CANCEL.load(Ordering::Relaxed)
}

fn main() {
    let dir = std::env::var("CLIP_EMBED_MODEL_DIR").unwrap_or("/usr/share/postgresql/15/clip_embed/models".into());
    let path = Path::new(&dir).join("tokenizer.json");
    let eot = PadToken::Named("<|endoftext|>".into());
    // OpenAI's path, and the generic path of the other families on the same vocabulary.
    let tokenizers = [
        ("openai", ClipTokenizer::from_file(&path, 77, &PadToken::Id(0), TextCleanup::OpenAi).expect("tokenizer")),
        (
            "hf (tokenizer.json)",
            ClipTokenizer::from_file(&path, 77, &eot, TextCleanup::TokenizerOnly).expect("tokenizer"),
        ),
        ("immich (whitespace)", ClipTokenizer::from_file(&path, 77, &eot, TextCleanup::Whitespace).expect("tokenizer")),
    ];
    let cases = [
        ("repeat('ab cd ', 8000000)", "ab cd ".repeat(8_000_000)),
        ("10 MB single word", "y".repeat(10 << 20)),
        ("1 GB - 1 of spaces, then a word", format!("{}cat", " ".repeat((1 << 30) - 4))),
        ("486 MB of U+FEFF (all deleted)", "\u{feff}".repeat(170_000_000)),
        ("1 GB of blank lines (LF)", "\n".repeat(1 << 30)),
        ("800 MB of '&amp; '", "&amp; ".repeat(140_000_000)),
        ("1M-char line, mojibake/refs/controls", mixed_line()),
    ];
    // Usage: long_text [SUBSTRING]: only the inputs whose name holds it.
    let only = std::env::args().nth(1).unwrap_or_default();
    let cases: Vec<_> = cases.into_iter().filter(|(name, _)| name.contains(only.as_str())).collect();
    println!("{:20} {:34} {:>9} {:>14}", "path", "input", "encode s", "cancel after");
    for ((name, text), (path, tokenizer)) in cases.iter().flat_map(|c| tokenizers.iter().map(move |t| (c, t))) {
        CANCEL.store(false, Ordering::Relaxed);
        let started = Instant::now();
        let outcome =
            if is_blank(text) { "blank" } else { tokenizer.encode(text, Some(cancelled)).map_or("error", |_| "ids") };
        let seconds = started.elapsed().as_secs_f64();
        // The same input again, cancelled 5 ms in: how long until encode returns.
        CANCEL.store(false, Ordering::Relaxed);
        let latency = std::thread::scope(|scope| {
            let flipped = scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(5));
                CANCEL.store(true, Ordering::Relaxed);
                Instant::now()
            });
            let _ = tokenizer.encode(text, Some(cancelled));
            let returned = Instant::now();
            let flipped = flipped.join().unwrap();
            returned
                .checked_duration_since(flipped)
                .map_or("finished first".to_string(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
        });
        println!("{path:20} {name:34} {seconds:9.3} {latency:>14}  ({outcome})");
    }
}

/// One line of a million characters: mojibake pieces, HTML references and
/// control characters in a fixed pseudo-random order, which ftfy cleans
/// whole, over several rounds (about 0.1 s here; the slowest line found,
/// docs/decoding.md, took 0.43 s).
fn mixed_line() -> String {
    let pieces =
        ["caf\u{c3}\u{a9} ", "&amp;amp;lt;", "\u{1b}[31m", "\u{80}\u{99}", "na\u{c3}\u{af}ve ", "&#x2019;", "\u{7}x "];
    let (mut line, mut state, mut chars) = (String::new(), 0x2545_f491_u32, 0);
    while chars < 1_000_000 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let piece = pieces[(state >> 16) as usize % pieces.len()];
        line.push_str(piece);
        chars += piece.chars().count();
    }
    line
}
