"""Runs every ```sql block of the README, verbatim and in order, in a scratch
database, and fails on the first error. The blocks read the demo's sample
images, which this script generates first (tools/make_samples.py)."""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("readme")
    args = ap.parse_args()
    home = os.environ.get("CLIP_EMBED_HOME", "/var/tmp/clip_embed")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_samples.py"), "--out",
                    os.path.join(home, "samples")], check=True)
    blocks = re.findall(r"```sql\n(.*?)```", open(args.readme).read(), re.S)
    assert blocks, "the README has no ```sql blocks"
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", args.host, "-p", str(args.port), "-U", "postgres"]
    subprocess.run(psql + ["-c", "DROP DATABASE IF EXISTS readme_examples", "-c", "CREATE DATABASE readme_examples",
                           "postgres"], check=True, stdout=subprocess.DEVNULL)
    failed = 0
    for i, block in enumerate(blocks, 1):
        run = subprocess.run(psql + ["-f", "-", "readme_examples"], input=block, text=True, capture_output=True)
        status = "ok" if run.returncode == 0 else "FAIL"
        print(f"  README sql block {i}: {status}")
        if run.returncode != 0:
            failed += 1
            print(block)
            print(run.stderr)
            break
    print(f"readme: {len(blocks) - failed if not failed else i - 1} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
