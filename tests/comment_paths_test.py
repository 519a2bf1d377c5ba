#!/usr/bin/env python3
"""Every repository path a comment names exists: a comment that points a
reader at a file since renamed (the report's check, once a shell script, is
now a Python one) sends them nowhere.

Looks at the comments of the C++, CMake, shell, JavaScript and CSS files, and
at the whole of the Python files (their docstrings are their comments), for
paths under the repository's own folders (server/request.cpp,
crawlers/models/*.cpp); a path with a placeholder in capitals or <angle
brackets> (STAGE-summary.json, client-<model>.csv) names a family of files, and
a glob must match at least one.

Usage: comment_paths_test.py REPO   (exit 1 with every missing path listed)
"""
import glob
import os
import re
import subprocess
import sys

FOLDERS = ("common", "server", "client", "crawlers", "primes", "bench", "plots", "scripts", "tests", "fuzz",
           "docs", "cmake", ".ci")
PATH = re.compile(r"(?<![\w./-])(?:\.\./)?(?:" + "|".join(re.escape(f) for f in FOLDERS) + r")/[\w.*/-]*[\w*]")
COMMENT = {".cpp": r"//(.*)|/\*(.*?)\*/", ".hpp": r"//(.*)|/\*(.*?)\*/", ".js": r"//(.*)|/\*(.*?)\*/",
           ".css": r"/\*(.*?)\*/", ".sh": r"(?:^|\s)#(.*)", ".txt": r"(?:^|\s)#(.*)", ".cmake": r"(?:^|\s)#(.*)"}


def commented(path, text):
    """The parts of a file that are comments (a Python file: all of it)."""
    ext = os.path.splitext(path)[1] or (".sh" if text.startswith("#!") and "sh" in text.split("\n", 1)[0] else "")
    if ext == ".py":
        return text
    pattern = COMMENT.get(ext)
    if not pattern:
        return ""
    return "\n".join("".join(g for g in m.groups() if g) for m in re.finditer(pattern, text, re.S | re.M))


def exists(repo, name):
    if re.search(r"[A-Z]{2,}|<", name.split("/", 1)[1]):
        return True  # a family of files (STAGE-summary.json, client-<model>.csv)
    if name.startswith("../"):
        return True  # outside the repository (../shared/...)
    if "*" in name:
        return bool(glob.glob(os.path.join(repo, name)))
    return os.path.exists(os.path.join(repo, name))


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else "."
    files = subprocess.run(["git", "-C", repo, "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    missing, seen = [], 0
    for f in files:
        if f.startswith(("docs/", "fuzz/corpus/")) or f.endswith((".md", ".png", ".json", ".csv")):
            continue
        try:
            with open(os.path.join(repo, f), encoding="utf-8") as fh:
                text = fh.read()
        except (UnicodeDecodeError, OSError):
            continue
        for name in PATH.findall(commented(f, text)):
            name = name.rstrip(".")
            seen += 1
            if not exists(repo, name):
                missing.append(f"{f}: names {name}, which does not exist")
    for m in missing:
        print(m, file=sys.stderr)
    if missing:
        return 1
    print(f"ok: {seen} paths named in comments, every one exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
