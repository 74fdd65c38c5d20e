"""The pure renderer: pixels where photos and texts must be, bleed, PDF pages and resolution, determinism."""

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image, PdfParser

from projects.renderer import (
    Photo,
    RenderError,
    TemplateSpec,
    Text,
    cover_crop,
    page_pixel_size,
    render,
    render_page,
)

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "projects" / "fonts"
FONTS = {"DejaVuSans": str(FONT_DIR / "DejaVuSans.ttf"), "DejaVuSerif": str(FONT_DIR / "DejaVuSerif.ttf")}
RED, GREEN, BLUE, CREAM = (255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 245, 230)
# 254 DPI is 10 px per mm: every position below is a round number of pixels.
DPI = 254
PHOTO = {"id": "photo", "kind": "photo", "box": [10, 10, 40, 30]}  # px 130..530 × 130..430 with the 3 mm bleed
CAPTION = {"id": "caption", "kind": "text", "box": [10, 60, 80, 30], "font": "DejaVuSans", "size_pt": 24,
           "colour": "#0000FF", "align": "left"}  # px 130..930 × 630..930


def template(*, layouts=None, pages=1, dpi=DPI, **extra):
    return TemplateSpec.from_layouts(
        page_layouts=layouts or [{"background": "#FAF5E6", "slots": [PHOTO, CAPTION]}], trim_width_mm=100,
        trim_height_mm=100, bleed_mm=3, dpi=dpi, min_pages=1, max_pages=pages, **extra)


def image_file(tmp_path, name, size, colour=RED, fmt="PNG"):
    path = tmp_path / name
    Image.new("RGB", size, colour).save(path, fmt)
    return str(path)


def halves(tmp_path, name="halves.png"):
    """200 × 100 px: the left half red, the right half green."""
    image = Image.new("RGB", (200, 100), GREEN)
    image.paste(RED, (0, 0, 100, 100))
    image.save(tmp_path / name)
    return str(tmp_path / name)


def pdf_pages(path):
    """[(MediaBox, TrimBox, image width px, image height px, JPEG bytes)] of each page, in order."""
    pdf = PdfParser.PdfParser(str(path))
    try:
        pages = []
        for ref in pdf.pages:
            page = pdf.read_indirect(ref)
            image = pdf.read_indirect(page[b"Resources"][b"XObject"][b"Im0"])
            pages.append((list(page[b"MediaBox"]), list(page[b"TrimBox"]), image.dictionary[b"Width"],
                          image.dictionary[b"Height"], bytes(image.buf)))
        return pages
    finally:
        pdf.close()


def close(colour, expected, tolerance=8):
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def test_a_page_has_the_trim_and_bleed_size_in_pixels():
    assert page_pixel_size(template()) == (1060, 1060)
    assert page_pixel_size(template(dpi=300)) == (1252, 1252)  # 106 mm at 300 DPI: 1251.97 px


def test_the_photo_fills_its_slot_and_nothing_else(tmp_path):
    photo = image_file(tmp_path, "red.png", (800, 600))

    page = render_page(template(), 0, {"photo": Photo(photo)}, dpi=DPI, fonts=FONTS)

    assert page.size == (1060, 1060)
    assert page.getpixel((130, 130)) == RED and page.getpixel((529, 429)) == RED
    assert page.getpixel((330, 280)) == RED
    assert page.getpixel((129, 280)) == CREAM and page.getpixel((530, 280)) == CREAM
    assert page.getpixel((330, 129)) == CREAM and page.getpixel((330, 430)) == CREAM
    assert page.getpixel((5, 5)) == CREAM  # the bleed has the page's background


def test_a_photo_touching_the_trim_edge_runs_over_the_bleed(tmp_path):
    layouts = [{"background": "#FAF5E6", "slots": [{"id": "photo", "kind": "photo", "box": [0, 0, 50, 100]}]}]
    photo = image_file(tmp_path, "red.png", (1000, 2000))

    page = render_page(template(layouts=layouts), 0, {"photo": Photo(photo)}, dpi=DPI, fonts=FONTS)

    # Left, top and bottom edges touch the trim: the photo reaches the page's edges; the right edge does not.
    assert page.getpixel((0, 0)) == RED and page.getpixel((0, 1059)) == RED
    assert page.getpixel((529, 530)) == RED and page.getpixel((530, 530)) == CREAM
    assert page.getpixel((1059, 0)) == CREAM


def test_text_is_drawn_in_its_colour_inside_its_box_only(tmp_path):
    page = render_page(template(), 0, {"caption": Text("Holiday 2026 HHHH")}, dpi=DPI, fonts=FONTS)

    inside = page.crop((130, 630, 930, 930))
    blue_inside = sum(1 for pixel in inside.get_flattened_data() if pixel == BLUE)
    blue_total = sum(1 for pixel in page.get_flattened_data() if pixel == BLUE)
    assert blue_inside > 2000
    assert blue_total == blue_inside
    # Left aligned at the top of the box: ink in the first line's band, starting near the box's left edge.
    first_line = page.crop((130, 630, 330, 730))
    assert any(pixel == BLUE for pixel in first_line.get_flattened_data())


def test_long_text_wraps_and_centred_text_is_centred(tmp_path):
    centred = {**CAPTION, "align": "center"}
    layouts = [{"background": "#FFFFFF", "slots": [centred]}]

    page = render_page(template(layouts=layouts), 0, {"caption": Text("I")}, dpi=DPI, fonts=FONTS)
    columns = [x for x in range(1060) if any(page.getpixel((x, y)) == BLUE for y in range(630, 930))]
    assert abs((columns[0] + columns[-1]) / 2 - 530) <= 2  # the glyph sits in the middle of the 130..930 box

    wrapped = render_page(template(layouts=layouts), 0, {"caption": Text("one two three four five six seven")},
                          dpi=DPI, fonts=FONTS)
    rows = [y for y in range(630, 930) if any(wrapped.getpixel((x, y)) == BLUE for x in range(130, 930))]
    assert rows[-1] - rows[0] > 100  # two lines at 24 pt (84 px) each


def test_cover_crop_keeps_the_aspect_and_centres_on_the_focal_point():
    assert cover_crop((200, 100), (400, 400)) == ((50.0, 0.0, 150.0, 100.0), 4.0)
    assert cover_crop((200, 100), (400, 400), focal=(0.0, 0.5)) == ((0.0, 0.0, 100.0, 100.0), 4.0)
    assert cover_crop((200, 100), (400, 400), focal=(1.0, 0.5)) == ((100.0, 0.0, 200.0, 100.0), 4.0)
    # Zoomed twice around a focal point at 3/4 of the width: a 50 px square centred on x = 150.
    assert cover_crop((200, 100), (400, 400), focal=(0.75, 0.5), scale=2) == ((125.0, 25.0, 175.0, 75.0), 8.0)


def test_the_focal_point_chooses_the_part_of_the_photo_shown(tmp_path):
    square = [{"background": "#FFFFFF", "slots": [{"id": "photo", "kind": "photo", "box": [10, 10, 40, 40]}]}]
    photo = halves(tmp_path)

    centred = render_page(template(layouts=square), 0, {"photo": Photo(photo)}, dpi=DPI, fonts=FONTS)
    left = render_page(template(layouts=square), 0, {"photo": Photo(photo, focal=(0.0, 0.5))}, dpi=DPI, fonts=FONTS)
    right = render_page(template(layouts=square), 0, {"photo": Photo(photo, focal=(1.0, 0.5))}, dpi=DPI,
                        fonts=FONTS)

    # The slot is px 130..530: the centre crop shows red on its left half, green on its right half.
    assert centred.getpixel((140, 330)) == RED and centred.getpixel((520, 330)) == GREEN
    assert left.getpixel((140, 330)) == RED and left.getpixel((520, 330)) == RED
    assert right.getpixel((140, 330)) == GREEN and right.getpixel((520, 330)) == GREEN


def test_a_photo_below_the_resolution_threshold_is_warned_about(tmp_path):
    small = image_file(tmp_path, "small.png", (100, 75))  # 4 px of slot per px of photo: 254 / 4 = 64 DPI
    large = image_file(tmp_path, "large.png", (400, 300))  # 1:1, 254 DPI
    warnings = []

    render_page(template(), 0, {"photo": Photo(small)}, dpi=DPI, fonts=FONTS, warnings=warnings)
    render_page(template(), 0, {"photo": Photo(large)}, dpi=DPI, fonts=FONTS, warnings=warnings)

    assert warnings == [{"page": 1, "slot": "photo", "code": "low_resolution", "effective_dpi": 64,
                         "minimum_dpi": 150, "message": "page 1, photo: the photo prints at 64 DPI, below 150"}]


def test_the_effective_resolution_does_not_depend_on_the_preview_size(tmp_path):
    small = image_file(tmp_path, "small.png", (100, 75))

    output = render(template(), [{"photo": Photo(small)}], fonts=FONTS, out_dir=tmp_path / "out", production=False)

    assert [w["effective_dpi"] for w in output.warnings] == [64]


def test_the_print_pdf_has_one_page_per_page_at_the_template_size_and_dpi(tmp_path):
    photo = image_file(tmp_path, "red.jpg", (800, 600), fmt="JPEG")
    pages = [{"photo": Photo(photo), "caption": Text(f"Page {n}")} for n in range(1, 4)]

    output = render(template(pages=3), pages, fonts=FONTS, out_dir=tmp_path / "out")

    read = pdf_pages(output.production_file)
    assert len(read) == 3
    for media_box, trim_box, width, height, jpeg in read:
        assert media_box == [0, 0, 300.4724, 300.4724]  # 106 mm in points (72 per inch)
        assert trim_box == [8.5039, 8.5039, 291.9685, 291.9685]  # 3 mm of bleed on each side
        assert (width, height) == (1060, 1060)
        assert round(width / (media_box[2] / 72), 2) == 254.0  # pixels per inch of the page
        image = Image.open(io.BytesIO(jpeg))
        assert image.size == (1060, 1060) and image.mode == "RGB"
        assert close(image.getpixel((330, 280)), RED) and close(image.getpixel((5, 5)), CREAM)
    assert output.page_count == 3
    assert [p.name for p in output.previews] == ["page-01.jpg", "page-02.jpg", "page-03.jpg"]
    assert output.checksum == hashlib.sha256(output.production_file.read_bytes()).hexdigest()


def test_previews_show_the_trimmed_page_at_1000_px(tmp_path):
    photo = image_file(tmp_path, "red.png", (800, 600))

    output = render(template(), [{"photo": Photo(photo)}], fonts=FONTS, out_dir=tmp_path / "out", production=False)

    preview = Image.open(output.previews[0])
    assert preview.size == (1000, 1000)
    # The photo slot is 10..50 mm of the 100 mm trim: px 100..500 of the preview.
    assert close(preview.getpixel((300, 250)), RED) and close(preview.getpixel((700, 250)), CREAM)
    assert output.production_file is None


def test_the_mock_up_shows_the_first_page_in_the_base_images_area(tmp_path):
    base = image_file(tmp_path, "mug.png", (600, 400), colour=(40, 40, 40))
    photo = image_file(tmp_path, "red.png", (800, 600))
    full = [{"background": "#FFFFFF", "slots": [{"id": "photo", "kind": "photo", "box": [0, 0, 100, 100]}]}]

    output = render(template(layouts=full, mockup_path=base, mockup_area=(100, 50, 200, 200)),
                    [{"photo": Photo(photo)}], fonts=FONTS, out_dir=tmp_path / "out", production=False)

    mockup = Image.open(output.mockup)
    assert mockup.size == (600, 400)
    assert close(mockup.getpixel((200, 150)), RED) and close(mockup.getpixel((20, 20)), (40, 40, 40))
    assert close(mockup.getpixel((350, 150)), (40, 40, 40))


def test_without_a_base_image_the_mock_up_is_the_design_on_a_shadowed_card(tmp_path):
    photo = image_file(tmp_path, "red.png", (800, 600))
    full = [{"background": "#FFFFFF", "slots": [{"id": "photo", "kind": "photo", "box": [0, 0, 100, 100]}]}]

    output = render(template(layouts=full), [{"photo": Photo(photo)}], fonts=FONTS, out_dir=tmp_path / "out",
                    production=False)

    mockup = Image.open(output.mockup)
    assert mockup.size == (1000, 1000)
    assert close(mockup.getpixel((500, 500)), RED) and close(mockup.getpixel((5, 5)), (238, 238, 238))
    below_right = mockup.getpixel((910, 920))  # the card ends at 900: its shadow is darker than the backdrop
    assert below_right[0] < 230


def test_the_same_project_gives_the_same_bytes_and_a_changed_text_another_checksum(tmp_path):
    photo = image_file(tmp_path, "red.jpg", (800, 600), fmt="JPEG")
    pages = [{"photo": Photo(photo, focal=(0.3, 0.6), scale=1.5), "caption": Text("Anna & Ben")}]

    first = render(template(), pages, fonts=FONTS, out_dir=tmp_path / "a")
    second = render(template(), pages, fonts=FONTS, out_dir=tmp_path / "b")
    changed = render(template(), [{**pages[0], "caption": Text("Anna & Bea")}], fonts=FONTS, out_dir=tmp_path / "c")

    assert first.checksum == second.checksum
    assert first.production_file.read_bytes() == second.production_file.read_bytes()
    assert first.previews[0].read_bytes() == second.previews[0].read_bytes()
    assert first.mockup.read_bytes() == second.mockup.read_bytes()
    assert changed.checksum != first.checksum
    assert len(first.checksum) == 64


def test_a_book_repeats_its_last_layout_and_checks_its_page_count(tmp_path):
    cover = {"background": "#000000", "slots": []}
    inner = {"background": "#FAF5E6", "slots": [PHOTO]}
    photo = image_file(tmp_path, "red.png", (400, 300))
    book = template(layouts=[cover, inner], pages=4)

    third = render_page(book, 2, {"photo": Photo(photo)}, dpi=DPI, fonts=FONTS)
    assert third.getpixel((330, 280)) == RED and third.getpixel((5, 5)) == CREAM

    with pytest.raises(RenderError, match="5 pages; this product has 1 to 4"):
        render(book, [{}] * 5, fonts=FONTS, out_dir=tmp_path / "out")


def test_an_unreadable_image_is_a_render_error_naming_it(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")

    with pytest.raises(RenderError, match="cannot read image broken.jpg"):
        render(template(), [{"photo": Photo(str(broken))}], fonts=FONTS, out_dir=tmp_path / "out")


def test_an_empty_photo_slot_is_a_warning_not_an_error(tmp_path):
    output = render(template(), [{}], fonts=FONTS, out_dir=tmp_path / "out", production=False)

    assert output.warnings == [{"page": 1, "slot": "photo", "code": "empty", "message": "page 1, photo: no photo"}]


def test_a_background_image_covers_the_whole_page_bleed_included(tmp_path):
    background = image_file(tmp_path, "paper.png", (300, 300), colour=(10, 20, 30))
    layouts = [{"background": "#FFFFFF", "background_image": background, "slots": [PHOTO]}]
    photo = image_file(tmp_path, "red.png", (800, 600))

    page = render_page(template(layouts=layouts), 0, {"photo": Photo(photo)}, dpi=DPI, fonts=FONTS)

    assert page.getpixel((0, 0)) == (10, 20, 30) and page.getpixel((1059, 1059)) == (10, 20, 30)
    assert page.getpixel((330, 280)) == RED  # the photo lies over it


def test_a_transparent_photo_shows_the_background_through(tmp_path):
    path = tmp_path / "sticker.png"
    sticker = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    sticker.paste((255, 0, 0, 255), (0, 0, 200, 300))  # the left half opaque red, the right half transparent
    sticker.save(path)

    page = render_page(template(), 0, {"photo": Photo(str(path))}, dpi=DPI, fonts=FONTS)

    assert page.getpixel((140, 280)) == RED and page.getpixel((520, 280)) == CREAM


def test_a_large_jpeg_decoded_at_reduced_size_keeps_its_crop(tmp_path):
    # 4000 × 3000 into a 400 × 300 px slot: libjpeg decodes it at 1/8 (500 × 375); the crop must follow.
    big = Image.new("RGB", (4000, 3000), GREEN)
    big.paste(RED, (0, 0, 2000, 3000))
    big.save(tmp_path / "big.jpg", quality=95)
    warnings = []

    page = render_page(template(), 0, {"photo": Photo(str(tmp_path / "big.jpg"))}, dpi=DPI, fonts=FONTS,
                       warnings=warnings)

    assert close(page.getpixel((140, 280)), RED) and close(page.getpixel((320, 280)), RED)
    assert close(page.getpixel((340, 280)), GREEN) and close(page.getpixel((520, 280)), GREEN)
    assert warnings == []  # 1000 effective DPI: the full image's pixels count, not the reduced decode's


def test_the_exif_orientation_of_a_photo_is_applied(tmp_path):
    stored = Image.new("RGB", (800, 400), GREEN)
    stored.paste(RED, (0, 0, 400, 400))  # left half red as stored; orientation 6 turns it 90° clockwise: red on top
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", quality=95, exif=exif)
    tall = [{"background": "#FFFFFF", "slots": [{"id": "photo", "kind": "photo", "box": [10, 10, 40, 80]}]}]

    page = render_page(template(layouts=tall), 0, {"photo": Photo(str(tmp_path / "phone.jpg"))}, dpi=DPI,
                       fonts=FONTS)

    assert close(page.getpixel((330, 150)), RED) and close(page.getpixel((330, 900)), GREEN)


def test_a_jpeg_decoded_at_reduced_size_with_unequal_rounding_stays_inside_its_pixels(tmp_path):
    # A4 with bleed (216 × 303 mm) at 87 DPI is 740 × 1038 px; a 2551 × 3579 px JPEG is decoded at 1/2, each side
    # rounded up on its own (1276 × 1790): with the width's scale the crop's bottom fell 0.03 px below the image.
    Image.new("RGB", (2551, 3579), (10, 20, 30)).save(tmp_path / "cover.jpg", quality=90)
    spec = TemplateSpec.from_layouts(
        page_layouts=[{"background_image": str(tmp_path / "cover.jpg"), "slots": []}], trim_width_mm=210,
        trim_height_mm=297, bleed_mm=3, dpi=87)

    page = render_page(spec, 0, {}, dpi=87, fonts=FONTS)

    assert page.size == (740, 1038)
    assert close(page.getpixel((0, 0)), (10, 20, 30)) and close(page.getpixel((739, 1037)), (10, 20, 30))


def test_a_crop_of_a_whole_side_never_starts_before_the_image():
    # 2598 × 3780 px into 762 × 1109 px: the height is the whole side, and 3780 - 3780.0000000000005 < 0.
    crop, _factor = cover_crop((2598, 3780), (762, 1109))

    assert crop[0] >= 0 and crop[1] == 0 and crop[3] == pytest.approx(3780)

