"""Runs every ```sql block of the given markdown files (the README, then
docs/*.md), verbatim and in order, and fails if any block fails.

Each file gets a fresh scratch database of its own (readme_examples_<file>,
dropped and created again first, dropped again when all its blocks pass), so a
file's blocks may build on one another but never on another file's; a docs page
that needs the extensions creates them in its first block, as a reader landing
on that page would. Each block runs in its own psql session with ON_ERROR_STOP;
the first block that fails ends its file (later blocks depend on it), and the
other files still run. A file without ```sql blocks is reported and passes;
blocks that cannot run here (files that are not on this machine) belong in
```sh or ```text blocks instead. The blocks read the demo's sample images, which
this script generates first (tools/make_samples.py).

  readme_examples.py --host SOCKET_DIR --port PORT README.md docs/*.md
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCK = re.compile(r"```sql\n(.*?)```", re.S)


def database_for(path, taken):
    """A database name per file: readme_examples_<stem>, unique among the files given."""
    stem = re.sub(r"[^a-z0-9]+", "_", os.path.splitext(os.path.basename(path))[0].lower()).strip("_")
    name = f"readme_examples_{stem}"[:60]
    n = 2
    while name in taken:
        name = f"readme_examples_{stem}_{n}"[:60]
        n += 1
    taken.add(name)
    return name


def run_file(psql, path, database):
    """Runs one file's blocks; returns (passed, failed, found)."""
    text = open(path).read()
    blocks = [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in BLOCK.finditer(text)]
    if not blocks:
        print(f"  {path}: no sql blocks")
        return 0, 0, 0
    subprocess.run(psql + ["-c", f"DROP DATABASE IF EXISTS {database}", "-c", f"CREATE DATABASE {database}",
                           "postgres"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    passed = 0
    for i, (line, block) in enumerate(blocks, 1):
        run = subprocess.run(psql + ["-f", "-", database], input=block, text=True, capture_output=True)
        if run.returncode != 0:
            print(f"  {path} sql block {i} (line {line}): FAIL")
            print(block)
            print(run.stderr)
            print(f"  ({len(blocks) - i} later blocks of {path} not run; database {database} kept)")
            return passed, 1, len(blocks)
        print(f"  {path} sql block {i} (line {line}): ok")
        passed += 1
    subprocess.run(psql + ["-c", f"DROP DATABASE IF EXISTS {database}", "postgres"], check=True,
                   stdout=subprocess.DEVNULL)
    return passed, 0, len(blocks)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("files", nargs="+", help="markdown files, run in the order given")
    args = ap.parse_args()
    home = os.environ.get("CLIP_EMBED_HOME", "/var/tmp/clip_embed")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_samples.py"), "--out",
                    os.path.join(home, "samples")], check=True)
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", args.host, "-p", str(args.port), "-U", "postgres"]
    taken = set()
    passed = failed = found = 0
    for path in args.files:
        p, f, n = run_file(psql, path, database_for(path, taken))
        passed, failed, found = passed + p, failed + f, found + n
    assert found, "none of the files has a ```sql block"
    print(f"readme examples: {passed} passed, {failed} failed, {found - passed - failed} not run, "
          f"in {len(args.files)} files")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
