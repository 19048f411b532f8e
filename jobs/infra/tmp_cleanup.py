"""Deletes scratch files older than ``max_age_hours`` from the shared scratch folder."""

from __future__ import annotations

import logging
import os
import tempfile
import time

log = logging.getLogger(__name__)


def handler(event, context):
    folder = event.get("folder") or os.path.join(tempfile.gettempdir(), "scratch")
    max_age = float(event.get("max_age_hours", 24)) * 3600
    os.makedirs(folder, exist_ok=True)
    now = time.time()
    removed = kept = 0
    for entry in os.scandir(folder):
        if entry.is_file() and now - entry.stat().st_mtime > max_age:
            os.remove(entry.path)
            removed += 1
        else:
            kept += 1
    log.info("cleanup of %s: removed %s, kept %s", folder, removed, kept)
    return {"folder": folder, "removed": removed, "kept": kept}
