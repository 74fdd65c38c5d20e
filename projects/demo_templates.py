"""The demo's product templates (projects/demo.py): the photo book, mug and canvas of fulfillment.demo.PRODUCTS.

Made for each demo shop before its orders arrive (fulfillment.demo.register_store_setup), with page backgrounds and
mock-up bases drawn by projects.demo_images; a shop's templates are made once and kept when the demo is loaded again.
"""

from io import BytesIO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from fulfillment.demo import PRODUCTS
from projects import demo_images
from projects.models import ProductTemplate

BOOK, MUG, CANVAS = "BOOK-A4-24", "MUG-11", "CANVAS-4060"

# The templates of the demo's personalised products (fulfillment.demo.PRODUCTS), by SKU. Boxes in mm of the trim.
BOOK_COVER = {"slots": [
    {"id": "photo", "kind": "photo", "box": [20, 20, 170, 190]},
    {"id": "title", "kind": "text", "box": [22, 222, 166, 30], "font": "DejaVuSerif", "size_pt": 30,
     "colour": "#ffffff", "align": "center", "valign": "middle", "max_chars": 40},
    {"id": "subtitle", "kind": "text", "box": [22, 254, 166, 16], "font": "DejaVuSans", "size_pt": 13,
     "colour": "#e9d9ad", "align": "center", "valign": "middle", "max_chars": 60},
]}
BOOK_PAGE = {"slots": [
    {"id": "photo", "kind": "photo", "box": [18, 18, 174, 222]},
    {"id": "caption", "kind": "text", "box": [18, 250, 174, 24], "font": "DejaVuSerif", "size_pt": 15,
     "colour": "#3a3a3a", "align": "center", "valign": "middle", "max_chars": 80},
]}
MUG_WRAP = {"slots": [
    {"id": "photo", "kind": "photo", "box": [0, 0, 96, 89]},
    {"id": "name", "kind": "text", "box": [104, 12, 104, 32], "font": "DejaVuSans-Bold", "size_pt": 30,
     "colour": "#ffffff", "align": "center", "valign": "middle", "max_chars": 24},
    {"id": "line", "kind": "text", "box": [108, 50, 96, 26], "font": "DejaVuSerif", "size_pt": 14,
     "colour": "#6b2b22", "align": "center", "valign": "middle", "max_chars": 60},
]}
CANVAS_FACE = {"slots": [
    {"id": "photo", "kind": "photo", "box": [30, 30, 340, 460]},
    {"id": "caption", "kind": "text", "box": [30, 508, 340, 40], "font": "DejaVuSerif", "size_pt": 56,
     "colour": "#2d2a26", "align": "center", "valign": "middle", "max_chars": 40},
    {"id": "date", "kind": "text", "box": [30, 550, 340, 22], "font": "DejaVuSans", "size_pt": 22,
     "colour": "#6b645a", "align": "center", "valign": "middle", "max_chars": 60},
]}
TEMPLATES = {
    BOOK: {"name": "Photo book A4 (24 pages)", "trim": (210, 297), "bleed": 3, "dpi": 300, "pages": 24,
           "min_dpi": 150, "layouts": [BOOK_COVER, BOOK_PAGE], "mockup_area": [290, 120, 420, 594]},
    MUG: {"name": "Mug 11 oz (wrap)", "trim": (216, 89), "bleed": 2, "dpi": 300, "pages": 1, "min_dpi": 150,
          "layouts": [MUG_WRAP], "mockup_area": [250, 300, 500, 206]},
    # Canvas prints at 150 DPI (seen from a metre away); the bleed wraps round the frame.
    CANVAS: {"name": "Canvas 40 × 60 cm", "trim": (400, 600), "bleed": 20, "dpi": 150, "pages": 1, "min_dpi": 100,
             "layouts": [CANVAS_FACE], "mockup_area": [350, 80, 300, 450]},
}

def _save_image(name, image, quality=90):
    out = BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return default_storage.save(name, ContentFile(out.getvalue()))


def _backgrounds(sku, spec, slug):
    """{layout index: storage name} of the layouts drawn with a background image."""
    size = demo_images.page_size_px(spec["trim"], spec["bleed"], spec["dpi"])

    def box(layout, slot_id):
        slot = next(s for s in layout["slots"] if s["id"] == slot_id)
        return demo_images.box_px(slot["box"], spec["bleed"], spec["dpi"])

    folder = f"templates/backgrounds/{slug}"
    if sku == BOOK:
        title = box(BOOK_COVER, "title")
        subtitle = box(BOOK_COVER, "subtitle")
        cover = demo_images.framed_background(
            size, top="#1d2b4a", bottom="#1f5c66", frames=[box(BOOK_COVER, "photo")],
            panels=[(title[0], title[1] - 30, subtitle[2], subtitle[3] + 20)], line_px=8)
        page = demo_images.framed_background(size, top="#fdfbf6", bottom="#f1ebdf", frames=[box(BOOK_PAGE, "photo")],
                                             frame_colour="#b9ab93", line_px=4)
        return {0: _save_image(f"{folder}/book-cover.jpg", cover), 1: _save_image(f"{folder}/book-page.jpg", page)}
    if sku == MUG:
        line = box(MUG_WRAP, "line")
        name = box(MUG_WRAP, "name")
        wrap = demo_images.framed_background(size, top="#ff7e6b", bottom="#ffc45e", horizontal=True,
                                             panels=[(line[0] - 20, line[1] - 10, line[2] + 20, line[3] + 10)],
                                             panel_opacity=0.55, frames=[])
        demo_images.rule(wrap, (name[0] + 160, name[3] + 18, name[2] - 160, name[3] + 18), "#ffffff", 5)
        return {0: _save_image(f"{folder}/mug-wrap.jpg", wrap)}
    caption = box(CANVAS_FACE, "caption")
    face = demo_images.framed_background(size, top="#f8f2e7", bottom="#e7dcc8", frames=[box(CANVAS_FACE, "photo")],
                                         frame_colour="#3b3733", line_px=5, texture=0.12,
                                         panels=[(caption[0], caption[1], caption[2], caption[3] + 70)],
                                         panel_colour="#d9cdb6", panel_opacity=0.35)
    return {0: _save_image(f"{folder}/canvas.jpg", face)}


def _mockup(sku, area, slug):
    draw = {BOOK: demo_images.book_mockup, MUG: demo_images.mug_mockup, CANVAS: demo_images.canvas_mockup}[sku]
    return _save_image(f"templates/mockups/{slug}-{sku.lower()}.jpg", draw(area))


def demo_templates(store, index):
    """The shop's product templates of the demo's personalised products (made once; kept when loaded again)."""
    existing = set(ProductTemplate.objects.filter(store=store).values_list("name", flat=True))
    product_ids = {sku: product_id for _name, product_id, sku, *_rest in PRODUCTS}
    for sku, spec in TEMPLATES.items():
        if spec["name"] in existing:
            continue
        backgrounds = _backgrounds(sku, spec, store.slug)
        layouts = [{"background": "#ffffff", **layout, **({"background_image": backgrounds[i]} if i in backgrounds
                                                          else {})}
                   for i, layout in enumerate(spec["layouts"])]
        ProductTemplate.objects.create(
            store=store, name=spec["name"], product_ids=[product_ids[sku]], trim_width_mm=spec["trim"][0],
            trim_height_mm=spec["trim"][1], bleed_mm=spec["bleed"], dpi=spec["dpi"], min_pages=spec["pages"],
            max_pages=spec["pages"], page_layouts=layouts, mockup=_mockup(sku, spec["mockup_area"], store.slug),
            mockup_area=spec["mockup_area"], min_effective_dpi=spec["min_dpi"])
