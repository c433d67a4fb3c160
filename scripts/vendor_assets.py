"""Copy the front-end files the pages use from node_modules/ into static/vendor/ (git-ignored).

Run by scripts/setup.sh after `npm ci`; pages load these from our own static files, never a CDN.
Safe to run again: a file is copied only when it differs.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
NODE_MODULES = BASE_DIR / "node_modules"
VENDOR = BASE_DIR / "static" / "vendor"

# (source under node_modules, destination under static/vendor)
FILES = [
    ("@xterm/xterm/lib/xterm.js", "xterm/xterm.js"),
    ("@xterm/xterm/css/xterm.css", "xterm/xterm.css"),
    ("@xterm/xterm/LICENSE", "xterm/LICENSE"),
    ("@xterm/addon-fit/lib/addon-fit.js", "xterm/addon-fit.js"),
    ("@novnc/novnc/LICENSE.txt", "novnc/LICENSE.txt"),  # MPL-2.0; pako inside is MIT
    # LGPL-3.0-or-later (COPYING.LESSER amends the GPL text in COPYING); thirdparty/ holds jsbn & co.
    ("@spice-project/spice-html5/COPYING", "spice-html5/COPYING"),
    ("@spice-project/spice-html5/COPYING.LESSER", "spice-html5/COPYING.LESSER"),
]
# Whole folders: noVNC's ES modules import each other (core/inflator.js -> ../vendor/pako/...).
DIRS = [
    ("@novnc/novnc/core", "novnc/core"),
    ("@novnc/novnc/vendor/pako", "novnc/vendor/pako"),
    # spice-html5's ES modules (src/main.js imports the rest, and thirdparty/ for the RSA ticket).
    ("@spice-project/spice-html5/src", "spice-html5/src"),
]
# Not served: a module loader for browsers without ES modules (every browser we support has them).
IGNORE = shutil.ignore_patterns("browser-es-module-loader")


def main() -> int:
    missing = [src for src, _dst in FILES if not (NODE_MODULES / src).is_file()]
    missing += [src for src, _dst in DIRS if not (NODE_MODULES / src).is_dir()]
    if missing:
        print(f"vendor_assets: missing in node_modules (run `npm ci` first): {', '.join(missing)}", file=sys.stderr)
        return 1
    copied = 0
    for src, dst in FILES:
        source, target = NODE_MODULES / src, VENDOR / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and filecmp.cmp(source, target, shallow=False):
            continue
        shutil.copyfile(source, target)
        copied += 1
    for src, dst in DIRS:
        shutil.copytree(NODE_MODULES / src, VENDOR / dst, dirs_exist_ok=True, ignore=IGNORE)
    print(f"vendor_assets: {copied} file(s) and {len(DIRS)} folder(s) copied into {VENDOR.relative_to(BASE_DIR)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
