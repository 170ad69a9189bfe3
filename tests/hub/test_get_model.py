"""scripts/get_model.sh against a local stand-in for the Hugging Face hub
(hub_standin.py, reached through HF_ENDPOINT), serving the generated test
model folders as repositories. Checks: each family installs with only the
files it needs (one variant), byte for byte; an interrupted download fails with
a clear message and the next run resumes it (a Range request); a graph's
external-data files (one per tensor, as Immich's XLM-R text tower keeps them)
come with it; a repository that is not there, a folder of no known family, a
missing variant, a file the repository lists but does not serve, a graph naming
weights the repository lacks, and a folder missing a file the family needs are
refused with the reason, and nothing is left installed or staged.
Usage: test_get_model.py --models DIR (the generated test models)
"""

import argparse
import filecmp
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from hub_standin import Hub  # noqa: E402

GET_MODEL = os.path.join(HERE, "..", "..", "scripts", "get_model.sh")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="clip_embed_hub_test.")
    nofamily = os.path.join(work, "no-family")
    os.makedirs(nofamily)
    for name in ("config.json", "README.md"):
        with open(os.path.join(nofamily, name), "w") as f:
            f.write("{}\n")
    m = args.models
    # Immich's multilingual layout with its text tower's weights in one file per
    # tensor beside textual/model.onnx (the form of a graph over protobuf's 2 GiB).
    import onnx
    split = os.path.join(work, "immich-split")
    shutil.copytree(f"{m}/immich-multilingual", split)
    graph = os.path.join(split, "textual", "model.onnx")
    onnx.save_model(onnx.load(graph), graph, save_as_external_data=True, all_tensors_to_one_file=False,
                    size_threshold=1024)
    split_files = sorted(f for f in os.listdir(os.path.dirname(graph)) if "." not in f)
    split_missing = os.path.join(work, "immich-split-missing")
    shutil.copytree(split, split_missing)
    os.remove(os.path.join(split_missing, "textual", split_files[0]))
    hub = Hub(
        {
            "test/hf-clip": f"{m}/hf-clip",
            "test/immich-clip": f"{m}/immich-clip",
            "test/bare-export": f"{m}/bare-export",
            "test/hf-no-preprocessor": f"{m}/hf-no-preprocessor",
            "test/no-family": nofamily,
            "test/hf-hidden": f"{m}/hf-clip",
            "test/immich-split": split,
            "test/immich-split-missing": split_missing,
        },
        cut_once={"onnx/text_model.onnx": 11 << 20},  # past huggingface_hub's first 10 MiB chunk
    )
    models = os.path.join(work, "models")
    os.makedirs(models)
    shutil.copy(os.path.join(m, "tokenizer.json"), models)
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp)
    env = dict(os.environ, HF_ENDPOINT=hub.endpoint, HF_HOME=os.path.join(work, "hf"), MODEL_DIR=models,
               TMPDIR=tmp, HF_HUB_DISABLE_TELEMETRY="1")
    failures = []

    def get(*argv):
        run = subprocess.run(["bash", GET_MODEL, *argv], env=env, capture_output=True, text=True)
        return run.returncode, run.stdout, run.stderr

    def check(name, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")
        if not ok:
            failures.append(name)

    def same_files(installed, source, files):
        return all(filecmp.cmp(os.path.join(installed, f), os.path.join(source, f), shallow=False) for f in files)

    def tree(folder):
        return sorted(os.path.relpath(p, folder) for p in glob.glob(f"{folder}/**", recursive=True)
                      if os.path.isfile(p))

    # An interrupted download: a clear error, nothing installed; the next run resumes.
    code, out, err = get("test/hf-clip", "hf")
    check("an interrupted download fails and says to run again", code == 1 and "run again to resume" in err, err)
    check("... and installs nothing", not os.path.exists(os.path.join(models, "hf")))
    code, out, err = get("test/hf-clip", "hf")
    resumed = [r for r in hub.requests if r[1].endswith("onnx/text_model.onnx") and (r[2] or "").startswith("bytes=")]
    check("the next run resumes it (a Range request past the first chunk)",
          code == 0 and any(int(r[2][6:].split("-")[0]) > 0 for r in resumed), f"{code} {resumed} {err[-500:]}")
    fp32 = ["config.json", "onnx/text_model.onnx", "onnx/vision_model.onnx", "preprocessor_config.json",
            "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    hf_dir = os.path.join(models, "hf")
    check("hf-clip: the fp32 files only, byte for byte", os.path.isdir(hf_dir) and tree(hf_dir) == fp32
          and same_files(hf_dir, f"{m}/hf-clip", fp32), str(tree(hf_dir)) if os.path.isdir(hf_dir) else "missing")
    check("hf-clip: install_model.sh's report is printed", "layout:         hf-clip" in out
          and "installed " in out, out)

    code, out, err = get("test/hf-clip", "hfq", "--variant", "quantized")
    q_dir = os.path.join(models, "hfq")
    check("--variant quantized: that variant's graphs only, served as hfq:quantized",
          code == 0 and "model:          hfq:quantized" in out and os.path.isdir(q_dir)
          and [f for f in tree(q_dir) if f.startswith("onnx/")]
          == ["onnx/text_model_quantized.onnx", "onnx/vision_model_quantized.onnx"], f"{code} {err[-500:]}")
    check("... and the example it prints names hfq:quantized", "clip_embed_text('a photo of a cat', 'hfq:quantized')"
          in out, out[-300:])
    asked = len(hub.requests)
    code, out, err = get("test/hf-clip", "hfq", "--variant", "fp16")
    check("a name that exists is refused before anything is fetched",
          code == 1 and "exists; pick a new name" in err and len(hub.requests) == asked, f"{code} {err[-300:]}")

    for repo, name, layout in (("test/immich-clip", "im", "immich-clip"), ("test/bare-export", "oa", "openai")):
        code, out, err = get(repo, name)
        folder = os.path.join(models, name)
        source = os.path.join(m, repo.split("/")[1])
        check(f"{layout}: installs, byte for byte", code == 0 and f"layout:         {layout}" in out
              and tree(folder) == tree(source) and same_files(folder, source, tree(source)), f"{code} {err[-500:]}")

    code, out, err = get("test/immich-split", "ims")
    folder = os.path.join(models, "ims")
    check(f"external data in {len(split_files)} per-tensor files: fetched and installed, byte for byte",
          code == 0 and len(split_files) > 10 and tree(folder) == tree(split)
          and same_files(folder, split, tree(split)), f"{code} {err[-500:]}")

    refusals = [
        (("test/no-such-repo", "x1"), "no repository \"test/no-such-repo\""),
        (("test/no-family", "x2"), "no CLIP layout clip_embed knows"),
        (("test/hf-clip", "x3", "--variant", "q2"),
         "no variant \"q2\" here (variants: fp32, bnb4, fp16, int8, q4, q4f16, quantized, uint8)"),
        (("test/bare-export", "x4", "--variant", "fp16"), "--variant fp16 does not apply"),
        (("test/hf-no-preprocessor", "x5"), "preprocessor_config.json"),
        (("test/immich-split-missing", "x7"),
         f"textual/model.onnx keeps weights in \"{split_files[0]}\", which the repository does not hold"),
    ]
    hub.hidden.add("onnx/vision_model_fp16.onnx")
    refusals.append((("test/hf-hidden", "x6", "--variant", "fp16"), "lists \"onnx/vision_model_fp16.onnx\" but does not serve it"))
    for argv, expected in refusals:
        code, out, err = get(*argv)
        check(f"refused: {' '.join(argv)}", code != 0 and expected in err and not os.path.exists(
            os.path.join(models, argv[1])), f"{code} {err[-600:]}")

    check("nothing else in the model directory", sorted(os.listdir(models)) == ["hf", "hfq", "im", "ims", "oa", "tokenizer.json"],
          str(sorted(os.listdir(models))))
    leftovers = [f for f in os.listdir(tmp) if f.startswith("clip_embed_get_model.")]
    check("no staging folder left", leftovers == [], str(os.listdir(tmp)))
    hub.close()
    shutil.rmtree(work)
    print(f"get_model: {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
