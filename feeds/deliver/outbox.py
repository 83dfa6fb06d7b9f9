"""The outbox: deliveries written to a local folder instead of being sent.

``<outbox>/<feed id>/<file name>`` (an ``.eml`` holding the whole mail for
EMAIL feeds) beside ``<file name>.manifest.json``, which says what would have
been sent where, secrets masked. Every delivery also adds one line to
``<outbox>/<feed id>/deliveries.jsonl``, so repeated deliveries of a file with
a fixed name (SITC) stay countable.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import redact
from ..filenames import fit
from .base import Context, Job, Target
from .method import Own


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".feeds-{uuid.uuid4().hex[:16]}.part")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def write(job: Job, target: Target, own: Own, outbox: Path, context: Context) -> str:
    """Write the delivery to the outbox; return where it went."""
    folder = outbox / str(job.feed.id if job.feed.id is not None else "manual")
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "feed_id": job.feed.id,
        "feed_name": job.feed.name,
        "run_id": job.run_id,
        "method": target.method.name,
        "would_send_to": target.describe(job.filename),
        "filename": job.filename,
        "rows": job.rows,
        "bytes": job.size,
        "sha256": job.sha256,
        "generated_at": job.generated_at.isoformat(),
        "written_at": datetime.now(timezone.utc).isoformat(),
    }
    name, content, details = target.method.outbox_file(job, target, own)
    written = folder / name
    temporary = folder / f".feeds-{uuid.uuid4().hex[:16]}.part"
    if isinstance(content, bytes):
        temporary.write_bytes(content)
    else:
        shutil.copyfile(content, temporary)
    context.publish(str(temporary))
    os.replace(temporary, written)
    manifest.update(details)
    manifest.update(target.method.manifest(target))
    manifest["file"] = str(written)
    text = json.dumps(redact.redact_data(manifest), indent=2, ensure_ascii=False) + "\n"
    _atomic_write(folder / fit(written.name, suffix=".manifest.json"), text.encode("utf-8"))
    with (folder / "deliveries.jsonl").open("a", encoding="utf-8") as journal:
        journal.write(json.dumps(redact.redact_data(manifest), ensure_ascii=False) + "\n")
    return f"outbox {written} (would go to {manifest['would_send_to']})"


def landed(context: Context) -> bool:
    """An outbox write interrupted at its rename landed when its temporary file is gone."""
    return bool(context.publishing) and not Path(context.publishing).exists()  # type: ignore[arg-type]
