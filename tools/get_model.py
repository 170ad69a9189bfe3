"""Fetches a CLIP model from the Hugging Face hub and installs it under a name:
scripts/get_model.sh runs this (see there for usage).

Only the files the repository's family needs are fetched, for one variant
(fp32 unless --variant says otherwise): the family is told from the
repository's file list, the same way clip_embed tells it from a folder
(crates/clip_embed_core/src/layout/):
  openai       visual.onnx, textual.onnx (+ clip_config.json, tokenizer.json)
  hf-clip/siglip  onnx/vision_model{_variant}.onnx, onnx/text_model{_variant}.onnx
               and the JSON configs and tokenizer files at the top
  immich       visual/model.onnx, textual/model.onnx, their JSON files, config.json
Weights kept beside a graph (`<graph>.onnx_data`, `<graph>.onnx.data`) come
with it. Downloads go through huggingface_hub (it honours
HF_ENDPOINT, HF_HOME and HF_TOKEN, shows progress, and resumes a partial file
on the next run); then scripts/install_model.sh checks the folder with
clip_embed's own loader and renames it into place, or removes it.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.utils import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

HERE = os.path.dirname(os.path.abspath(__file__))
HF_GRAPHS = ("onnx/vision_model", "onnx/text_model")
HF_TOP_FILES = ("config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "vocab.json", "merges.txt")


def fail(message):
    print(f"get_model: {message}", file=sys.stderr)
    sys.exit(1)


def with_weights(files, graph):
    """`graph` and the external-data files exported beside it (`.onnx_data`, `.onnx.data`)."""
    return [f for f in files if f in (graph, graph + "_data", graph + ".data")]


def hf_variants(files):
    """transformers.js variants that have both towers: "" is fp32."""
    found = {}
    for f in files:
        for stem in HF_GRAPHS:
            if f.startswith(stem) and f.endswith(".onnx"):
                variant = f[len(stem):-len(".onnx")].lstrip("_")
                found.setdefault(variant, set()).add(stem)
    return sorted(v for v, stems in found.items() if len(stems) == 2)


def choose(files, variant):
    """(family, files to fetch) for one variant, or an error message."""
    top = set(files)
    if "visual.onnx" in top or "textual.onnx" in top:
        if variant:
            return None, f"an OpenAI-layout repository has one set of weights; --variant {variant} does not apply"
        wanted = with_weights(files, "visual.onnx") + with_weights(files, "textual.onnx")
        wanted += [f for f in ("clip_config.json", "tokenizer.json") if f in top]
        return "openai", wanted
    if any(f.startswith(HF_GRAPHS) for f in files):
        variants = hf_variants(files)
        if variant not in variants:
            shown = ", ".join(v or "fp32" for v in variants) or "none with both towers"
            return None, f"no variant \"{variant or 'fp32'}\" here (variants: {shown})"
        suffix = f"_{variant}" if variant else ""
        wanted = [g for stem in HF_GRAPHS for g in with_weights(files, f"{stem}{suffix}.onnx")]
        wanted += [f for f in HF_TOP_FILES if f in top]
        return "hf", wanted
    if "visual/model.onnx" in top and "textual/model.onnx" in top:
        if variant:
            return None, f"an Immich repository's fp32 graphs have no variants here; --variant {variant} does not apply"
        wanted = with_weights(files, "visual/model.onnx") + with_weights(files, "textual/model.onnx")
        wanted += [f for f in files if f.count("/") == 1 and f.split("/")[0] in ("visual", "textual")
                   and f.endswith((".json", ".txt"))]
        wanted += [f for f in ("config.json",) if f in top]
        return "immich", wanted
    return None, ("no CLIP layout clip_embed knows (visual.onnx/textual.onnx; onnx/vision_model*.onnx and "
                  "onnx/text_model*.onnx; visual/model.onnx and textual/model.onnx)")


def main():
    ap = argparse.ArgumentParser(prog="get_model.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("repo", help="a Hugging Face model repository, e.g. Xenova/clip-vit-base-patch16")
    ap.add_argument("name", help="the model's name in clip_embed")
    ap.add_argument("--variant", default="", help="transformers.js weights: quantized, fp16, ... (default: fp32)")
    ap.add_argument("--revision", default=None, help="a branch, tag or commit (default: main)")
    args = ap.parse_args()
    variant = "" if args.variant in ("", "fp32") else args.variant
    api = HfApi()
    try:
        files = api.list_repo_files(args.repo, revision=args.revision)
    except RepositoryNotFoundError:
        fail(f"no repository \"{args.repo}\" at {api.endpoint} (or it needs HF_TOKEN)")
    except RevisionNotFoundError:
        fail(f"repository \"{args.repo}\" has no revision \"{args.revision}\"")
    except (HfHubHTTPError, OSError) as e:
        fail(f"cannot list \"{args.repo}\" at {api.endpoint}: {e}")
    family, wanted = choose(files, variant)
    if family is None:
        fail(f"{args.repo}: {wanted}")
    print(f"{args.repo}: {family} layout, fetching {len(wanted)} files", file=sys.stderr)
    staging = tempfile.mkdtemp(prefix="clip_embed_get_model.")
    try:
        folder = os.path.join(staging, "model")
        for path in sorted(set(wanted)):
            try:
                cached = hf_hub_download(args.repo, path, revision=args.revision)
            except EntryNotFoundError:
                fail(f"{args.repo} lists \"{path}\" but does not serve it")
            except (HfHubHTTPError, OSError) as e:
                fail(f"could not fetch \"{path}\" from {args.repo} (run again to resume): {e}")
            target = os.path.join(folder, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(cached, target)
        install = subprocess.run(["bash", os.path.join(HERE, "..", "scripts", "install_model.sh"), folder, args.name])
        if install.returncode != 0:
            sys.exit(install.returncode)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    main()
