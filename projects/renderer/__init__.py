"""The pure renderer of personalisation projects (Pillow only, no Django): pages, previews, mock-up, print PDF.

`pages` lays out and draws one page; `book` renders a project, in one process or page by page apart, and `pdf`
writes the print file. The render services (projects.services.rendering) feed it plain data and store what it
makes.
"""

from projects.renderer.book import (
    PagePart,
    RenderOutput,
    book_check,
    book_dpi,
    page_cost,
    pages_by_cost,
    render,
    render_book_page,
    sha256_file,
    write_pdf,
)
from projects.renderer.pages import (
    Photo,
    RenderError,
    TemplateSpec,
    Text,
    cover_crop,
    page_pixel_size,
    render_mockup,
    render_page,
)

__all__ = ["PagePart", "Photo", "RenderError", "RenderOutput", "TemplateSpec", "Text", "book_check", "book_dpi",
           "cover_crop", "page_cost", "page_pixel_size", "pages_by_cost", "render", "render_book_page",
           "render_mockup", "render_page", "sha256_file", "write_pdf"]
