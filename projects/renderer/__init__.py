"""The pure renderer of personalisation projects (Pillow only, no Django): pages, previews, mock-up, print PDF.

`pages` lays out and renders; `pdf` writes the print file. The render services (projects.services.rendering)
feed it plain data and store what it makes.
"""

from projects.renderer.pages import (
    Photo,
    RenderError,
    RenderOutput,
    TemplateSpec,
    Text,
    cover_crop,
    page_pixel_size,
    render,
    render_mockup,
    render_page,
)

__all__ = ["Photo", "RenderError", "RenderOutput", "TemplateSpec", "Text", "cover_crop", "page_pixel_size",
           "render", "render_mockup", "render_page"]
