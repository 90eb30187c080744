"""Quotes and contracts rendered from Jinja2 templates into PDF (fpdf2, pure Python).

The templates are small HTML files in `templates/` (fpdf2 lays out a basic HTML subset); values are
HTML-escaped by Jinja2's autoescaping, so a contact's name cannot inject markup.
"""

import importlib.util
from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
_jinja = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), undefined=StrictUndefined
)


@cache
def unicode_font() -> Path | None:
    """DejaVu Sans, shipped with matplotlib (already a dependency), for names beyond Latin-1."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.is_file() else None


def render_html(template: str, contact: dict, deal: dict | None = None, deal_id: str | None = None) -> str:
    return _jinja.get_template(f"{template}.html").render(
        contact=contact, deal=deal or {}, deal_id=deal_id, today=date.today().isoformat()
    )


def render_pdf(template: str, contact: dict, deal: dict | None = None, deal_id: str | None = None) -> bytes:
    """The PDF of `template` (quote or contract) filled with the contact's and the deal's data."""
    # Imported on first use: fpdf2 (with fontTools) is most of the service's start-up, and a documents
    # process restarted after a crash should be ready before anyone asks it for a PDF.
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(f"{template.title()} for {contact.get('first_name', '')} {contact.get('last_name', '')}".strip())
    font = unicode_font()
    if font is not None:
        pdf.add_font("dejavu", "", str(font))
        pdf.add_font("dejavu", "B", str(font))  # no bold face needed: the regular one stands in
        pdf.set_font("dejavu", size=11)
    else:
        pdf.set_font("helvetica", size=11)
    pdf.add_page()
    html = render_html(template, contact, deal, deal_id)
    if font is None:
        html = html.encode("latin-1", "replace").decode("latin-1")
    pdf.write_html(html, font_family=pdf.font_family)
    return bytes(pdf.output())
