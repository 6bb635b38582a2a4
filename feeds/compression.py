"""Precompressed siblings: ``X.gz`` and ``X.br`` beside a site file, for servers that send them as they are.

nginx's ``gzip_static`` (and the Brotli module's ``brotli_static``) answer a
request for ``X`` from ``X.gz`` whenever that file exists and the client
accepts gzip, without looking at ``X``: a sibling must always hold exactly
the file's bytes, or readers get an old feed.  So siblings are made from the
bytes of the file they stand beside, in the same export batch, are
reproducible (no time stamp, fixed levels), and a sibling the site no longer
wants (the file is gone, or precompression was turned off) is removed like
any stale file.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable

from .workers import in_order

GZIP, BROTLI = ".gz", ".br"
SUFFIXES = (GZIP, BROTLI)
GZIP_LEVEL = 9
# Brotli's top quality (11) compresses 50 times slower than quality 6 (0.5 against 24 MB/s on the
# files of a 10,000-record site) for a body 11% smaller; 6 is within 0.3% of quality 8 and 9, and a
# rebuild compresses every file it writes.
BROTLI_QUALITY = 6
# Text compresses to a quarter.  The favicon is a 164-byte PNG inside an ICO: gzip makes it 173
# bytes, Brotli 168, so it gets no siblings.
PACKED_SUFFIXES = (".atom", ".rss", ".json", ".html", ".opml", ".js", ".xsl")
PARALLEL_FROM = 64  # fewer files are compressed faster than processes start


def packed(path: str) -> bool:
    """True when the site file at `path` gets compressed siblings."""
    return path.endswith(PACKED_SUFFIXES)


def siblings(path: str) -> tuple[str, ...]:
    """The site paths of the compressed siblings of `path` (none for a file that does not compress)."""
    return (path + GZIP, path + BROTLI) if packed(path) else ()


def sibling_of(path: str) -> str | None:
    """The site file a compressed sibling stands beside, or None when `path` is not a sibling."""
    for suffix in SUFFIXES:
        if path.endswith(suffix) and packed(path[:-len(suffix)]):
            return path[:-len(suffix)]
    return None


def sibling_digests(path: str, digest: str) -> dict[str, str]:
    """What the catalog records for the siblings of `path` made from the file of `digest`."""
    return {sibling: digest + sibling[len(path):] for sibling in siblings(path)}


def compress(path: str, data: bytes) -> list[tuple[str, bytes]]:
    """(site path, bytes) of the siblings of the file `path` holding `data`."""
    if not packed(path):
        return []
    import gzip  # here: a build that compresses nothing need not load them

    import brotli

    squeezed: bytes = brotli.compress(data, quality=BROTLI_QUALITY)
    return [(path + GZIP, gzip.compress(data, GZIP_LEVEL, mtime=0)), (path + BROTLI, squeezed)]


def managed(patterns: Iterable[str]) -> tuple[str, ...]:
    """`patterns` of files the site owns, with those of their siblings: a build without
    precompression removes the siblings an earlier build left, which would otherwise be sent
    for the new file."""
    owned = tuple(patterns)
    return owned + tuple(p + suffix for p in owned if not p.rpartition("/")[2].startswith(".")
                         for suffix in SUFFIXES)


def _compress_chunk(job: tuple[str, list[str]]) -> list[tuple[str, bytes]]:
    out, paths = job
    found = []
    for path in paths:
        with open(os.path.join(out, path), "rb") as handle:
            found.extend(compress(path, handle.read()))
    return found


def compress_files(out: str, paths: list[str], jobs: int = 0) -> Generator[tuple[str, bytes], None, None]:
    """(site path, bytes) of the siblings of the files at `paths` under `out`, as they are on disk.

    For files the build keeps as they are (their bytes are the ones last written) whose siblings
    are missing or not the ones written with them: precompression was just turned on, or a
    sibling was removed or edited.
    """
    jobs = jobs or os.cpu_count() or 1
    step = max(1, min(64, len(paths) // (jobs * 8)))
    chunks = [(out, paths[i:i + step]) for i in range(0, len(paths), step)]
    if jobs < 2 or len(paths) < PARALLEL_FROM:
        for chunk in chunks:
            yield from _compress_chunk(chunk)
        return
    for found in in_order(_compress_chunk, chunks, jobs):
        yield from found
