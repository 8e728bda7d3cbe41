#!/usr/bin/env python3
"""Every Markdown file a comment or a doc names must exist in the project.

Scans the project's text files (`git ls-files`: tracked files plus new ones not ignored, so a
work tree is checked before its commit) for names ending in `.md`: bare names, relative and
root-relative paths, and the targets of Markdown links (an `#anchor` after the name is
ignored). Documents (Markdown, HTML, plain text, JSON) are read whole; source files only in
their comments, doc attributes and Python docstrings, since a string in code may name a file
the code itself writes (a test's policy file in a temporary folder).

A name counts as present when it resolves against the naming file's own folder, then against
the repository root, or, written without `./` or `../`, when some project file's path ends
with it (so a comment may say `WIRE.md` for `docs/WIRE.md`). URLs and anything under
node_modules are not looked at. docs/ARCHITECTURE.md is held to more: every source file it
names (a backticked `*.rs` path) must exist too.

Usage: python3 scripts/check-doc-links.py   (exit 0 when all are present, 1 otherwise)
"""

import os
import re
import subprocess
import sys

# Lockfiles and vendored or generated trees: not written by us, not read by people.
SKIP_DIRS = {"node_modules", "target", ".venv", ".git"}
SKIP_FILES = {"Cargo.lock", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock"}

# A Markdown file name: path segments, then a name ending in `.md` (not `.mdx`, not a glob).
MD_NAME = re.compile(r"(?<![\w/.\-])((?:\.{1,2}/|[\w.\-]+/)*[\w.\-]*[\w\-]\.md)(?![\w\-])")
# Comment syntax by file kind; anything else is read whole.
SLASH = {".rs", ".js", ".mjs", ".cjs", ".ts", ".c", ".h", ".go", ".java", ".css"}
HASH = {".sh", ".py", ".toml", ".yml", ".yaml", ".service", ".conf", ".gitignore",
        ".dockerignore", ".cfg", ".ini"}
HASH_NAMES = {"Dockerfile", "Caddyfile", "Makefile", "requirements.txt"}
DASH = {".lua", ".sql"}
# URLs: whatever they name lives elsewhere.
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s)\]>\"'`]*")


def project_files(root):
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, check=True, capture_output=True,
    ).stdout.decode("utf-8", "surrogateescape")
    files = []
    for path in out.split("\0"):
        if not path or not os.path.isfile(os.path.join(root, path)):
            continue  # deleted in the work tree, or a submodule
        parts = path.split("/")
        if SKIP_DIRS.intersection(parts[:-1]) or parts[-1] in SKIP_FILES:
            continue
        files.append(path)
    return files


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"\0" in data:
        return None  # binary
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def comment_style(path, text):
    name = os.path.basename(path)
    ext = os.path.splitext(name)[1] if not name.startswith(".") else name
    if ext in SLASH:
        return "//"
    if ext in HASH or name in HASH_NAMES or (not ext and text.startswith("#!")):
        return "#"
    if ext in DASH:
        return "--"
    return None


def outside_strings(line, marker):
    """Where `marker` starts a comment after code: the first one not inside a "string"."""
    quotes = 0
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == "'" and line[i + 1:i + 3] == "\"'":
            i += 3  # the character literal '"'
            continue
        if line[i] == '"':
            quotes += 1
        elif quotes % 2 == 0 and line.startswith(marker, i):
            return i
        i += 1
    return None


def readable_spans(text, style, is_python):
    """For each line, the (start, end) column ranges a person reads as prose."""
    spans = []
    in_block = False  # inside /* */
    in_doc = False  # inside a Python triple-quoted string
    for line in text.splitlines():
        whole = [(0, len(line))]
        stripped = line.lstrip()
        if style is None:
            spans.append(whole)
            continue
        if style == "//":
            if in_block:
                spans.append(whole)
                in_block = "*/" not in line
                continue
            if stripped.startswith("/*"):
                spans.append(whole)
                in_block = "*/" not in stripped[2:]
                continue
            if stripped.startswith(("#[doc", "#![doc")):
                spans.append(whole)
                continue
        if is_python:
            toggles = line.count('"""') + line.count("'''")
            if in_doc or toggles:
                spans.append(whole)
                if toggles % 2:
                    in_doc = not in_doc
                continue
        at = outside_strings(line, style)
        spans.append([(at, len(line))] if at is not None else [])
    return spans


def present(name, naming_file, root, files, suffixes):
    if "node_modules/" in name:
        return True
    here = os.path.dirname(naming_file)
    for base in (here, ""):
        candidate = os.path.normpath(os.path.join(base, name))
        if not candidate.startswith("..") and os.path.isfile(os.path.join(root, candidate)):
            return True
    if name.startswith("./") or name.startswith("../"):
        return False
    return name in files or name in suffixes


def main():
    root = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True, text=True
    ).stdout.strip()
    files = project_files(root)
    file_set = set(files)
    # Every path suffix at a `/` boundary ("WIRE.md", "docs/WIRE.md", ...).
    suffixes = set()
    for path in files:
        parts = path.split("/")
        for i in range(len(parts)):
            suffixes.add("/".join(parts[i:]))

    references = 0
    missing = []
    for path in files:
        text = read_text(os.path.join(root, path))
        if text is None:
            continue
        style = comment_style(path, text)
        readable = readable_spans(text, style, path.endswith(".py"))
        for number, line in enumerate(text.splitlines(), start=1):
            prose = readable[number - 1]
            if not prose:
                continue
            urls = [m.span() for m in URL.finditer(line)]
            seen = set()
            for m in MD_NAME.finditer(line):
                if any(start <= m.start() < end for start, end in urls):
                    continue
                if not any(start <= m.start() < end for start, end in prose):
                    continue
                name = m.group(1)
                if name in seen:
                    continue
                seen.add(name)
                references += 1
                if not present(name, path, root, file_set, suffixes):
                    missing.append(f"{path}:{number}: names {name}, which is not in the project")

    # docs/ARCHITECTURE.md walks the request paths file by file: each source file it names
    # (`serve.rs`, `node/src/client/dial.rs`) must exist, so the map cannot drift from the code.
    arch = "docs/ARCHITECTURE.md"
    if arch in file_set:
        text = read_text(os.path.join(root, arch)) or ""
        for number, line in enumerate(text.splitlines(), start=1):
            for name in re.findall(r"`([A-Za-z0-9_./-]+\.rs)`", line):
                references += 1
                if name not in suffixes:
                    missing.append(f"{arch}:{number}: names {name}, which is not in the project")

    for line in missing:
        print(line)
    if missing:
        print(f"doc links: {references} references, {len(missing)} missing")
        return 1
    print(f"doc links: {references} references, all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
