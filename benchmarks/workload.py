"""The records a benchmark builds from, and the edits it makes between rebuilds.

Per N, under the work directory:

    N/corpus/        generated once by gen_corpus.py; never modified (the peers read it)
    N/records/       a private copy (cp -a) that the rebuild steps edit in place
    N/records.dirty  present while edits are not yet undone: the copy is redone
    N/targets.json   the newest published records, the ones the edits touch
"""

from __future__ import annotations

import heapq
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = 100
_PUBLISHED = re.compile(rb"^published: true$", re.M)
_DATE = re.compile(rb"^publishedDateTime: (\S+)$", re.M)


def ensure_corpus(work: Path, n: int, seed: int, jobs: int) -> Path:
    """The generated corpus for N (generated into a temporary folder, renamed when complete)."""
    corpus = work / str(n) / "corpus"
    if corpus.is_dir():
        return corpus
    partial = corpus.with_name("corpus.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(HERE / "gen_corpus.py"), "--n", str(n), "--seed", str(seed),
                    "--out", str(partial), "--jobs", str(jobs)], check=True)
    partial.rename(corpus)
    return corpus


def ensure_private_copy(corpus: Path) -> Path:
    """A copy of the corpus the edits may touch; redone when a previous run left it edited."""
    records, dirty = corpus.with_name("records"), corpus.with_name("records.dirty")
    if records.is_dir() and not dirty.exists():
        return records
    shutil.rmtree(records, ignore_errors=True)
    partial = corpus.with_name("records.partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(["cp", "-a", str(corpus), str(partial)], check=True)
    partial.rename(records)
    dirty.unlink(missing_ok=True)
    return records


def _published_date(path: Path) -> bytes | None:
    """A published record's publishedDateTime as written, or None when it is unpublished."""
    head = path.read_bytes().split(b"\nprovider:", 1)[0]
    date = _DATE.search(head)
    return date.group(1) if date and _PUBLISHED.search(head) else None


def newest_published(records: Path) -> list[str]:
    """File names of the TARGETS newest published records, newest first (cached per N)."""
    cache = records.with_name("targets.json")
    if cache.exists():
        return list(json.loads(cache.read_text()))
    dated = ((d, p.name) for p in records.iterdir() if (d := _published_date(p)) is not None)
    names = [name for _, name in heapq.nlargest(TARGETS, dated)]
    cache.write_text(json.dumps(names))
    return names


class Edits:
    """Edits of the private copy that remember each file's original bytes to undo them."""

    def __init__(self, records: Path) -> None:
        self.records = records
        self.originals: dict[Path, bytes] = {}

    def _remember(self, path: Path) -> bytes:
        data = path.read_bytes()
        self.originals.setdefault(path, data)
        self.records.with_name("records.dirty").touch()
        return data

    def rewrite(self, name: str, tag: str) -> None:
        """Rewrite a record in place with `tag` put in front of its title and excerpt."""
        path = self.records / name
        data = self._remember(path)
        for field in (b"title", b"excerpt"):
            data, count = re.subn(rb'^(' + field + rb': ")', rb"\g<1>" + tag.encode() + b" ", data,
                                  count=1, flags=re.M)
            if count != 1:
                raise ValueError(f"{path}: no double-quoted {field.decode()} to edit")
        path.write_bytes(data)

    def delete(self, name: str) -> None:
        """Remove a record file."""
        path = self.records / name
        self._remember(path)
        path.unlink()

    def undo(self) -> None:
        """Put every touched file back as it was."""
        for path, data in self.originals.items():
            path.write_bytes(data)
        self.originals.clear()
        self.records.with_name("records.dirty").unlink(missing_ok=True)


@contextmanager
def editing(records: Path) -> Iterator[Edits]:
    """Edits that are undone on the way out, whatever happens."""
    edits = Edits(records)
    try:
        yield edits
    finally:
        edits.undo()
