#!/bin/sh
# What benchmarks/load.py, soak.py and run.py need, installed when missing (idempotent).
# Debian packages need root and apt-get; otherwise the script prints what to install.
set -eu
cd "$(dirname "$0")/.."

missing=""
command -v hugo >/dev/null 2>&1 || missing="$missing hugo"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
[ -x /usr/bin/time ] || missing="$missing time"

if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -q
        # shellcheck disable=SC2086  # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
    else
        echo "missing:$missing; install them (Debian: sudo apt-get install -y$missing)" >&2
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev,serve]'
echo "benchmarks: ready (hugo, nginx, wrk, time; venv with gunicorn, feedparser, lxml)"
# The AWS CLI, the peer of benchmarks/publish.py, in a venv of its own: it pins a botocore of its own.
[ -x .venv-aws/bin/aws ] || { python3 -m venv .venv-aws && .venv-aws/bin/pip install -q awscli; }
