#!/usr/bin/env python3
"""The module graph of src/, drawn from the code's own imports (`use` statements and inline
`crate::`/`super::` paths; unit tests left out). Prints the modules, the import cycles between
files, and the imports that run from a module to the composition root (`server::start`), and
exits 1 if there is a cycle or such an import. Usage: scripts/module_graph.py [--edges]
"""
import os
import re
import sys

ROOT = "src"
COMPOSITION_ROOT = "server::start"


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return "::".join(rel)


def strip_tests(text):
    """Drops `#[cfg(test)] mod tests { ... }` blocks (the test code of a file)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod \w+ \{", text):
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


def expand(tree):
    """`a::{b, c::{d}}` -> [a::b, a::c::d]."""
    tree = tree.replace(" ", "").replace("\n", "")
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    return [p for part in parts if part for p in expand(prefix + part)]


def resolve(path, here, modules):
    """The module a path names, as the longest prefix that is a module of this crate."""
    segs = path.split("::")
    if segs[0] == "crate":
        segs = segs[1:]
    elif segs[0] in ("super", "self"):
        base = here.split("::") if here else []
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        segs = base + segs
    else:
        return None
    for k in range(len(segs), 0, -1):
        cand = "::".join(segs[:k])
        if cand in modules:
            return cand
    return None


def main():
    files = {}
    for d, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(d, n)
                files[module_of(p)] = p
    modules = set(files)
    edges = {m: set() for m in modules}
    for m, p in files.items():
        text = strip_tests(open(p).read())
        text = re.sub(r"//[^\n]*", "", text)
        paths = []
        for u in re.finditer(r"\buse\s+([^;]+);", text):
            paths += expand(u.group(1).split(" as ")[0])
        paths += re.findall(r"\b((?:crate|super)(?:::\w+)+)", text)
        for path in paths:
            target = resolve(path.split(" as ")[0], m, modules)
            # A parent declares and re-exports its children: that is not an import across
            # the tree. A child reaching its parent's items is.
            if target and target != m and not target.startswith(m + "::"):
                edges[m].add(target)
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    to_root = sorted(m for m in modules if COMPOSITION_ROOT in edges[m] and m != "server")
    n_edges = sum(len(e) for e in edges.values())
    print(f"{len(modules)} modules, {n_edges} imports between them")
    print(f"cycles: {len(sccs)}")
    for c in sccs:
        print("  " + " <-> ".join(c))
    print(f"imports of the composition root ({COMPOSITION_ROOT}): {len(to_root)}")
    for m in to_root:
        print(f"  {m}")
    if "--edges" in sys.argv:
        for m in sorted(modules):
            for t in sorted(edges[m]):
                print(f"{m} -> {t}")
    return 1 if sccs or to_root else 0


if __name__ == "__main__":
    sys.exit(main())
