#!/usr/bin/env python3
"""Writes crates/clip_embed_core/tests/data/ftfy_cases.json: texts with the
output of ftfy 6.3.1's `fix_text` and of OpenAI CLIP's clean-up but for its
whitespace collapse (`html.unescape` twice, `strip`, `lower`), for the Rust port's
fixture test (src/text/tests.rs).

    python3 tools/ftfy_fixture.py [--upstream path/to/ftfy/tests/test_cases.json] \
        [--bpe path/to/bpe_simple_vocab_16e6.txt.gz]

The upstream cases are ftfy's own tests/test_cases.json (in the sdist:
`pip download --no-binary :all: --no-deps ftfy==6.3.1`); without --upstream
they are left out and the tool says so. Every expected value is what ftfy
computes, including the cases upstream marks as failing. With --bpe (the
file scripts/setup.sh fetches), each case also holds the ids OpenAI's
`clip.tokenize(text, truncate=True)` gives, between its start and end
tokens, from tools/clip_reference.py's copy of `simple_tokenizer.py`.
Needs ftfy==6.3.1, regex and numpy.
"""

import argparse
import html
import json
import random
import sys
from pathlib import Path

import ftfy

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/clip_embed_core/tests/data/ftfy_cases.json"

assert ftfy.__version__ == "6.3.1"

ENCODINGS = [
    "latin-1",
    "windows-1252",
    "sloppy-windows-1252",
    "sloppy-windows-1251",
    "sloppy-windows-1250",
    "sloppy-windows-1253",
    "sloppy-windows-1254",
    "sloppy-windows-1257",
    "iso-8859-2",
    "macroman",
    "cp437",
]

WORDS = ["café", "naïve", "Ångström", "jalapeño", "Œuvre", "déjà vu", "São Paulo", "Zürich", "façade", "€100",
         "“quoted”", "it’s", "—dash—", "…", "Straße", "Ελληνικά", "Русский", "Čeština", "Türkçe", "日本語", "😀 emoji",
         "½ cup", "±5 °C", "© 2024", "¿Qué?", "¡Hola!", "naïveté", "smörgåsbord", "crème brûlée", "Łódź"]

SENTENCES = ["The {} is here.", "{}", "“{}” she said", "A {} and a {}.", "{}\n{}", "price: {} only", "<b>{}</b> &amp; {}"]


def mojibake(text, encoding):
    try:
        return text.encode("utf-8").decode(encoding)
    except UnicodeError:
        return None


def openai_clean(text):
    return html.unescape(html.unescape(ftfy.fix_text(text))).strip().lower()


def generated_cases():
    cases = []
    # Every Latin-1 / Windows-1252 character (and every byte the sloppy codecs map), mis-decoded once and twice.
    chars = sorted({chr(c) for c in range(0xA0, 0x100)} | set(bytes(range(0x80, 0xA0)).decode("sloppy-windows-1252")))
    for ch in chars:
        for enc in ("latin-1", "sloppy-windows-1252", "windows-1252"):
            once = mojibake(ch, enc)
            if once is None:
                continue
            cases.append(("char-once-" + enc, once))
            cases.append(("char-once-word-" + enc, "x" + once + "y"))
            twice = mojibake(once, enc)
            if twice is not None:
                cases.append(("char-twice-" + enc, twice))
    for word in WORDS:
        for enc in ENCODINGS:
            once = mojibake(word, enc)
            if once is None:
                continue
            cases.append(("word-" + enc, once))
            twice = mojibake(once, enc)
            if twice is not None:
                cases.append(("word-twice-" + enc, twice))
            for other in ("latin-1", "sloppy-windows-1252"):
                mixed = mojibake(once, other)
                if mixed is not None:
                    cases.append((f"word-{enc}-then-{other}", mixed))
    rng = random.Random(18)
    for i, template in enumerate(SENTENCES * 6):
        filled = template.format(*(rng.choice(WORDS) for _ in range(template.count("{}"))))
        enc = ENCODINGS[i % len(ENCODINGS)]
        bad = mojibake(filled, enc)
        if bad is not None:
            cases.append(("sentence-" + enc, bad))
            cases.append(("sentence-clean-and-bad", filled + " " + bad))
            cases.append(("sentence-nbsp-as-space", bad.replace("\xa0", " ")))
        cases.append(("sentence-unchanged", filled))
    return cases


def edge_cases():
    texts = [
        ("unicode", s)
        for s in [
            "\u0345", "a\u0345", "\u03a3\u037a", "A\u03a3\u037a", "A\u03a3\u0345", "A\u03a3\u0345B", "\u03a3",
            "\u039f\u0394\u039f\u03a3.", "A'\u03a3'", "\u03a3\u03a3 \u03a3\u03a3\u03a3", "\u0391\u0345\u03a3", "\u039f\u0394\u039f\u03a3 \u03a3\u037a", "e" + "\u0301" * 40,
            "a" + "\u0300\u0316" * 30, "\u0130stanbul", "I\u0307", "\u1e9e", "\ufb01sh \uff21\uff22\u3000c",
            "\u1b4b", "\U0001F600", "\u00e9", "e\u0301", "\u212b", "\uac00\u11a8", "\u0958", "\u2126", "ﬀ ﬃ ﬆ",
            "\u0149", "\u01c4\u01c5\u01c6", "\uff8a\uff9f", "\uffe0\uffe6",
        ]
    ]
    texts += [
        ("html", s)
        for s in [
            "&amp;", "&amp;amp;amp;", "&EACUTE; &eacute; &Eacute;", "&#65; &#x41; &#65a; &#x3b;", "&#128; &#0; &#1;",
            "&#x110000; &#xD800;", "&amp &ampx &notit; &notin;", "caf&Atilde;&copy;", "<p>&amp;amp;</p>",
            "&lt;b&gt;", "&bogus; &; &#; &#x;", "&Amp; &AMP; &QUOT;", "&nbsp;&NBSP;", "&#150;&#x96;",
            "&lt;&lt;\n&amp;amp;", "a &amp; b\n<i>&amp;</i>\n&amp;", "&#9999999999999999999;",
        ]
    ]
    texts += [
        ("control", s)
        for s in [
            "\x1b[36;44mblue\x1b[0m", "\x1b[\uff13mx", "\x1b[\u0663m", "a\x00b\ufeffc", "a\r\nb\rc\u2028d\u2029e\x85f",
            "\x93quoted\x94", "\x81\x8d\x8f\x90\x9d", "\x80\x81", "tab\tand\x0bvt\x0cff", "\x1c\x1d\x1e\x1f",
            "\u206a\u206f\ufff9\ufffc\ufffd", "\u201cq\u201d \u2018s\u2019 \u02bcn",
        ]
    ]
    texts += [
        ("mojibake", s)
        for s in [
            "Ã©", "Ã ", "Ã  la", "Ã s ", "Ã quele", "CafÃ© au lait", "â€œmojibakeâ€\x9d", "â€™", "â€\x9d",
            "Ã\xa0 vous", "Ã \n", "Ã€\n", "Ã©À\n", "í ½í¸€", "í ½í¸\n", "Ã€Ã€", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "Ù…Ø±Ø­Ø¨Ø§",
            "ÎšÎ±Î»Î·Î¼Î­Ï\x81Î±", "Ã¶Ã¤Ã¼", "ÃƒÂ©", "Ãƒâ€šÃ‚Â©", "Ã¢â‚¬Å“", "Ã©\x1a", "Ã\x1a", "Ã?", "â€?",
            "sÃ£o paulo â€” cafÃ© ðŸ˜€", "Ã©Ã©Ã©", "This is clean. CafÃ©", "clean café and bad cafÃ©",
            "×\xa0", "Ã¼ber", "Ãœber", "ÃŸ", "ð\x9f\x98\x80", "â€¢ bullet", "Â£100", "Â", "Â ", "a Â b",
            "ÐÑÐ»Ð¸", "ГўВЂВњtestГўВЂВќ", "вЂњquotesвЂќ", "Ã©\nÃ©\n<b>Ã©", "x\u3000Ã©", "Ã©\u3000",
            "\xa0Ã©", "  Ã©  ", "Ã©" * 300, "Ã\xa0#À\nð\x9f\x98?", "Ã©À\nnext", "xÃ©À\nÃ©y", "í ½í¸\nx",
        ]
    ]
    texts += [("multiline", "CafÃ©\nplain\r\n&amp; ok\nâ€œhiâ€\x9d\n<br>&amp;\nlast Ã©")]
    return texts


def random_mixes(n):
    rng = random.Random(2026)
    pieces = ["Ã", "©", "â€", "œ", "\x9d", "&amp;", "&", "#", ";", "<", "\n", "\r", " ", "\xa0", "\u3000", "é",
              "e\u0301", "\u0345", "\u03a3", "word", "Ð", "¿", "€", "\x1a", "?", "\x1b[1m", "\ufeff", "\u2019",
              "\uff21", "ﬁ", "Â", "\x80", "ð\x9f\x98", "\x80", "í ½", "í¸€", "Ã\xa0", "À", "\u2028", "1", "x"]
    for _ in range(n):
        yield "".join(rng.choice(pieces) for _ in range(rng.randint(1, 24)))


def openai_tokenizer(bpe_path):
    """tools/clip_reference.py's SimpleTokenizer, without that file's image dependencies."""
    import functools
    import gzip

    import numpy
    import regex

    source = (ROOT / "tools/clip_reference.py").read_text()
    start = source.index("# ---- OpenAI's simple_tokenizer.py")
    end = source.index("# ---- The seed's decoding")
    namespace = {"gzip": gzip, "html": html, "ftfy": ftfy, "re": regex, "np": numpy, "lru_cache": functools.lru_cache}
    exec(source[start:end], namespace)
    return namespace["SimpleTokenizer"](bpe_path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", type=Path, help="ftfy's tests/test_cases.json from the 6.3.1 sdist")
    parser.add_argument("--bpe", type=Path, help="OpenAI's bpe_simple_vocab_16e6.txt.gz, to add token ids")
    args = parser.parse_args()
    tokenizer = openai_tokenizer(args.bpe) if args.bpe else None
    if tokenizer is None:
        print("no --bpe: token ids left out", file=sys.stderr)

    cases = []
    if args.upstream:
        for case in json.loads(args.upstream.read_text()):
            cases.append(("upstream: " + case["label"], case["original"]))
            cases.append(("upstream fixed: " + case["label"], case["fixed"]))
    else:
        print("no --upstream: ftfy's own test cases left out", file=sys.stderr)
    cases += generated_cases()
    cases += edge_cases()
    cases += [("random", s) for s in random_mixes(600)]

    seen, out = set(), []
    for label, text in cases:
        if text in seen:
            continue
        seen.add(text)
        case = {"label": label, "input": text, "ftfy": ftfy.fix_text(text), "openai": openai_clean(text)}
        if tokenizer is not None:
            ids = [int(i) for i in tokenizer.tokenize(text)]
            case["ids"] = ids[1 : ids.index(tokenizer.encoder["<|endoftext|>"], 1)]
        out.append(case)
    # One case a line: compact, and a regenerated file diffs case by case.
    header = json.dumps({"ftfy": ftfy.__version__, "python": sys.version.split()[0]})[:-1]
    data = header + ', "cases": [\n' + ",\n".join(json.dumps(case, ensure_ascii=False) for case in out) + "\n]}"
    OUT.write_text(data + "\n", encoding="utf-8")
    changed = sum(c["input"] != c["ftfy"] for c in out)
    print(f"wrote {OUT}: {len(out)} cases ({changed} changed by ftfy), {len(data)} bytes")


if __name__ == "__main__":
    main()
