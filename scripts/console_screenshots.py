"""Screenshots for the console's user guides, from the browser tests' own run.

Runs ``tests/test_console_browser.py`` (headless Chromium on the example ledger) with its
screenshots going to a temporary folder, then keeps the ones the guides show, cut to the top of
the page and reduced to a small palette PNG (128 colours) in ``docs/console/img/``::

    .venv/bin/python scripts/console_screenshots.py

Run it after changing a page's layout and commit the PNGs (each is a few tens of kB).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "console" / "img"
#: screenshot of the browser run -> (name in the docs, height kept in CSS pixels, width shown)
KEPT = {
    "login-1366.png": ("login.png", 420, 700),
    "home-1366.png": ("office-home.png", 700, 900),
    "ledger-1366.png": ("ledger.png", 560, 900),
    "new-ticket-preview-1366.png": ("new-ticket-preview.png", 1200, 800),
    "ticket-dispatched-1366.png": ("ticket.png", 900, 900),
    "home-unit-1366.png": ("unit-home.png", 640, 900),
    "ticket-resolved-by-unit-1366.png": ("unit-ticket.png", 620, 900),
    "contact-form-390.png": ("cadre-contact.png", 1300, 300),
    "enterprises-1366.png": ("enterprises.png", 420, 900),
    "monthly-1366.png": ("monthly.png", 700, 900),
    "rules-1366.png": ("rules.png", 700, 900),
}


def shrink(source: Path, target: Path, height: int, width: int) -> None:
    """The top ``height`` CSS pixels, scaled to ``width`` and reduced to 128 colours."""
    from PIL import Image

    with Image.open(source) as image:
        image = image.convert("RGB")
        image = image.crop((0, 0, image.width, min(image.height, height)))
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        image.quantize(colors=128, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="huhang-shots-") as tmp:
        env = dict(os.environ, HUHANG_ARTIFACTS=tmp, HUHANG_REQUIRE_BROWSER="1")
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "tests/test_console_browser.py"],
            cwd=ROOT,
            env=env,
            check=False,
        )
        if run.returncode != 0:
            print("浏览器测试未通过，未更新截图", file=sys.stderr)
            return 1
        OUT.mkdir(parents=True, exist_ok=True)
        for name, (target, height, width) in KEPT.items():
            shrink(Path(tmp) / "console" / name, OUT / target, height, width)
            size = (OUT / target).stat().st_size
            print(f"{OUT.relative_to(ROOT) / target}  {size / 1024:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
