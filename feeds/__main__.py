"""``python -m feeds`` runs the command line."""

from feeds.cli import main

main(prog_name="feeds")
