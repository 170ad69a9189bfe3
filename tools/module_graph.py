"""The core crate's import graph, drawn from its `use` lines and `crate::`
paths: prints each file's imports of other files, every import cycle, and
every import that goes up the layer order of crates/clip_embed_core/src/lib.rs
(error, cancel, worker, math, recipe, layout, image, text, onnx, prepared,
registry: a module may import only modules before it). Exits 1 on a cycle or
an upward import. Test modules (tests.rs, `mod tests`) are left out: they may
read anything.

Usage: module_graph.py [--src crates/clip_embed_core/src] [--verbose]
"""

import argparse
import os
import re
import sys

LAYERS = ["error", "cancel", "worker", "math", "recipe", "layout", "image", "text", "onnx", "prepared", "registry"]
PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
USE_GROUP = re.compile(r"\buse\s+((?:crate|super|self)(?:::\w+)*)::\{([^;]*)\};", re.S)


def module_of(src, path):
    """The module path (list of names) a file defines."""
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel


def file_of(src, module):
    """The file that defines `module`, or of its nearest enclosing module."""
    for n in range(len(module), -1, -1):
        base = os.path.join(src, *module[:n])
        for candidate in (base + ".rs", os.path.join(base, "mod.rs")) if n else (os.path.join(src, "lib.rs"),):
            if os.path.isfile(candidate):
                return candidate
    return None


def strip_tests(text):
    """The text without `#[cfg(test)] mod tests { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def imports(src, path):
    here = module_of(src, path)
    text = strip_tests(open(path).read())
    paths = []
    for m in USE_GROUP.finditer(text):
        for item in re.split(r"[,\s]+", m.group(2)):
            item = item.split("::")[0].strip("{} ")
            if item and item != "self":
                paths.append(m.group(1) + "::" + item)
            elif item == "self":
                paths.append(m.group(1))
    paths += [m.group(1) + m.group(2) for m in PATH.finditer(text)]
    # A folder's mod.rs names its children bare (`pub use child::X`, `child::f()`):
    # each is an edge to that child, re-exports included, so a child that
    # imports its own folder's mod.rs (rather than a sibling) closes a cycle.
    children = set(re.findall(r"^\s*(?:pub(?:\([\w:]+\))?\s+)?mod\s+(\w+)\s*;", text, re.M))
    if children:
        body = re.sub(r"^\s*(?:pub(?:\([\w:]+\))?\s+)?mod\s+\w+\s*;", "", text, flags=re.M)
        for m in re.finditer(r"(?<![\w:])(\w+)::", body):
            if m.group(1) in children:
                paths.append("self::" + m.group(1))
    found = set()
    for p in paths:
        parts = p.split("::")
        if parts[0] == "crate":
            module = parts[1:]
        else:
            module = list(here)
            for part in parts:
                if part == "super":
                    module = module[:-1]
                elif part != "self":
                    module.append(part)
        target = file_of(src, module)
        if target and target != path:
            found.add(target)
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "crates", "clip_embed_core", "src"))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    src = os.path.normpath(args.src)
    files = sorted(
        os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".rs") and f != "tests.rs"
    )
    graph = {f: imports(src, f) for f in files}
    name = lambda f: os.path.relpath(f, src)  # noqa: E731
    layer = lambda f: module_of(src, f)[0] if module_of(src, f) else None  # noqa: E731
    problems = 0
    for f in files:
        targets = sorted(graph[f])
        if args.verbose:
            print(f"{name(f)} -> {', '.join(name(t) for t in targets) or '-'}")
        for t in targets:
            a, b = layer(f), layer(t)
            # lib.rs and a folder's mod.rs re-export what is below them: not an upward import.
            if a in LAYERS and b in LAYERS and LAYERS.index(b) > LAYERS.index(a):
                print(f"upward: {name(f)} imports {name(t)} ({b} is above {a})")
                problems += 1
    # Cycles: strongly connected components of more than one file.
    def edges(f):
        return graph[f]

    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges(v):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for f in files:
        if f not in index:
            visit(f)
    for comp in sccs:
        print("cycle:", " <-> ".join(sorted(name(f) for f in comp)))
        problems += 1
    largest = max(files, key=lambda f: sum(1 for _ in open(f)))
    print(f"{len(files)} files, largest {name(largest)} ({sum(1 for _ in open(largest))} lines); "
          f"{sum(len(v) for v in graph.values())} imports; {len(sccs)} cycles; {problems} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
