"""The report page's script (``report.js``, package data beside this module): draws the grid
from the JSON data block, and does hover / focus tooltips, the run detail dialog, the filters
and (live under ``jobctl dev``) the refresh.

Every value from the history is untrusted (job output, error text): it reaches the page only
through ``textContent`` and ``setAttribute`` on non-URL attributes, never as markup. The page's
Content-Security-Policy allows this script by its hash and nothing else, so ``report_html``
inlines ``SCRIPT`` exactly as read here (no reformatting, no newline translation)."""

from __future__ import annotations

from importlib.resources import files

# Bytes, decoded: no newline translation, so the CSP hash is of exactly the shipped text.
SCRIPT = files("cronplane.cli.views").joinpath("report.js").read_bytes().decode("utf-8")
