"""An entry's HTML content, the same in every format: image, excerpt, video link, related coverage."""

from __future__ import annotations

from html import escape

from .records import Record


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
    if record.related:
        items = "".join(
            f'<li><a href="{escape(item.url)}">{escape(item.title, quote=False)}</a>'
            + (f" ({escape(item.provider, quote=False)})" if item.provider else "") + "</li>"
            for item in record.related
        )
        parts.append(f"<p>Related coverage:</p><ul>{items}</ul>")
    return "".join(parts)
