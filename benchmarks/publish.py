#!/usr/bin/env python3
"""`feeds publish` to an S3 API: a first publish, a publish with nothing changed, and one after a
one-record change, each against ``aws s3 sync --delete`` of the same files in the same run.

Not a test.  Given an export `feeds build` wrote (``--out``) from a record folder (``--records``),
it starts moto's S3 server (``ThreadedMotoServer``) on 127.0.0.1 in this process, then `--runs`
times, each into a new bucket: times ``python -m feeds publish`` (a process of its own, from
spawn to exit) into the empty bucket, again with nothing changed, then rewrites the title of the
newest published record (``workload.Edits``), rebuilds with ``feeds build`` (not timed) and times
the publish of that change; the AWS CLI syncs the same folder into a bucket of its own at each
step, as the peer (it compares sizes and modification times, and sends no media types of ours).
Prints medians (with the range) and the objects each publish uploaded and deleted, as a Markdown
table.  The record is put back and the export rebuilt at the
end.

    .venv/bin/python benchmarks/gen_corpus.py --n 2000 --out /tmp/pub/records
    .venv/bin/feeds build --records /tmp/pub/records --out /tmp/pub/out
    .venv/bin/python benchmarks/publish.py --records /tmp/pub/records --out /tmp/pub/out [--runs 3]

Give the settings the export was built with (``--settings FILE``, or run it where that
``feeds.toml`` is), or the rebuild changes more than the record.  moto keeps every object in
memory: a bucket is emptied (``/moto-api/reset``) after each run.  Nothing of the user's AWS
setup is read; the server listens on 127.0.0.1 only and stops with the script.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from moto.server import ThreadedMotoServer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workload  # noqa: E402

SUMMARY = re.compile(r"uploaded (\d+), deleted (\d+), unchanged (\d+)")
STEPS = ("first publish", "nothing changed", "one record changed")


def feeds(*args: str, env: dict[str, str]) -> str:
    """Run ``python -m feeds ARGS`` to its end; its standard output (exits on a failure)."""
    done = subprocess.run([sys.executable, "-m", "feeds", *args], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        sys.exit(f"feeds {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def timed_publish(bucket: str, out: Path, endpoint: str, settings: list[str],
                  env: dict[str, str]) -> tuple[float, int, int]:
    """Seconds a publish took from spawn to exit, and the objects it uploaded and deleted."""
    started = time.perf_counter()
    printed = feeds("publish", f"s3://{bucket}/", "--out", str(out), "--endpoint-url", endpoint, *settings,
                    env=env)
    seconds = time.perf_counter() - started
    found = SUMMARY.search(printed)
    if found is None:
        sys.exit(f"no summary line in:\n{printed}")
    return seconds, int(found.group(1)), int(found.group(2))


def timed_sync(aws: str, bucket: str, out: Path, endpoint: str,
               env: dict[str, str]) -> tuple[float, int, int]:
    """The peer: seconds ``aws s3 sync --delete`` of the same files took (the siblings and dot files
    left out, as the publisher leaves them), and the objects it uploaded and deleted."""
    started = time.perf_counter()
    done = subprocess.run([aws, "s3", "sync", str(out), f"s3://{bucket}/", "--delete", "--no-progress",
                           "--exclude", "*.gz", "--exclude", "*.br", "--exclude", ".*", "--exclude", "*/.*",
                           "--endpoint-url", endpoint], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"aws s3 sync failed:\n{done.stdout}{done.stderr}")
    lines = done.stdout.splitlines()
    return (seconds, sum(line.startswith("upload:") for line in lines),
            sum(line.startswith("delete:") for line in lines))


def reset(endpoint: str) -> None:
    """Forget every bucket and object moto holds."""
    with urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"),
                                timeout=60):
        pass


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def counted(values: list[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the folder `feeds build` wrote")
    parser.add_argument("--records", type=Path, required=True, help="the record folder it was built from")
    parser.add_argument("--runs", type=int, default=3, help="runs, each into a new bucket (default 3)")
    parser.add_argument("--settings", help="the settings file the export was built with")
    parser.add_argument("--aws", default=str(HERE.parent / ".venv-aws" / "bin" / "aws"),
                        help="the AWS CLI, timed as the peer (`aws s3 sync --delete`; benchmarks/setup.sh "
                             "installs it in .venv-aws); 'none' to leave it out")
    args = parser.parse_args()
    settings = ["--settings", args.settings] if args.settings else []
    build = ["build", "--records", str(args.records), "--out", str(args.out), *settings]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # else a line per request
    empty = Path(tempfile.mkdtemp(prefix="feeds-bench-aws-")) / "none"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty),
               PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")])))
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    import boto3  # (after the credentials above)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = "http://{}:{}".format(*server.get_host_and_port())
    newest = workload.newest_published(args.records)[0]
    results: dict[str, list[tuple[float, int, int]]] = {step: [] for step in STEPS}
    aws = None if args.aws == "none" else args.aws
    peer: dict[str, list[tuple[float, int, int]]] = {step: [] for step in STEPS}
    files = sum(1 for p in args.out.rglob("*") if p.is_file() and p.suffix not in (".gz", ".br")
                and not any(part.startswith(".") for part in p.relative_to(args.out).parts))
    try:
        with workload.editing(args.records) as edits:
            for run in range(args.runs):
                bucket, synced = f"feeds-bench-{run}", f"aws-sync-{run}"
                for name in (bucket, synced):
                    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
                for step in STEPS:
                    if step == "one record changed":
                        edits.rewrite(newest, f"Changed{run}:")
                        feeds(*build, env=env)
                    results[step].append(timed_publish(bucket, args.out, endpoint, settings, env))
                    if aws:
                        peer[step].append(timed_sync(aws, synced, args.out, endpoint, env))
                reset(endpoint)
    finally:
        server.stop()
        feeds(*build, env=env)  # the export as the records are again
    load = os.getloadavg()
    print("| publish | feeds publish, s | uploaded | deleted | aws s3 sync, s | uploaded | deleted "
          "| ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for step, rows in results.items():
        synced = peer[step]
        versus = (f"{spread([r[0] for r in synced])} | {counted([r[1] for r in synced])} | "
                  f"{counted([r[2] for r in synced])} | "
                  f"{statistics.median(r[0] for r in rows) / statistics.median(r[0] for r in synced):.2f}x"
                  if synced else "– | – | – | –")
        print(f"| {step} | {spread([r[0] for r in rows])} | {counted([r[1] for r in rows])} | "
              f"{counted([r[2] for r in rows])} | {versus} |")
    print(f"\n{files:,} files in {args.out}, {args.runs} run(s), each into a new bucket of moto's server "
          f"on 127.0.0.1; `python -m feeds publish` timed from spawn to exit; load average at the end "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.")


if __name__ == "__main__":
    main()
