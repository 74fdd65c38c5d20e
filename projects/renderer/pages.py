"""Laying out and drawing one page of a personalisation project, and its mock-up. Pillow only, no Django.

Input is plain data (a TemplateSpec, the pages' slot contents, font paths). Units: slot boxes in millimetres
from the top-left corner of the trim box, text sizes in points, pages rendered at the template's DPI with the
bleed around them. `book` renders a whole project with these, in one process or page by page in several.
The output is deterministic: no clock, no random id, fixed encoder settings; the same input gives the same
pixels.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFilter, ImageFont, ImageOps

MM_PER_INCH = 25.4
PT_PER_INCH = 72
DEFAULT_FONT = "DejaVuSans"
PREVIEW_SIZE = 1000  # px, long side of a page preview
MOCKUP_SIZE = 1000  # px, the plain mock-up when the template has no base image
PRODUCTION_JPEG = {"quality": 92, "subsampling": 0}  # 4:4:4 keeps the edges of small coloured text clean
PREVIEW_JPEG = {"quality": 85}
EDGE_MM = 0.01  # a slot this close to the trim edge touches it and is extended over the bleed
MIN_TEXT_SHRINK = 0.4  # text that does not fit is made smaller, down to this share of its size


class RenderError(Exception):
    """The project cannot be rendered (an image is missing or unreadable, the pages do not fit the template)."""


@dataclass(frozen=True)
class SlotSpec:
    id: str
    kind: str  # "photo" or "text"
    box: tuple  # (x, y, width, height) in mm from the trim box's top-left corner
    font: str = DEFAULT_FONT
    size_pt: float = 12.0
    colour: str = "#000000"
    align: str = "left"  # left, center, right
    valign: str = "top"  # top, middle, bottom


@dataclass(frozen=True)
class PageLayout:
    slots: tuple = ()
    background: str = "#FFFFFF"
    background_image: str | None = None  # a path; cover-cropped over the whole page, bleed included


@dataclass(frozen=True)
class TemplateSpec:
    trim_width_mm: float
    trim_height_mm: float
    bleed_mm: float
    dpi: int
    layouts: tuple  # of PageLayout; a book repeats the last layout for its remaining pages
    min_effective_dpi: int = 150
    min_pages: int = 1
    max_pages: int = 1
    mockup_path: str | None = None
    mockup_area: tuple | None = None  # (x, y, width, height) in px of the mock-up base image

    def layout_for(self, index):
        return self.layouts[min(index, len(self.layouts) - 1)]

    @classmethod
    def from_layouts(cls, *, page_layouts, **fields):
        """From the template's stored JSON layouts: [{"background", "background_image", "slots": [...]}]."""
        layouts = tuple(
            PageLayout(
                slots=tuple(SlotSpec(**{k: (tuple(v) if k == "box" else v) for k, v in slot.items()
                                        if k in SlotSpec.__dataclass_fields__})
                            for slot in layout.get("slots", [])),
                background=layout.get("background") or "#FFFFFF",
                background_image=layout.get("background_image") or None,
            )
            for layout in page_layouts
        )
        return cls(layouts=layouts, **fields)


@dataclass(frozen=True)
class Photo:
    path: str
    focal: tuple | None = None  # (fx, fy) in 0..1 of the image; None: its centre
    scale: float = 1.0  # zoom over the smallest size that covers the slot


@dataclass(frozen=True)
class Text:
    text: str


def mm_to_px(mm, dpi):
    return mm * dpi / MM_PER_INCH


def page_pixel_size(template, dpi=None):
    """(width, height) in px of a page with its bleed."""
    dpi = dpi or template.dpi
    return (round(mm_to_px(template.trim_width_mm + 2 * template.bleed_mm, dpi)),
            round(mm_to_px(template.trim_height_mm + 2 * template.bleed_mm, dpi)))


def trim_box_px(template, dpi=None):
    dpi = dpi or template.dpi
    width, height = page_pixel_size(template, dpi)
    bleed = round(mm_to_px(template.bleed_mm, dpi))
    return bleed, bleed, width - bleed, height - bleed


def slot_box_px(template, slot, dpi, *, extend_bleed):
    """(left, top, right, bottom) px on the page; a photo touching the trim edge runs on to the page edge."""
    x, y, w, h = (float(v) for v in slot.box)
    bleed = template.bleed_mm
    left, top = round(mm_to_px(bleed + x, dpi)), round(mm_to_px(bleed + y, dpi))
    right, bottom = round(mm_to_px(bleed + x + w, dpi)), round(mm_to_px(bleed + y + h, dpi))
    if extend_bleed:
        width, height = page_pixel_size(template, dpi)
        left = 0 if x <= EDGE_MM else left
        top = 0 if y <= EDGE_MM else top
        right = width if x + w >= template.trim_width_mm - EDGE_MM else right
        bottom = height if y + h >= template.trim_height_mm - EDGE_MM else bottom
    return left, top, right, bottom


def cover_crop(image_size, slot_size, focal=None, scale=1.0):
    """The part of an image shown in a slot: (left, top, right, bottom) in image px, and px of slot per image px.

    The image covers the slot (no gap), zoomed by `scale`, centred on the focal point as far as the image's
    edges allow.
    """
    image_w, image_h = image_size
    slot_w, slot_h = slot_size
    factor = max(slot_w / image_w, slot_h / image_h) * min(max(float(scale or 1), 1.0), 20.0)
    crop_w, crop_h = slot_w / factor, slot_h / factor
    fx, fy = focal if focal else (0.5, 0.5)
    fx, fy = min(max(float(fx), 0.0), 1.0), min(max(float(fy), 0.0), 1.0)
    # The outer max: when the crop is the whole side, image_w - crop_w can come out a hair below zero.
    left = max(min(max(fx * image_w - crop_w / 2, 0.0), image_w - crop_w), 0.0)
    top = max(min(max(fy * image_h - crop_h / 2, 0.0), image_h - crop_h), 0.0)
    return (left, top, left + crop_w, top + crop_h), factor


def _load_cover(path, slot_size, focal, scale):
    """The image cropped and resized to the slot, and its effective DPI factor; JPEGs are decoded at reduced
    size when the slot needs far fewer pixels (libjpeg's DCT scaling: much faster, much less memory)."""
    try:
        image = Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RenderError(f"cannot read image {Path(path).name}: {exc}") from None
    with image:
        orientation = image.getexif().get(0x0112, 1)
        stored_w, stored_h = image.size
        upright = (stored_h, stored_w) if orientation in (5, 6, 7, 8) else (stored_w, stored_h)
        crop, factor = cover_crop(upright, slot_size, focal, scale)
        if image.format == "JPEG":
            image.draft("RGB", (math.ceil(stored_w * factor), math.ceil(stored_h * factor)))
        try:
            ImageOps.exif_transpose(image, in_place=True)
        except (OSError, ValueError, SyntaxError) as exc:
            raise RenderError(f"cannot decode image {Path(path).name}: {exc}") from None
        # A reduced decode rounds each side up on its own: its two scales differ slightly, and one scale for both
        # could put the crop a fraction of a pixel outside the decoded image.
        scale_x, scale_y = image.size[0] / upright[0], image.size[1] / upright[1]
        crop = (crop[0] * scale_x, crop[1] * scale_y, min(crop[2] * scale_x, image.size[0]),
                min(crop[3] * scale_y, image.size[1]))
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
        converted = image.convert(mode) if image.mode != mode else image
        # Bicubic, not Lanczos: no visible difference in print at 300 DPI, and a quarter less time per photo.
        tile = converted.resize(slot_size, Image.Resampling.BICUBIC, box=crop, reducing_gap=3.0)
    return tile, factor


def _paste(page, tile, position):
    if tile.mode == "RGBA":
        page.paste(tile, position, tile)
    else:
        page.paste(tile, position)


def _font(fonts, name, size_px):
    path = fonts.get(name) or fonts.get(DEFAULT_FONT) or next(iter(fonts.values()), None)
    if path is None:
        raise RenderError("no font is available")
    # BASIC layout: the same glyph positions whether or not this machine has libraqm.
    return ImageFont.truetype(path, size_px, layout_engine=ImageFont.Layout.BASIC)


def _wrap(text, font, width):
    lines = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while font.getlength(word) > width and len(word) > 1:  # a word wider than the box is cut
                cut = max(1, next((i for i in range(len(word), 0, -1) if font.getlength(word[:i]) <= width), 1))
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _draw_text(page, box, slot, text, *, dpi, fonts):
    """Draw wrapped text in its box; returns a warning message when it had to be cut."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    size_px = float(slot.size_pt) * dpi / PT_PER_INCH
    minimum = size_px * MIN_TEXT_SHRINK
    while True:
        font = _font(fonts, slot.font, size_px)
        ascent, descent = font.getmetrics()
        line_height = round((ascent + descent) * 1.15)
        lines = _wrap(text, font, width)
        if len(lines) * line_height - (line_height - ascent - descent) <= height or size_px * 0.9 < minimum:
            break
        size_px *= 0.9
    fits = max(1, (height + line_height - ascent - descent) // line_height) if line_height else len(lines)
    shown = lines[:fits]
    block = len(shown) * line_height - (line_height - ascent - descent)
    y = {"middle": top + (height - block) / 2, "bottom": bottom - block}.get(slot.valign, top)
    anchor, x = {"center": ("ma", (left + right) / 2), "right": ("ra", right)}.get(slot.align, ("la", left))
    try:
        colour = ImageColor.getrgb(slot.colour or "#000000")
    except ValueError:
        raise RenderError(f"{slot.id}: {slot.colour!r} is not a colour") from None
    draw = ImageDraw.Draw(page)
    for line in shown:
        draw.text((x, y), line, font=font, fill=colour, anchor=anchor)
        y += line_height
    return None if len(shown) == len(lines) else f"the text does not fit its box ({len(lines) - len(shown)} lines cut)"


def render_page(template, index, content, *, dpi, fonts, warnings=None):
    """One page at `dpi` with its bleed, as an RGB image."""
    layout = template.layout_for(index)
    size = page_pixel_size(template, dpi)
    try:
        background = ImageColor.getcolor(layout.background or "#FFFFFF", "RGB")
    except ValueError:
        raise RenderError(f"page {index + 1}: background colour {layout.background!r} is not a colour") from None
    # The blank page is made when something is drawn on it: a full-bleed photo drawn first becomes the page instead
    # (the same pixels: it hides all of it), without filling 36 MB of A4 that it covers.
    page = None
    if layout.background_image:
        page = Image.new("RGB", size, background)
        cover, _factor = _load_cover(layout.background_image, size, None, 1.0)
        _paste(page, cover, (0, 0))
    warnings = warnings if warnings is not None else []
    for slot in layout.slots:
        fill = content.get(slot.id)
        if slot.kind == "photo":
            if not isinstance(fill, Photo):
                warnings.append({"page": index + 1, "slot": slot.id, "code": "empty",
                                 "message": f"page {index + 1}, {slot.id}: no photo"})
                continue
            left, top, right, bottom = slot_box_px(template, slot, dpi, extend_bleed=True)
            if right <= left or bottom <= top:
                continue
            tile, factor = _load_cover(fill.path, (right - left, bottom - top), fill.focal, fill.scale)
            if tile.mode == "RGB" and tile.size == size:
                page = tile  # a full-bleed photo hides everything under it: the same pixels, one copy fewer
            else:
                page = page or Image.new("RGB", size, background)
                _paste(page, tile, (left, top))
            del tile
            effective = round(dpi / factor)
            if effective < template.min_effective_dpi:
                warnings.append({"page": index + 1, "slot": slot.id, "code": "low_resolution",
                                 "effective_dpi": effective, "minimum_dpi": template.min_effective_dpi,
                                 "message": f"page {index + 1}, {slot.id}: the photo prints at {effective} DPI, "
                                            f"below {template.min_effective_dpi}"})
        elif slot.kind == "text" and isinstance(fill, Text) and fill.text.strip():
            box = slot_box_px(template, slot, dpi, extend_bleed=False)
            page = page or Image.new("RGB", size, background)
            problem = _draw_text(page, box, slot, fill.text, dpi=dpi, fonts=fonts)
            if problem:
                warnings.append({"page": index + 1, "slot": slot.id, "code": "text_cut",
                                 "message": f"page {index + 1}, {slot.id}: {problem}"})
    return page or Image.new("RGB", size, background)


def render_mockup(design, *, base_path=None, area=None, size=MOCKUP_SIZE):
    """The first page's design shown on the product: in the base image's area, or on a plain shadowed card."""
    if base_path:
        try:
            with Image.open(base_path) as base_file:
                base = base_file.convert("RGB")
        except OSError as exc:
            raise RenderError(f"cannot read the mock-up base image: {exc}") from None
        x, y, w, h = (round(float(v)) for v in (area or (0, 0, base.width, base.height)))
        crop, _factor = cover_crop(design.size, (w, h))
        base.paste(design.resize((w, h), Image.Resampling.LANCZOS, box=crop), (x, y))
        return base
    canvas = Image.new("RGB", (size, size), "#EEEEEE")
    ratio = size * 0.8 / max(design.size)
    card = design.resize((max(1, round(design.width * ratio)), max(1, round(design.height * ratio))),
                         Image.Resampling.LANCZOS)
    x, y = (size - card.width) // 2, (size - card.height) // 2
    offset = max(4, size // 80)
    shadow = Image.new("L", (size, size), 0)
    shadow.paste(90, (x + offset, y + offset * 2, x + card.width + offset, y + card.height + offset * 2))
    shadow = shadow.filter(ImageFilter.GaussianBlur(offset * 2))
    canvas.paste(Image.new("RGB", (size, size), "#000000"), (0, 0), shadow)
    canvas.paste(card, (x, y))
    return canvas
