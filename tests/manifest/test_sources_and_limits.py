"""Any readable non-directory --source is streamed (a FIFO, a process
substitution); one record may hold at most a documented number of bytes."""

from __future__ import annotations

import io
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading

import pytest

from dandi_compute_plugin import load_assets_jsonld_metadata
from dandi_compute_plugin.errors import ManifestFormatError
from dandi_compute_plugin.manifest import ManifestRequest, iter_assets, summarize

from .common import dumps, example_records, load_fresh
from .original import original_load


def test_a_fifo_is_streamed_once(tmp_path: Path) -> None:
    body = dumps(example_records())
    fifo = tmp_path / "manifest.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(body)

    for read in (
        lambda: dict(load_fresh(source=fifo).content_id_to_asset),
        lambda: summarize(ManifestRequest(source=str(fifo))),
        lambda: [a.path for a in iter_assets(ManifestRequest(source=fifo))],
    ):
        writer = threading.Thread(target=feed)
        writer.start()
        got = read()
        writer.join()
        by_id, by_path = original_load(body)
        assert got in (
            by_id,
            (len(by_path), sum(m.content_size for m in by_path.values())),
            list(by_path),
        )


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_process_substitution_is_read_by_the_command(tmp_path: Path) -> None:
    body = dumps(example_records())
    (tmp_path / "m.jsonld").write_bytes(body)
    dandi = Path(sys.executable).with_name("dandi")
    script = f"{dandi} compute index --source <(cat m.jsonld) --summary"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    by_path = original_load(body)[1]
    total = sum(m.content_size for m in by_path.values())
    assert done.stdout.strip() == f"{len(by_path)} assets, {total} bytes"


def _with_text(size: int) -> bytes:
    record = dict(example_records()[0], note="x" * size)
    return dumps([example_records()[1], record])


def test_a_record_may_hold_32_mib() -> None:
    limit = 32 * 1024 * 1024  # the documented MAX_RECORD_BYTES
    index = load_assets_jsonld_metadata(source=io.BytesIO(_with_text(limit - 2000)))
    assert len(index.path_to_asset_metadata) == 2
    with pytest.raises(ManifestFormatError, match="longer than 33554432") as raised:
        load_assets_jsonld_metadata(source=io.BytesIO(_with_text(limit + 10)))
    assert raised.value.record == 2
