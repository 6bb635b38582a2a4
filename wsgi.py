"""WSGI entry point: ``gunicorn wsgi:app``. Settings come from feeds.toml and FEEDS_* variables."""

from feeds.web import create_app

app = create_app()
