"""The renderer's output bytes stay what they were: pages, previews, mock-up and print PDF, whatever its speed-ups.

Rendering was made cheaper (issue 16, item 5: Pillow's memory blocks, the blank page under a full-bleed photo
skipped, the mock-up drawn from the first page's preview, page tasks queued by their cost) on the condition that
not one printed pixel changes. The checksums below were taken with the code before those changes (`e7822ff`) on
deterministic photos (gradients, shapes and seeded noise, JPEG as cameras write them, one with an EXIF rotation,
one transparent PNG) and pin the output of pillow==13.0.0 (requirements.txt): a Pillow upgrade that changes its
JPEG codec or its resampling changes them too, and is then a print-quality change to look at, not a test to
update blindly. bench/bench_render.py checks the same for the bench's 24-page A4 book.
"""

import hashlib
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from projects.renderer import Photo, TemplateSpec, Text, render, render_page

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "projects" / "fonts"
FONTS = {"DejaVuSans": str(FONT_DIR / "DejaVuSans.ttf"), "DejaVuSerif": str(FONT_DIR / "DejaVuSerif.ttf")}
DPI = 254  # 10 px per mm: a 100 mm page with its 3 mm bleed is 1060 px square

FULL_BLEED = {"background": "#FFFFFF", "slots": [{"id": "photo", "kind": "photo", "box": [0, 0, 100, 100]}]}
TWO_PHOTOS = {"background": "#F4F1EA", "slots": [
    {"id": "top", "kind": "photo", "box": [8, 8, 84, 40]},
    {"id": "bottom", "kind": "photo", "box": [8, 52, 84, 30]},
    {"id": "caption", "kind": "text", "box": [8, 85, 84, 10], "font": "DejaVuSerif", "size_pt": 14,
     "colour": "#333333", "align": "center"},
]}
TEXT_ONLY = {"background": "#FFFDF5", "slots": [
    {"id": "title", "kind": "text", "box": [10, 10, 80, 30], "font": "DejaVuSans", "size_pt": 28,
     "colour": "#7A1F1F", "align": "right", "valign": "middle"},
    {"id": "body", "kind": "text", "box": [10, 45, 80, 20], "font": "DejaVuSerif", "size_pt": 16,
     "colour": "#000000", "align": "left", "valign": "bottom"},
]}
ROTATED = {"background": "#202020", "slots": [{"id": "photo", "kind": "photo", "box": [20, 5, 60, 90]}]}
TRANSPARENT_FULL = {"background": "#3060A0", "slots": [{"id": "logo", "kind": "photo", "box": [0, 0, 100, 100]}]}


def photo(path, size, seed, *, orientation=None, transparent=False):
    """A camera-like picture that is the same on every machine: gradients, shapes and seeded noise."""
    width, height = size
    rng = random.Random(seed)
    image = Image.merge("RGB", (
        Image.linear_gradient("L").resize(size),
        Image.radial_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
    ))
    draw = ImageDraw.Draw(image)
    for _ in range(5):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(width // 10, width // 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    noise = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
    image = Image.blend(image, noise, 0.12)
    if transparent:
        alpha = Image.radial_gradient("L").resize(size)
        image.putalpha(alpha)
        image.save(path, "PNG")
        return str(path)
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    image.save(path, "JPEG", quality=90, exif=exif)
    return str(path)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    landscape = photo(folder / "landscape.jpg", (1200, 900), 1)  # full bleed: enlarged 1.18×, as in the bench
    wide = photo(folder / "wide.jpg", (1600, 1000), 2)
    tall = photo(folder / "tall.jpg", (900, 1400), 3)
    rotated = photo(folder / "rotated.jpg", (1300, 800), 4, orientation=6)  # stored sideways, shown upright
    logo = photo(folder / "logo.png", (700, 700), 5, transparent=True)
    layouts = [FULL_BLEED, TWO_PHOTOS, TEXT_ONLY, ROTATED, TRANSPARENT_FULL]
    template = TemplateSpec.from_layouts(page_layouts=layouts, trim_width_mm=100, trim_height_mm=100, bleed_mm=3,
                                         dpi=DPI, min_pages=1, max_pages=len(layouts))
    pages = [
        {"photo": Photo(landscape, focal=(0.4, 0.5))},
        {"top": Photo(wide, focal=(0.7, 0.3), scale=1.2), "bottom": Photo(tall),
         "caption": Text("Summer 2024 — day 3 at the lake")},
        {"title": Text("A title that wraps over two lines"),
         "body": Text("Body text, long enough to be cut: " + "word " * 300)},
        {"photo": Photo(rotated, focal=(0.5, 0.2), scale=1.5)},
        {"logo": Photo(logo)},
    ]
    return template, pages


# sha256 of each page's RGB pixels (Image.tobytes()) at 254 DPI, made by the code before the changes.
PAGE_PIXELS = {
    "full-bleed photo, enlarged and cropped": "d846c89b840d0d98e55a285a1648f65bfd2ba13776992a8f602a1c0bca699b82",
    "two cropped photos and a caption": "f5f4557e4592436b4045a80a2d9903a518083c043f41fc235093b6b8ba3d0c98",
    "text only, wrapped and cut": "03b885aa1334e2761c4b88d1ebcffff3381f4c53dd7683dfdb5a52d424d38bb1",
    "photo rotated by its EXIF orientation, zoomed": "a3a21b55c5b10e594d270d9949716d098b56f7f072251a1d1cb4e98c0b2d4889",
    "transparent full-page photo over the background": "d903a351483e9c9669713edb806a108ec7f5ee4cd050d65d73b9e0d98168870c",
}
# sha256 of the print PDF of the five pages, and of its previews + mock-up, from the same code.
PDF_SHA256 = "944c7a2d14399135fccb4193723156bcd1c224e8364d63badad9b186a4ed0221"
PREVIEWS_SHA256 = "9d5aac921c9de1a8948f18e8866ceb166159441c5702204c00f38e1d0bf25ccc"


@pytest.mark.parametrize("index", range(len(PAGE_PIXELS)), ids=list(PAGE_PIXELS))
def test_a_page_has_the_pixels_it_had(book, index):
    template, pages = book
    page = render_page(template, index, pages[index], dpi=DPI, fonts=FONTS)
    assert (page.mode, page.size) == ("RGB", (1060, 1060))
    assert hashlib.sha256(page.tobytes()).hexdigest() == list(PAGE_PIXELS.values())[index]


def test_the_print_pdf_previews_and_mock_up_have_the_bytes_they_had(book, tmp_path):
    template, pages = book
    output = render(template, pages, fonts=FONTS, out_dir=tmp_path, production=True, title="bytes")
    assert output.checksum == hashlib.sha256(output.production_file.read_bytes()).hexdigest() == PDF_SHA256
    digest = hashlib.sha256()
    for path in [*output.previews, output.mockup]:
        digest.update(path.read_bytes())
    assert digest.hexdigest() == PREVIEWS_SHA256
    assert [w["code"] for w in output.warnings] == ["text_cut"]
