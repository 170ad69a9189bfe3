#!/usr/bin/env python3
"""Generates crates/clip_embed_core/src/text/ftfy/tables.rs from ftfy 6.3.1
and Python's own tables, and src/text/pystr/tables.rs (Python 3.11's
`str.lower`), so that no table of the port is typed by hand.

    python3 tools/ftfy_tables.py          # (re)write the Rust file
    python3 tools/ftfy_tables.py --check  # exit 1 when the committed file differs

Needs ftfy==6.3.1 (`pip install ftfy==6.3.1`) and CPython 3.11, whose
`unicodedata` (Unicode 14) and `re` define what ftfy's regexes match.

ftfy's regexes are translated to Rust `regex` syntax from Python's own parse
of them (`re._parser`), so every character class is the one Python compiles.
Python's `\\s`, `\\w` and `\\d` are Unicode classes whose members differ from
Rust's (Python counts U+001C..U+001F as whitespace, for one), so they are
written out as the explicit code point ranges Python matches.
"""

import html
import html.entities
import re
import re._constants as C
import re._parser as sre_parse
import sys
from pathlib import Path

import ftfy
import ftfy.badness
import ftfy.chardata
import ftfy.fixes

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/clip_embed_core/src/text/ftfy/tables.rs"
PYSTR_OUT = ROOT / "crates/clip_embed_core/src/text/pystr/tables.rs"

assert ftfy.__version__ == "6.3.1", f"ftfy 6.3.1 wanted, found {ftfy.__version__}"
assert sys.version_info[:2] == (3, 11), "Python 3.11 wanted (its Unicode 14 tables)"


def ranges_of(pred):
    """Code point ranges (inclusive) where pred(chr) holds."""
    out, start = [], None
    for cp in range(sys.maxunicode + 2):
        ok = cp <= sys.maxunicode and not 0xD800 <= cp <= 0xDFFF and pred(chr(cp))
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


CATEGORY_RANGES = {
    C.CATEGORY_SPACE: ranges_of(lambda c: re.match(r"\s", c) is not None),
    C.CATEGORY_WORD: ranges_of(lambda c: re.match(r"\w", c) is not None),
    C.CATEGORY_DIGIT: ranges_of(lambda c: re.match(r"\d", c) is not None),
}


def esc(cp, as_bytes):
    return f"\\x{cp:02X}" if as_bytes else f"\\x{{{cp:X}}}"


def emit_class(items, as_bytes):
    parts, negate = [], False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            parts.append(esc(av, as_bytes))
        elif op is C.RANGE:
            parts.append(f"{esc(av[0], as_bytes)}-{esc(av[1], as_bytes)}")
        elif op is C.CATEGORY:
            assert not as_bytes, "no byte pattern of ftfy uses a category"
            for lo, hi in CATEGORY_RANGES[av]:
                parts.append(esc(lo, False) if lo == hi else f"{esc(lo, False)}-{esc(hi, False)}")
        else:
            raise ValueError(f"class item {op}")
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def emit(seq, as_bytes):
    out = []
    for op, av in seq:
        if op is C.LITERAL:
            out.append(esc(av, as_bytes))
        elif op is C.IN:
            out.append(emit_class(av, as_bytes))
        elif op is C.ANY:
            out.append(".")
        elif op is C.BRANCH:
            out.append("(?:" + "|".join(emit(b, as_bytes) for b in av[1]) + ")")
        elif op is C.SUBPATTERN:
            out.append("(?:" + emit(av[3], as_bytes) + ")")
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, item = av
            hi_text = "" if hi is C.MAXREPEAT else str(hi)
            lazy = "?" if op is C.MIN_REPEAT else ""
            out.append("(?:" + emit(item, as_bytes) + f"){{{lo},{hi_text}}}{lazy}")
        elif op is C.AT and av is C.AT_BEGINNING:
            out.append("^")
        else:
            raise ValueError(f"regex node {op} {av} has no Rust translation here")
    return "".join(out)


def rust_pattern(compiled):
    as_bytes = isinstance(compiled.pattern, bytes)
    parsed = sre_parse.parse(compiled.pattern, compiled.flags)
    body = emit(list(parsed), as_bytes)
    return ("(?-u)" if as_bytes else "") + body


def rust_str(s):
    out = []
    for ch in s:
        cp = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= cp < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\u{{{cp:x}}}")
    return '"' + "".join(out) + '"'


def rust_char(ch):
    cp = ord(ch)
    if ch == "'":
        return "'\\''"
    if ch == "\\":
        return "'\\\\'"
    if 0x20 <= cp < 0x7F:
        return f"'{ch}'"
    return f"'\\u{{{cp:x}}}'"


def utf8_detector_parts():
    """UTF8_DETECTOR_RE is `(?<![strict])(...)+`: the lookbehind, which Rust's
    regex lacks, is returned as the class it tests, the rest as a pattern."""
    parsed = list(sre_parse.parse(ftfy.chardata.UTF8_DETECTOR_RE.pattern, ftfy.chardata.UTF8_DETECTOR_RE.flags))
    (op, av), rest = parsed[0], parsed[1:]
    assert op is C.ASSERT_NOT and av[0] == -1, "the detector starts with a negative lookbehind"
    ((in_op, items),) = list(av[1])
    assert in_op is C.IN
    ((rep_op, (lo, hi, unit)),) = rest
    assert rep_op is C.MAX_REPEAT and lo == 1 and hi is C.MAXREPEAT, "then one group repeated"
    return emit(unit, False), class_ranges(items)


def class_ranges(items):
    cps = set()
    for op, av in items:
        if op is C.LITERAL:
            cps.add(av)
        elif op is C.RANGE:
            cps.update(range(av[0], av[1] + 1))
        else:
            raise ValueError(op)
    return merge(sorted(cps))


def merge(cps):
    out = []
    for cp in cps:
        if out and out[-1][1] + 1 == cp:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def a_grave_followers():
    """A_GRAVE_WORD_RE is `\\xc3 (?! |quele|quela|quilo|s )`: the bytes it
    matches, and the byte strings its negative lookahead refuses."""
    parsed = list(sre_parse.parse(ftfy.fixes.A_GRAVE_WORD_RE.pattern, 0))
    prefix = bytes(av for op, av in parsed[:-1] if op is C.LITERAL)
    op, av = parsed[-1]
    assert op is C.ASSERT_NOT and av[0] == 1
    branches = []
    for op2, av2 in av[1]:
        if op2 is C.LITERAL:
            branches.append([(op2, av2)])
        elif op2 is C.BRANCH:
            branches = [list(b) for b in av2[1]]
        else:
            raise ValueError(op2)
    words = []
    for b in branches:
        assert all(o is C.LITERAL for o, _ in b)
        words.append(bytes(v for _, v in b))
    return prefix, words


def rust_bytes(bs):
    return 'b"' + "".join(f"\\x{b:02x}" if not (0x20 <= b < 0x7F) or b in b'"\\' else chr(b) for b in bs) + '"'


def charmap(encoding):
    """(char, byte) pairs `str.encode(encoding)` maps to bytes 0x80..0xFF and 0x1A,
    sorted by char: exactly the characters ftfy's `possible_encoding` admits
    beyond ASCII."""
    byte_range = bytes(list(range(0x80, 0x100)) + [0x1A])
    pairs = {}
    for ch in byte_range.decode(encoding):
        pairs[ch] = ch.encode(encoding)[0]
    return sorted(pairs.items())


def generate():
    lines = [
        "// @generated by tools/ftfy_tables.py from ftfy 6.3.1 and CPython 3.11: do not edit.",
        "// Regenerate with `python3 tools/ftfy_tables.py`; `--check` verifies this file.",
        "",
        "#![allow(clippy::unreadable_literal)]",
        "",
    ]

    def const_str(name, doc, value):
        lines.append(f"/// {doc}")
        lines.append(f"pub(crate) const {name}: &str = {rust_str(value)};")
        lines.append("")

    lines.append("/// One of ftfy's single-byte encodings.")
    lines.append("pub(crate) struct Charmap {")
    lines.append("    /// Python's name for it.")
    lines.append("    pub(crate) name: &'static str,")
    lines.append("    /// Whether it is one of ftfy's sloppy codecs (`replace_lossy_sequences` applies).")
    lines.append("    pub(crate) sloppy: bool,")
    lines.append("    /// The (char, byte) pairs its encoder gives for bytes 0x80..=0xFF and 0x1A, sorted by char.")
    lines.append("    pub(crate) chars: &'static [(char, u8)],")
    lines.append("}")
    lines.append("")
    lines.append("/// ftfy's `CHARMAP_ENCODINGS`, in its order.")
    lines.append("pub(crate) const CHARMAP_ENCODINGS: &[Charmap] = &[")
    for enc in ftfy.chardata.CHARMAP_ENCODINGS:
        pairs = ", ".join(f"({rust_char(c)}, 0x{b:02x})" for c, b in charmap(enc))
        lines.append(f"    Charmap {{ name: {rust_str(enc)}, sloppy: {str(enc.startswith('sloppy')).lower()}, chars: &[{pairs}] }},")
    lines.append("];")
    lines.append("")

    c1 = bytes(range(0x80, 0xA0)).decode("sloppy-windows-1252")
    lines.append("/// `fix_c1_controls`: U+0080..=U+009F as sloppy-windows-1252 decodes those bytes.")
    lines.append("pub(crate) const C1_AS_WINDOWS_1252: [char; 32] = [" + ", ".join(rust_char(c) for c in c1) + "];")
    lines.append("")

    lines.append("/// `fix_latin_ligatures`: ftfy's `LIGATURES`.")
    lines.append("pub(crate) const LIGATURES: &[(char, &str)] = &[")
    for cp, rep in sorted(ftfy.chardata.LIGATURES.items()):
        lines.append(f"    ({rust_char(chr(cp))}, {rust_str(rep)}),")
    lines.append("];")
    lines.append("")

    lines.append("/// `fix_character_width`: ftfy's `WIDTH_MAP` (Python 3.11's NFKC of U+FF01..U+FFEF, and U+3000).")
    lines.append("pub(crate) const WIDTH_MAP: &[(char, &str)] = &[")
    for cp, rep in sorted(ftfy.chardata.WIDTH_MAP.items()):
        lines.append(f"    ({rust_char(chr(cp))}, {rust_str(rep)}),")
    lines.append("];")
    lines.append("")

    lines.append("/// `remove_control_chars`: the code point ranges of ftfy's `CONTROL_CHARS`.")
    ctrl = merge(sorted(ftfy.chardata.CONTROL_CHARS))
    lines.append(
        "pub(crate) const CONTROL_CHARS: &[(char, char)] = &["
        + ", ".join(f"({rust_char(chr(a))}, {rust_char(chr(b))})" for a, b in ctrl)
        + "];"
    )
    lines.append("")

    for name, compiled in [("SINGLE_QUOTES", ftfy.chardata.SINGLE_QUOTE_RE), ("DOUBLE_QUOTES", ftfy.chardata.DOUBLE_QUOTE_RE)]:
        ((op, items),) = list(sre_parse.parse(compiled.pattern))
        assert op is C.IN
        lines.append(f"/// `uncurl_quotes`: the ranges of ftfy's `{name[:6]}_QUOTE_RE`.")
        lines.append(
            f"pub(crate) const {name}: &[(char, char)] = &["
            + ", ".join(f"({rust_char(chr(a))}, {rust_char(chr(b))})" for a, b in class_ranges(items))
            + "];"
        )
        lines.append("")
    const_str(
        "TERMINAL_ESCAPE_PATTERN",
        "`remove_terminal_escapes`: ftfy's `ANSI_RE` (its `\\d` is Python's Unicode digit class).",
        rust_pattern(ftfy.fixes.ANSI_RE),
    )
    const_str("BADNESS_PATTERN", "`is_bad`: ftfy's `BADNESS_RE`.", rust_pattern(ftfy.badness.BADNESS_RE))
    detector, strict = utf8_detector_parts()
    const_str(
        "UTF8_DETECTOR_UNIT_PATTERN",
        "`decode_inconsistent_utf8`: the group `UTF8_DETECTOR_RE` repeats (`(?<![strict])(unit)+`).",
        detector,
    )
    lines.append("/// The class `UTF8_DETECTOR_RE`'s negative lookbehind tests (`utf8_continuation_strict`).")
    lines.append(
        "pub(crate) const UTF8_CONTINUATION_STRICT: &[(char, char)] = &["
        + ", ".join(f"({rust_char(chr(a))}, {rust_char(chr(b))})" for a, b in strict)
        + "];"
    )
    lines.append("")
    const_str("ALTERED_UTF8_PATTERN", "`restore_byte_a0`: ftfy's `ALTERED_UTF8_RE` (bytes).", rust_pattern(ftfy.chardata.ALTERED_UTF8_RE))
    const_str("LOSSY_UTF8_PATTERN", "`replace_lossy_sequences`: ftfy's `LOSSY_UTF8_RE` (bytes).", rust_pattern(ftfy.chardata.LOSSY_UTF8_RE))
    prefix, words = a_grave_followers()
    lines.append("/// `restore_byte_a0`: what ftfy's `A_GRAVE_WORD_RE` matches ...")
    lines.append(f"pub(crate) const A_GRAVE_WORD: &[u8] = {rust_bytes(prefix)};")
    lines.append("/// ... unless one of these follows (its negative lookahead).")
    lines.append("pub(crate) const A_GRAVE_NOT_BEFORE: &[&[u8]] = &[" + ", ".join(rust_bytes(w) for w in words) + "];")
    lines.append("")

    const_str("FTFY_ENTITY_PATTERN", "`unescape_html`: ftfy's `HTML_ENTITY_RE`.", rust_pattern(ftfy.chardata.HTML_ENTITY_RE))
    lines.append("/// `unescape_html`: ftfy's `HTML_ENTITIES` (with '&', ';' and its upper-case variants), sorted.")
    lines.append("pub(crate) const FTFY_ENTITIES: &[(&str, &str)] = &[")
    for name, value in sorted(ftfy.chardata.HTML_ENTITIES.items()):
        lines.append(f"    ({rust_str(name)}, {rust_str(value)}),")
    lines.append("];")
    lines.append("")

    const_str("HTML_CHARREF_PATTERN", "Python's `html.unescape`: its `_charref` pattern.", rust_pattern(html._charref))
    lines.append("/// Python's `html.entities.html5` (names with and without ';'), sorted.")
    lines.append("pub(crate) const HTML5_ENTITIES: &[(&str, &str)] = &[")
    for name, value in sorted(html.entities.html5.items()):
        lines.append(f"    ({rust_str(name)}, {rust_str(value)}),")
    lines.append("];")
    lines.append("")
    lines.append("/// Python's `html._invalid_charrefs`: numeric references HTML 5 remaps.")
    lines.append(
        "pub(crate) const HTML_INVALID_CHARREFS: &[(u32, char)] = &["
        + ", ".join(f"(0x{k:x}, {rust_char(v)})" for k, v in sorted(html._invalid_charrefs.items()))
        + "];"
    )
    lines.append("")
    lines.append("/// Python's `html._invalid_codepoints`: numeric references that unescape to nothing.")
    lines.append(
        "pub(crate) const HTML_INVALID_CODEPOINTS: &[u32] = &["
        + ", ".join(f"0x{k:x}" for k in sorted(html._invalid_codepoints))
        + "];"
    )
    return "\n".join(lines) + "\n"


def generate_pystr():
    """Python 3.11's `str.lower`: the per-character mapping (special casing
    included) and, for its final-sigma rule, which characters are case-ignorable
    and which of the others are cased. Python exposes neither property, so both
    are read off `lower()` itself: `c + "Σ"` ends in ς exactly when c is cased and
    not case-ignorable, `"A" + c + "Σ"` exactly when c is either."""
    lower, ignorable, cased = [], [], []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if c.lower() != c:
            lower.append((c, c.lower()))
        cased_not_ignorable = (c + "\u03a3").lower().endswith("\u03c2")
        either = ("A" + c + "\u03a3").lower().endswith("\u03c2")
        if cased_not_ignorable:
            cased.append(cp)
        elif either:
            ignorable.append(cp)
    lines = [
        "// @generated by tools/ftfy_tables.py from CPython 3.11 (Unicode 14.0): do not edit.",
        "// Regenerate with `python3 tools/ftfy_tables.py`; `--check` verifies this file.",
        "",
        "/// `str.lower` of every character it changes, sorted (special casing included: U+0130 -> \"i\\u{307}\").",
        "pub(crate) const LOWER_MAP: &[(char, &str)] = &[",
    ]
    for c, low in lower:
        lines.append(f"    ({rust_char(c)}, {rust_str(low)}),")
    lines.append("];")
    lines.append("")
    lines.append("/// Case-ignorable characters: the final-sigma rule looks past them.")
    lines.append(
        "pub(crate) const CASE_IGNORABLE: &[(char, char)] = &["
        + ", ".join(f"({rust_char(chr(a))}, {rust_char(chr(b))})" for a, b in merge(ignorable))
        + "];"
    )
    lines.append("")
    lines.append("/// Cased characters that are not case-ignorable: a sigma after one may be final, before one is not.")
    lines.append(
        "pub(crate) const CASED: &[(char, char)] = &["
        + ", ".join(f"({rust_char(chr(a))}, {rust_char(chr(b))})" for a, b in merge(cased))
        + "];"
    )
    return "\n".join(lines) + "\n"


def main():
    outputs = [(OUT, generate()), (PYSTR_OUT, generate_pystr())]
    if "--check" in sys.argv[1:]:
        stale = [path for path, text in outputs if not path.exists() or path.read_text() != text]
        for path in stale:
            print(f"{path} is stale: run python3 tools/ftfy_tables.py", file=sys.stderr)
        if stale:
            sys.exit(1)
        print("generated tables are up to date")
        return
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
