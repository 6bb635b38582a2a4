"""Hugo and Pelican building the same per-topic and per-provider feeds from the same corpus.

Uses ../shared/bench/ as it is: `convert.py` turns the corpus into each
peer's input (and `expected.json`, what a correct build holds), the peers are
built the way `run_peers.sh` builds them, and `count_feeds.py` checks their
output. Pelican comes from PyPI, in a venv of its own under the work dir.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from measure import Sample, run_measured

ENTRY = {"atom": re.compile(rb"<entry[ >]"), "rss": re.compile(rb"<item[ >]")}


@dataclass(frozen=True)
class Peer:
    """How to build one peer: its folder under the converted tree, output folder and command."""

    name: str
    folder: str
    output: str
    command: tuple[str, ...]


def hugo_peer() -> Peer | None:
    """Debian's hugo, when installed."""
    if shutil.which("hugo") is None:
        return None
    return Peer("hugo", "hugo", "public", ("hugo", "--source", ".", "--destination", "public"))


def pelican_peer(work: Path) -> Peer | None:
    """Pelican from PyPI in work/pelican-venv (created on first use), or None when that fails."""
    venv = work / "pelican-venv"
    pelican = venv / "bin" / "pelican"
    if not (venv / "installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        print(f"installing Pelican into {venv} (log: {venv}.log)", file=sys.stderr)
        try:
            with open(f"{venv}.log", "w") as log:
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
                subprocess.run([str(venv / "bin" / "pip"), "install", "pelican[markdown]", "pyyaml"],
                               check=True, timeout=900, stdout=log, stderr=subprocess.STDOUT)
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"warning: Pelican not installed ({exc}); skipping Pelican", file=sys.stderr)
            return None
        (venv / "installed").touch()
    return Peer("pelican", "pelican", "output",
                (str(pelican), "content", "-s", "pelicanconf.py", "-o", "output"))


def make_peer(name: str, work: Path) -> Peer | None:
    """A peer by name, or None when it is unknown or not available."""
    if name == "hugo":
        return hugo_peer()
    if name == "pelican":
        return pelican_peer(work)
    return None


def version(peer: Peer) -> str:
    """The peer's version line."""
    cmd = ["hugo", "version"] if peer.name == "hugo" else [peer.command[0], "--version"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return f"{peer.name} (version unknown)"
    return out.split(" BuildDate")[0] if peer.name == "hugo" else f"Pelican {out}"


def ensure_converted(corpus: Path, shared: Path) -> Path:
    """The peers' input for this corpus (converted once, next to it)."""
    converted = corpus.with_name("peers")
    if (converted / "expected.json").exists():
        return converted
    partial = corpus.with_name("peers.partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run([sys.executable, str(shared / "convert.py"), "--corpus", str(corpus),
                    "--out", str(partial)], check=True)
    partial.rename(converted)
    return converted


def build_peer(peer: Peer, converted: Path, log: Path, timeout_s: float) -> Sample:
    """One clean build of a peer (its previous output removed first, untimed)."""
    site = converted / peer.folder
    shutil.rmtree(site / peer.output, ignore_errors=True)
    os.sync()
    return run_measured(list(peer.command), site, dict(os.environ), log, timeout_s)


def check_peer(peer: Peer, converted: Path, shared: Path) -> list[str]:
    """Problems count_feeds.py finds in the peer's output (empty when it holds what it should)."""
    out = subprocess.run([sys.executable, str(shared / "count_feeds.py"), peer.name,
                          str(converted / peer.folder / peer.output), str(converted / "expected.json")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return [f"count_feeds.py failed: {out.stderr.strip()[-300:]}"]
    return list(json.loads(out.stdout)["problems"])


def check_feeds_output(out: Path, converted: Path) -> list[str]:
    """The same count for feeds' own topic and provider Atom and RSS files."""
    expected = json.loads((converted / "expected.json").read_text())
    problems = []
    for folder, kind in (("topics", "topic"), ("providers", "provider")):
        for fmt, entry in ENTRY.items():
            files = list((out / folder).glob(f"*.{fmt}"))
            entries = sum(len(entry.findall(f.read_bytes())) for f in files)
            want = (expected[kind + "s"], expected[kind + "_entries"])
            if (len(files), entries) != want:
                problems.append(f"{kind}_{fmt}: {len(files)} files/{entries} entries, "
                                f"expected {want[0]}/{want[1]}")
    return problems
