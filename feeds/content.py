"""An entry's HTML content, the same in every format: image, excerpt, video link, a story's other
articles, related coverage."""

from __future__ import annotations

from html import escape

from .records import Record, Related


def entry_html(record: Record) -> str:
    """The HTML content of an entry: image, excerpt, video link and related coverage."""
    parts: list[str] = []
    link = escape(record.link)
    if record.images:
        image = record.images[0]
        size = "".join(f' {k}="{v}"' for k, v in (("width", image.width), ("height", image.height))
                       if v)
        parts.append(f'<p><a href="{link}"><img src="{escape(image.url)}" alt=""{size}></a></p>')
    if record.excerpt:
        parts.append(f"<p>{escape(record.excerpt, quote=False)}</p>")
    if record.video_url:
        parts.append(f'<p><a href="{escape(record.video_url)}">Watch the video</a></p>')
    parts.append(f'<p><a href="{link}">Read the story at {escape(record.provider.name, quote=False)}</a></p>')
    for heading, items in (("Also covered by:", record.coverage), ("Related coverage:", record.related)):
        if items:
            parts.append(f"<p>{heading}</p><ul>{''.join(_item(item) for item in items)}</ul>")
    return "".join(parts)


def _item(item: Related) -> str:
    """One article of a list: its linked title, then its provider."""
    provider = f" ({escape(item.provider, quote=False)})" if item.provider else ""
    return f'<li><a href="{escape(item.url)}">{escape(item.title, quote=False)}</a>{provider}</li>'
