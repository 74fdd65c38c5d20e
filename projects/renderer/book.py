"""A whole project rendered: page previews, a mock-up and the print PDF, in one process or page by page apart.

`render_book_page` renders one page into a folder: its preview, its print JPEG (exactly the bytes the PDF
embeds) and, for the first page, the mock-up. `write_pdf` assembles print JPEGs into the PDF without decoding or
encoding them again. `render` does both for every page in one process; the render service gives the pages of a
big book to several workers and assembles their files when the last is in: the same calls, so the same bytes.

A page is rendered and written before the next: a 24-page A4 book at 300 DPI never holds more than one page.
No clock, no random id, fixed encoder settings: the same input gives the same bytes, hence the same checksum.
"""

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from projects.renderer.pages import (
    MM_PER_INCH,
    PREVIEW_JPEG,
    PREVIEW_SIZE,
    PRODUCTION_JPEG,
    PT_PER_INCH,
    Photo,
    RenderError,
    page_pixel_size,
    render_mockup,
    render_page,
    slot_box_px,
    trim_box_px,
)
from projects.renderer.pdf import PdfWriter

# Pillow gives a freed image's memory back to the system and faults it in again for the next one: every page,
# photo and tile is a fresh 30-50 MB. Its arena keeps freed blocks for the next image instead, but a kept block is
# resized (realloc) to each new request, and with Pillow's 16 MB blocks the last block of every image differs
# in size from the one before: the system unmapped and faulted its pages in again all the same (400,000 page
# faults, 1.0 CPU s of a 24-page A4 book). Blocks of 1 MB are all nearly the same size, so the pages kept are
# reused: 39,000 faults, 0.2 s, and a lower peak (176 against 185 MB). Up to 256 blocks are kept (256 MB, what
# 16 × 16 MB allowed); the arena never keeps more than the most a render held at once, which is its peak anyway.
# The pixels do not depend on it (tests/projects/test_render_bytes.py). PILLOW_BLOCK_SIZE in the environment wins.
RENDER_BLOCK_SIZE, RENDER_BLOCKS_MAX = 1 << 20, 256
if "PILLOW_BLOCK_SIZE" not in os.environ:
    Image.core.set_block_size(RENDER_BLOCK_SIZE)
Image.core.set_blocks_max(max(Image.core.get_blocks_max(), RENDER_BLOCKS_MAX))


@dataclass
class RenderOutput:
    previews: list = field(default_factory=list)  # paths, one JPEG per page
    mockup: Path | None = None
    production_file: Path | None = None
    checksum: str = ""  # sha256 of the print PDF; of the previews and mock-up when there is none
    warnings: list = field(default_factory=list)  # [{"page", "slot", "code", "message", ...}]
    page_count: int = 0


@dataclass
class PagePart:
    """What rendering one page left in its folder."""

    index: int
    preview: Path
    print_file: Path | None = None  # the page's print JPEG (production)
    pixel_size: tuple = (0, 0)  # of the print JPEG
    mockup: Path | None = None  # the first page only
    warnings: list = field(default_factory=list)


def book_check(template, page_count):
    """Raise RenderError unless a project of `page_count` pages can be rendered with this template."""
    if not page_count:
        raise RenderError("the project has no pages")
    if not template.min_pages <= page_count <= max(template.max_pages, template.min_pages):
        raise RenderError(f"{page_count} pages; this product has {template.min_pages} to {template.max_pages}")
    if not template.layouts:
        raise RenderError("the template has no page layout")


def book_dpi(template, *, production, preview_size=PREVIEW_SIZE):
    # A preview-only render draws pages just big enough for their previews: ~80× fewer pixels than print.
    if production:
        return template.dpi
    long_mm = max(template.trim_width_mm, template.trim_height_mm)
    return min(template.dpi, math.ceil(preview_size * MM_PER_INCH / long_mm) + 1)


def _preview(page, template, dpi, long_side):
    """The trimmed page (what the customer gets) scaled to `long_side`."""
    box = trim_box_px(template, dpi)
    width, height = box[2] - box[0], box[3] - box[1]
    ratio = long_side / max(width, height)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    # reducing_gap 1.0: a box reduction by the whole factor first (3 for a 300 DPI page), Lanczos for the last step
    # only: 5× faster than Lanczos alone, 1.5× faster than a gap of 1.5; a screen preview, never printed, differs
    # from plain Lanczos by 0.4 levels of 255 on average.
    return page.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=1.0)


def render_book_page(template, index, content, *, fonts, out_dir, production=True, preview_size=PREVIEW_SIZE):
    """Render page `index` into `out_dir`: page-NN.jpg (preview), print-NN.jpg (production), mockup.jpg (first)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dpi = book_dpi(template, production=production, preview_size=preview_size)
    part = PagePart(index=index, preview=out_dir / f"page-{index + 1:02d}.jpg")
    page = render_page(template, index, content, dpi=dpi, fonts=fonts, warnings=part.warnings)
    if production:
        part.print_file, part.pixel_size = out_dir / f"print-{index + 1:02d}.jpg", page.size
        page.save(part.print_file, "JPEG", **PRODUCTION_JPEG)
    preview = _preview(page, template, dpi, preview_size)
    if index == 0:
        area = template.mockup_area if template.mockup_path else None
        design_side = min(max(preview_size, *(round(float(v)) for v in area[2:4])) if area else preview_size,
                          max(page.size))
        # Without a bigger mock-up area the design is the preview itself (the same call): drawn once.
        design = preview if design_side == preview_size else _preview(page, template, dpi, design_side)
        part.mockup = out_dir / "mockup.jpg"
        render_mockup(design, base_path=template.mockup_path, area=area).save(part.mockup, "JPEG", **PREVIEW_JPEG)
        del design
    preview.save(part.preview, "JPEG", **PREVIEW_JPEG)
    return part


def page_cost(template, index, content, *, dpi=None):
    """What page `index` costs to render, roughly, in megapixels handled: the page's own (filled, encoded,
    previewed) and, for each photo, what is decoded and what is resized. An estimate to order pages by (a
    two-photo A4 page takes 1.45× a full-bleed one; this says 1.3×), not a measure. A photo that cannot be read
    makes its page the costliest: it fails the render, better before the other pages are drawn for nothing."""
    dpi = dpi or template.dpi
    width, height = page_pixel_size(template, dpi)
    layout = template.layout_for(index)
    photos = [(layout.background_image, (0, 0, width, height))] if layout.background_image else []
    photos += [(content[slot.id].path, slot_box_px(template, slot, dpi, extend_bleed=True))
               for slot in layout.slots if slot.kind == "photo" and isinstance(content.get(slot.id), Photo)]
    pixels = width * height
    for path, (left, top, right, bottom) in photos:
        try:
            with Image.open(path) as image:  # the header only
                pixels += image.width * image.height
        except (OSError, ValueError, Image.DecompressionBombError):
            return math.inf
        pixels += max(right - left, 0) * max(bottom - top, 0)
    return pixels / 1e6


def pages_by_cost(template, contents):
    """The pages' indexes, the costliest first (ties in page order): given to workers in this order, the cheap
    pages come last and the workers finish together, instead of one waiting for the other's last big page."""
    costs = [page_cost(template, index, content) for index, content in enumerate(contents)]
    return sorted(range(len(contents)), key=lambda index: (-costs[index], index))


def write_pdf(file, pages, *, dpi, bleed_mm, title=""):
    """Write the print PDF to a binary file from (print JPEG bytes, pixel size) of each page, in order."""
    writer = PdfWriter(file, title=title)
    for jpeg, pixel_size in pages:
        writer.add_jpeg_page(jpeg, pixel_size=pixel_size, page_size_pt=tuple(v * PT_PER_INCH / dpi for v in pixel_size),
                             trim_inset_pt=bleed_mm * PT_PER_INCH / MM_PER_INCH)
    writer.close()


def sha256_file(path, digest=None):
    digest = digest or hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest


def render(template, pages, *, fonts, out_dir, production=True, preview_size=PREVIEW_SIZE, title=""):
    """Render every page into `out_dir`: page-NN.jpg previews, mockup.jpg and (production) production.pdf."""
    book_check(template, len(pages))
    out_dir = Path(out_dir)
    output = RenderOutput(page_count=len(pages))
    parts = []
    for index, content in enumerate(pages):
        part = render_book_page(template, index, content, fonts=fonts, out_dir=out_dir, production=production,
                                preview_size=preview_size)
        parts.append(part)
        output.previews.append(part.preview)
        output.warnings.extend(part.warnings)
    output.mockup = parts[0].mockup
    if production:
        output.production_file = out_dir / "production.pdf"
        with open(output.production_file, "wb") as pdf:
            write_pdf(pdf, ((p.print_file.read_bytes(), p.pixel_size) for p in parts), dpi=template.dpi,
                      bleed_mm=template.bleed_mm, title=title)
        for part in parts:
            part.print_file.unlink()
        output.checksum = sha256_file(output.production_file).hexdigest()
    else:
        digest = hashlib.sha256()
        for path in [*output.previews, output.mockup]:
            sha256_file(path, digest)
        output.checksum = digest.hexdigest()
    return output
