"""Rebuild ``template.html``: the `dvc plots show` page with vega, vega-lite and vega-embed inlined.

``python vendor/vega/update.py [vega@6 vega-lite@6 vega-embed@7]`` fetches the packages with
``npm pack`` (the npm registry, nothing else), inlines each package's minified browser build
under a banner naming package, version and licence, and copies the licences next to the
template. The page has DVC's ``{plot_divs}`` and ``{refresh_tag}`` placeholders but not
``{scripts}``: DVC fills that one with script tags that load vega from a CDN, which a page
viewed offline cannot reach.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "template.html"
#: npm package -> its minified UMD build inside the package (globals vega, vegaLite, vegaEmbed).
BUILDS = {
    "vega": "build/vega.min.js",
    "vega-lite": "build/vega-lite.min.js",
    "vega-embed": "build/vega-embed.min.js",
}
DEFAULT_SPECS = ("vega@6", "vega-lite@6", "vega-embed@7")
#: DVC's template placeholders; the inlined code must contain none of them.
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")

PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>winback: DVC plots</title>
    <!-- vega, vega-lite and vega-embed are inlined below (vendor/vega/README.md): the page
         works offline. There is no scripts placeholder on purpose: DVC would put CDN script
         tags there. -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def _pack(specs: list[str], work: Path) -> dict[str, Path]:
    """``npm pack`` each spec into ``work``; returns package name -> unpacked folder."""
    done = subprocess.run(
        ["npm", "pack", "--json", *specs], cwd=work, check=True, capture_output=True, text=True
    )
    folders = {}
    for entry in json.loads(done.stdout):
        target = work / entry["name"]
        with tarfile.open(work / entry["filename"]) as tar:
            tar.extractall(target, filter="data")
        folders[entry["name"]] = target / "package"
    return folders


def build(folders: dict[str, Path]) -> str:
    """The page, with each package's build inlined under its banner; licences copied."""
    blocks = []
    for name, build_file in BUILDS.items():
        package = folders[name]
        meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
        code = (package / build_file).read_text(encoding="utf-8")
        if "</script" in code.lower() or any(p in code for p in PLACEHOLDERS):
            raise SystemExit(f"{name}: its build cannot be inlined as it is")
        banner = f"/*! {name} {meta['version']} | {meta['license']} | npm {name}@{meta['version']} {build_file} */"
        blocks.append(
            f'    <script type="text/javascript">\n{banner}\n{code.strip()}\n    </script>'
        )
        (HERE / f"LICENSE.{name}").write_text(
            (package / "LICENSE").read_text(encoding="utf-8"), encoding="utf-8"
        )
    return PAGE.format(scripts="\n".join(blocks))


def main(specs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        TEMPLATE.write_text(build(_pack(specs, Path(tmp))), encoding="utf-8")
    sys.stdout.write(f"wrote {TEMPLATE}\n")


if __name__ == "__main__":
    main(sys.argv[1:] or list(DEFAULT_SPECS))
