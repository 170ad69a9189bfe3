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
Weights kept beside a graph come with it: `<graph>.onnx_data` and
`<graph>.onnx.data`, and whatever files the fetched graph itself names as
external data (a graph over protobuf's 2 GiB, such as Immich's
XLM-Roberta-Large-Vit-B-16Plus text tower, keeps one file per tensor). Downloads go through huggingface_hub (it honours
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


def external_data_files(graph_path, graph_in_repo, files):
    """The repository paths of the external-data files a downloaded graph names
    (ONNX's `location`, relative to the graph's folder), or an error message for
    one that is not a plain path inside that folder or is not in the repository."""
    import onnx

    model = onnx.load(graph_path, load_external_data=False)
    locations = set()

    def visit(graph):
        tensors = list(graph.initializer) + list(graph.sparse_initializer)
        for node in graph.node:
            for attribute in node.attribute:
                tensors += ([attribute.t] if attribute.HasField("t") else []) + list(attribute.tensors)
                for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                    visit(sub)
        for tensor in tensors:
            for sparse_part in ([tensor.values, tensor.indices] if hasattr(tensor, "values") else [tensor]):
                if sparse_part.data_location == onnx.TensorProto.EXTERNAL:
                    locations.update(e.value for e in sparse_part.external_data if e.key == "location")

    visit(model.graph)
    folder = os.path.dirname(graph_in_repo)
    wanted = []
    for location in sorted(locations):
        path = os.path.normpath(os.path.join(folder, location))
        if os.path.isabs(location) or path.startswith("..") or path not in files:
            return None, f"{graph_in_repo} keeps weights in \"{location}\", which the repository does not hold"
        wanted.append(path)
    return wanted, None


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
        pending, fetched = sorted(set(wanted)), set()
        while pending:
            path = pending.pop(0)
            if path in fetched:
                continue
            fetched.add(path)
            try:
                cached = hf_hub_download(args.repo, path, revision=args.revision)
            except EntryNotFoundError:
                fail(f"{args.repo} lists \"{path}\" but does not serve it")
            except (HfHubHTTPError, OSError) as e:
                fail(f"could not fetch \"{path}\" from {args.repo} (run again to resume): {e}")
            target = os.path.join(folder, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(cached, target)
            if path.endswith(".onnx"):
                try:
                    extra, problem = external_data_files(target, path, files)
                except Exception as e:  # noqa: BLE001 - a graph onnx cannot parse: the loader says why later
                    extra, problem = [], None
                    print(f"get_model: could not read {path}'s external-data list: {e}", file=sys.stderr)
                if problem:
                    fail(f"{args.repo}: {problem}")
                new = [p for p in extra if p not in fetched]
                if new:
                    print(f"{path}: {len(new)} external-data files", file=sys.stderr)
                pending += new
        install = subprocess.run(["bash", os.path.join(HERE, "..", "scripts", "install_model.sh"), folder, args.name])
        if install.returncode != 0:
            sys.exit(install.returncode)
        from huggingface_hub import constants
        cached_bytes = sum(os.path.getsize(os.path.join(folder, p)) for p in fetched)
        print(f"the download ({cached_bytes / 1e6:.0f} MB) stays in huggingface_hub's cache, "
              f"{constants.HF_HUB_CACHE}, for a later run; remove it with "
              f"`hf cache delete` or rm -r that folder's models--{args.repo.replace('/', '--')}", file=sys.stderr)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    main()
