"""The plan page as one self-contained HTML file: the wiki page's document, charts inline.

Used by ``tracker-bridge demo --preview`` to show a plan without a tracker. The charts are
embedded as ``data:`` URIs, so the file opens anywhere (a browser, a mail attachment) with
nothing beside it. Text is escaped like in the other renderers: an issue title cannot
inject markup.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

from tracker_bridge.publish.document import (
    Block,
    BulletList,
    Document,
    Heading,
    Image,
    IssueRef,
    Paragraph,
)
from tracker_bridge.publish.markup import Renderer, safe_url

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f3f3f3; }
.right { text-align: right; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0 1rem; }
"""


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


class _Html(Renderer):
    def __init__(self, images: Mapping[str, bytes]) -> None:
        super().__init__(_escape)
        self.images = images

    def ref(self, ref: IssueRef) -> str:
        url = safe_url(ref.url)
        if url is None:
            return self.escape(ref.label)
        return f'<a href="{self.escape(url)}">{self.escape(ref.label)}</a>'

    def block(self, block: Block) -> str:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 6)
            return f"<h{level}>{self.inline(block.text)}</h{level}>"
        if isinstance(block, Paragraph):
            return f"<p>{self.inline(block.text)}</p>"
        if isinstance(block, Image):
            data = self.images.get(block.filename)
            if data is None:  # named by the document but not drawn: say so, don't break
                return f"<p>(chart {self.escape(block.filename)} not available)</p>"
            src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            return f'<img src="{src}" alt="{self.escape(block.alt)}">'
        if isinstance(block, BulletList):
            items = "".join(f"<li>{self.inline(item)}</li>" for item in block.items)
            return f"<ul>{items}</ul>"

        def cell(tag: str, i: int, content: str) -> str:
            cls = ' class="right"' if i in block.right else ""
            return f"<{tag}{cls}>{content}</{tag}>"

        head = "".join(cell("th", i, self.inline(h)) for i, h in enumerate(block.header))
        rows = "".join(
            "<tr>" + "".join(cell("td", i, self.inline(c)) for i, c in enumerate(row)) + "</tr>"
            for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def render_html(doc: Document, images: Mapping[str, bytes], *, title: str) -> str:
    """A complete HTML page of ``doc``; ``images`` maps the document's image names to PNG."""
    body = _Html(images).render(doc)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{body}</body>\n</html>\n"
    )
