#!/usr/bin/env python3
"""Fails when the files of a crate import each other in a cycle.

A file imports another when it names an item the other file defines: `use crate::a::b::X`,
`use super::b::X`, `use child::X` for a child module it declares, or such a path written
inline (`crate::a::X`). The path is resolved to the deepest module that has a file
(`a/b.rs`, `a/b/mod.rs`), then through that module's `use` lines (its re-exports) to the file
that defines the item, so a facade that only declares and re-exports its children is no
file's dependency. Naming a module itself (`use crate::a::b;`) is an edge to its file.

Test modules (`tests.rs`, `#[cfg(test)] mod tests { .. }` bodies) are left out: they are
meant to see everything. Usage: scripts/check-import-cycles.py [CRATE_SRC_DIR ...]
(default: every crate's src/ in the workspace). Prints each cycle and exits 1 if any.
"""

import os
import re
import sys

CRATES = ["src", "identity/src", "node/src", "http-gateway/src", "relay-server/src"]

USE_RE = re.compile(r"\buse\s+([^;]+);", re.S)
INLINE_RE = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
MOD_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)


def strip_comments_and_tests(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    # `pub(in crate::a)` names a module for visibility, not a dependency.
    text = re.sub(r"pub\(in [^)]*\)", "pub", text)
    # Inline test modules: drop from `#[cfg(test)]` + `mod x {` to its closing brace.
    out = []
    i = 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d as e}}` -> [(('a','b'), 'b'), (('a','c','d'), 'e')]: each path with the
    name it brings into scope."""
    tree = re.sub(r"\s+as\s+", "@", tree)
    tree = re.sub(r"\s+", "", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        if cur:
            parts.append(cur)
        return parts

    def walk(prefix, s):
        if "{" not in s:
            return [prefix + s]
        head, _, rest = s.partition("{")
        inner = rest[: rest.rfind("}")]
        paths = []
        for part in split_top(inner):
            paths += walk(prefix + head, part)
        return paths

    out = []
    for p in walk("", tree):
        path, _, alias = p.rstrip(":").partition("@")
        segs = tuple(x for x in path.split("::") if x)
        if segs:
            out.append((segs, alias or segs[-1]))
    return out


class Crate:
    def __init__(self, src):
        self.files = {}  # module path tuple -> file
        self.text = {}  # module path tuple -> its code: comments, strings and tests stripped
        root = os.path.join(src, "lib.rs")
        if not os.path.exists(root):
            root = os.path.join(src, "main.rs")
        self.collect((), root)
        # Per module, the names its `use` lines bring in: name -> full path segments.
        self.imports = {
            path: {
                name: segs
                for tree in USE_RE.findall(text)
                for segs, name in expand_use(tree)
                if name not in ("*", "self")
            }
            for path, text in self.text.items()
        }

    def collect(self, path, file):
        self.files[path] = file
        text = strip_comments_and_tests(open(file, encoding="utf-8").read())
        self.text[path] = text
        base = os.path.dirname(file)
        name = os.path.basename(file)
        if name not in ("lib.rs", "main.rs", "mod.rs"):
            base = os.path.join(base, name[:-3])
        for child in MOD_RE.findall(text):
            if child == "tests":
                continue
            for cand in (os.path.join(base, child + ".rs"), os.path.join(base, child, "mod.rs")):
                if os.path.exists(cand):
                    self.collect(path + (child,), cand)
                    break

    def resolve(self, here, segments, depth=0):
        """The file defining what `segments`, written in module `here`, names."""
        found = self.resolve_module(here, segments)
        if found is None:
            return None
        mod, rest = found
        # What is left after the module is an item; follow a re-export of it to its file.
        if rest and depth < 16:
            via = self.imports[mod].get(rest[0])
            if via is not None and via != segments:
                target = self.resolve(mod, via + rest[1:], depth + 1)
                if target is not None:
                    return target
        return mod

    def resolve_module(self, here, segments):
        """The deepest module with a file that `segments` reaches, and the segments left."""
        if segments[0] == "crate":
            mod, rest = (), segments[1:]
        elif segments[0] in ("super", "self"):
            mod, rest = here, segments
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    mod = mod[:-1]
                rest = rest[1:]
        elif here + (segments[0],) in self.files:
            mod, rest = here, segments
        else:
            return None
        while rest and mod + (rest[0],) in self.files:
            mod, rest = mod + (rest[0],), rest[1:]
        return mod, tuple(r for r in rest if r not in ("self", "*"))

    def edges(self):
        graph = {}
        for path, text in self.text.items():
            targets = set()
            private = re.sub(r"\bpub(\([^)]*\))?\s+use\s+[^;]+;", "", text)
            for tree in USE_RE.findall(private):
                for segs, _ in expand_use(tree):
                    t = self.resolve(path, segs)
                    if t is not None:
                        targets.add(t)
            for p in INLINE_RE.findall(USE_RE.sub("", private)):
                t = self.resolve(path, tuple(p.split("::")))
                if t is not None:
                    targets.add(t)
            targets.discard(path)
            graph[path] = targets
        return graph


def cycles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return out


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    crates = sys.argv[1:] or CRATES
    found = 0
    files = 0
    for src in crates:
        crate = Crate(src)
        graph = crate.edges()
        files += len(graph)
        for comp in cycles(graph):
            found += 1
            print(f"import cycle among {len(comp)} files:")
            for m in sorted(comp, key=lambda m: crate.files[m]):
                deps = sorted(crate.files[t] for t in graph[m] if t in comp)
                print(f"  {crate.files[m]} -> {', '.join(deps)}")
    if found:
        print(f"import cycles: {found} in {files} files")
        return 1
    print(f"import cycles: none in {files} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
