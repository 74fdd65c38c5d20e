"""Pictures of the demo (projects/demo.py), drawn with Pillow at load time: nothing is downloaded.

Customers' photos (landscapes, a sea, a city at night, dunes… with a camera's date stamp), the templates' page
backgrounds (gradients, frames, panels behind the text slots) and the mock-up bases (a mug, a canvas on a wall, a
book). Each is drawn from a seed, so a load gives the same pixels, and the same photo is recognised (by its
checksum) when the demo is loaded again. No Django in here.
"""

import math
import random

from PIL import Image, ImageChops, ImageColor, ImageDraw, ImageFilter, ImageFont, ImageOps

MM_PER_INCH = 25.4


def rgb(colour):
    return ImageColor.getrgb(colour) if isinstance(colour, str) else tuple(colour)


def mix(a, b, share):
    a, b = rgb(a), rgb(b)
    return tuple(round(x + (y - x) * share) for x, y in zip(a, b))


def vertical_gradient(size, top, bottom):
    return ImageOps.colorize(Image.linear_gradient("L").resize(size), rgb(top), rgb(bottom))


def horizontal_gradient(size, left, right):
    return ImageOps.colorize(Image.linear_gradient("L").rotate(90, expand=True).transpose(
        Image.Transpose.FLIP_LEFT_RIGHT).resize(size), rgb(left), rgb(right))


def vignette(image, strength=0.35):
    """Darker corners, as a lens makes them."""
    mask = Image.radial_gradient("L").point(lambda v: 255 - round(v * strength)).resize(image.size)
    return ImageChops.multiply(image, Image.merge("RGB", (mask, mask, mask)))


def glow(size, centre, radius, colour):
    """A soft light (the sun, a lamp): drawn small and blurred, then scaled up."""
    scale = 8
    small = Image.new("RGB", (max(1, size[0] // scale), max(1, size[1] // scale)), (0, 0, 0))
    draw = ImageDraw.Draw(small)
    x, y, r = centre[0] / scale, centre[1] / scale, radius / scale
    draw.ellipse((x - r * 2.5, y - r * 2.5, x + r * 2.5, y + r * 2.5), fill=mix((0, 0, 0), colour, 0.35))
    small = small.filter(ImageFilter.GaussianBlur(r * 1.6))
    ImageDraw.Draw(small).ellipse((x - r, y - r, x + r, y + r), fill=rgb(colour))
    return small.filter(ImageFilter.GaussianBlur(max(0.6, r / 6))).resize(size, Image.Resampling.BICUBIC)


def ridge(rng, width, base, roughness, *, points=9):
    """A mountain ridge: heights by midpoint displacement, from left to right."""
    heights = [base + rng.uniform(-roughness, roughness), base + rng.uniform(-roughness, roughness)]
    spread = roughness
    for _ in range(points):
        refined = []
        for a, b in zip(heights, heights[1:]):
            refined += [a, (a + b) / 2 + rng.uniform(-spread, spread)]
        heights = refined + [heights[-1]]
        spread *= 0.55
    step = width / (len(heights) - 1)
    return [(round(i * step), round(h)) for i, h in enumerate(heights)]


def fill_below(draw, line, bottom, colour):
    draw.polygon([*line, (line[-1][0], bottom), (line[0][0], bottom)], fill=rgb(colour))


def font(fonts, name, size):
    path = fonts.get(name) or next(iter(fonts.values()))
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def date_stamp(image, text, fonts):
    """The orange date an old camera printed in the corner (drawn on the corner only: a blur of the whole photo
    would cost more than the photo)."""
    size = max(12, image.height // 26)
    # Inset by a few per cent: a slot of another shape crops the photo's edges a little.
    inset = round(image.width * 0.04)
    box = (image.width - size * 9 - inset, image.height - size * 2 - inset, image.width - inset, image.height - inset)
    corner = image.crop(box)
    layer = Image.new("RGB", corner.size, (0, 0, 0))
    ImageDraw.Draw(layer).text((corner.width - size // 2, corner.height - size // 2), text,
                               font=font(fonts, "DejaVuSans-Bold", size), fill=(255, 150, 40), anchor="rd")
    soft = layer.filter(ImageFilter.GaussianBlur(size / 10))
    image.paste(ImageChops.screen(corner, ImageChops.lighter(layer, soft)), box[:2])
    return image


# -- photos ---------------------------------------------------------------------------------------------------

# kind, sky top, sky at the horizon, sun (None: no sun), landscape colours (far → near)
SCENES = [
    ("lake", "#2b3a67", "#f6a57c", "#ffe7b0", ["#8c6f8f", "#5c4d72", "#2f2f4f"]),
    ("sea", "#3a1c4a", "#ff8a3d", "#fff1a8", ["#6b3f5e"]),
    ("forest", "#3f7cc0", "#cfe6f5", "#fffbe8", ["#8aa9c4", "#4f7a6a", "#23493a"]),
    ("city", "#070b22", "#27396b", None, ["#141a33"]),
    ("meadow", "#6fb1e8", "#e8f4fb", "#fffdf2", ["#9fc58a", "#6ea55a", "#4c8a3e"]),
    ("dunes", "#e7905c", "#fbe0a8", "#fff6d8", ["#e0a15e", "#c9803e", "#a9622b"]),
    ("beach", "#49a6d6", "#d9f1fb", "#ffffff", ["#2fa3b5"]),
    ("snow", "#5d86b8", "#dde8f2", "#fffaf0", ["#f7faff", "#8298b3", "#50627c"]),
]


def photo(seed, *, size=(2400, 1800), fonts):
    """A photo-like picture: the scene is chosen by the seed, and so are its shapes and its date."""
    rng = random.Random(seed)
    kind, top, horizon_colour, sun, layers = SCENES[seed % len(SCENES)]
    width, height = size
    horizon = round(height * rng.uniform(0.52, 0.62))
    image = vertical_gradient((width, horizon), top, horizon_colour)
    image = image.crop((0, 0, width, horizon)).resize((width, horizon))
    canvas = Image.new("RGB", size, rgb(layers[-1]))
    canvas.paste(image, (0, 0))
    if sun:
        centre = (round(width * rng.uniform(0.25, 0.75)), round(horizon * rng.uniform(0.45, 0.85)))
        canvas = ImageChops.screen(canvas, glow(size, centre, height * 0.05, sun))
    draw = ImageDraw.Draw(canvas)
    if kind in ("lake", "forest", "snow", "meadow"):
        count = len(layers)
        for index, colour in enumerate(layers):
            base = horizon - height * (0.22 - 0.07 * index) if kind != "meadow" else horizon - height * 0.05 * (2 - index)
            rough = {"meadow": 0.03, "snow": 0.16 if index == 0 else 0.08}.get(kind, 0.09)
            line = ridge(rng, width, base, height * rough)
            fill_below(draw, line, height, mix(colour, horizon_colour, 0.25 * (count - 1 - index) / count))
        if kind == "forest":
            for _ in range(70):
                x, y = rng.uniform(0, width), horizon + rng.uniform(-height * 0.03, height * 0.02)
                tree = rng.uniform(height * 0.05, height * 0.14)
                draw.polygon([(x, y - tree), (x - tree * 0.22, y), (x + tree * 0.22, y)], fill=(24, 58, 44))
    if kind == "city":
        for _ in range(140):
            x = rng.uniform(0, width)
            w, h = rng.uniform(width * 0.02, width * 0.06), rng.uniform(height * 0.08, height * 0.35)
            draw.rectangle((x, horizon - h, x + w, height), fill=rgb(mix("#0d1228", "#1d2547", rng.random())))
            for _ in range(int(h * w / 1500)):
                wx, wy = rng.uniform(x + 3, x + w - 6), rng.uniform(horizon - h + 4, horizon - 4)
                if rng.random() < 0.55:
                    draw.rectangle((wx, wy, wx + 5, wy + 7), fill=rgb(rng.choice(["#ffd27a", "#fff0c2", "#ffb45c"])))
        canvas = ImageChops.screen(canvas, glow(size, (width * 0.8, height * 0.15), height * 0.025, "#f4f1e0"))
        draw = ImageDraw.Draw(canvas)
    if kind == "dunes":
        for index, colour in enumerate(layers):
            phase, amplitude = rng.uniform(0, math.tau), height * rng.uniform(0.03, 0.06)
            base, waves = horizon + height * (0.08 * index - 0.04), rng.uniform(0.8, 1.4)
            line = [(x, base + amplitude * math.sin(x / width * math.tau * waves + phase))
                    for x in range(0, width + 40, 40)]
            fill_below(draw, line, height, colour)
    if kind in ("lake", "sea", "beach", "forest", "snow"):
        water_top = horizon if kind in ("sea", "beach") else round(horizon + height * 0.06)
        sky = canvas.crop((0, max(0, 2 * water_top - height), width, water_top))
        reflection = sky.transpose(Image.Transpose.FLIP_TOP_BOTTOM).resize((width, height - water_top))
        tint = "#1f5f7a" if kind == "beach" else "#1a2238"
        reflection = Image.blend(reflection, Image.new("RGB", reflection.size, rgb(tint)), 0.35)
        canvas.paste(reflection, (0, water_top))
        draw = ImageDraw.Draw(canvas)
        for _ in range(260):
            y = rng.uniform(water_top + 4, height)
            x, length = rng.uniform(0, width), rng.uniform(width * 0.02, width * 0.12)
            draw.line((x, y, x + length, y), fill=mix(tint, "#ffffff", rng.uniform(0.25, 0.5)), width=2)
        if kind == "beach":
            sand = [(x, height * 0.8 + height * 0.03 * math.sin(x / width * 5)) for x in range(0, width + 40, 40)]
            fill_below(draw, sand, height, "#ecd9ae")
    if kind == "meadow":
        for _ in range(900):
            x, y = rng.uniform(0, width), rng.uniform(horizon, height)
            r = 2 + (y - horizon) / height * 14
            draw.ellipse((x - r, y - r, x + r, y + r),
                         fill=rgb(rng.choice(["#f5f0e6", "#f7d34a", "#e94f64", "#b08be0"])))
    canvas = vignette(canvas)
    day, month = rng.randint(1, 28), rng.randint(1, 12)
    return date_stamp(canvas, f"{day:02d} {month:02d} '26", fonts)


# -- template backgrounds ---------------------------------------------------------------------------------------

def page_size_px(trim_mm, bleed_mm, dpi):
    return tuple(round((side + 2 * bleed_mm) * dpi / MM_PER_INCH) for side in trim_mm)


def box_px(box_mm, bleed_mm, dpi):
    x, y, w, h = box_mm
    to_px = dpi / MM_PER_INCH
    return (round((bleed_mm + x) * to_px), round((bleed_mm + y) * to_px),
            round((bleed_mm + x + w) * to_px), round((bleed_mm + y + h) * to_px))


def framed_background(size, *, top, bottom, frames=(), panels=(), frame_colour="#c9a45c", panel_colour=None,
                      panel_opacity=0.18, line_px=6, horizontal=False, texture=0):
    """A gradient with frame lines and soft panels (px boxes) behind photos and texts."""
    image = (horizontal_gradient if horizontal else vertical_gradient)(size, top, bottom)
    if texture:
        # Canvas grain: noise drawn small and scaled up, so it reads as weave, not as pixels.
        noise = Image.effect_noise((max(1, size[0] // 6), max(1, size[1] // 6)), 40).resize(size)
        image = Image.blend(image, ImageOps.colorize(noise, rgb(bottom), rgb(top)), texture)
    if panels:
        overlay = image.copy()
        draw = ImageDraw.Draw(overlay)
        for box in panels:
            draw.rounded_rectangle(box, radius=max(4, line_px * 3), fill=rgb(panel_colour or "#ffffff"))
        image = Image.blend(image, overlay, panel_opacity)
    draw = ImageDraw.Draw(image)
    for box in frames:
        left, top_, right, bottom_ = box
        pad = line_px * 3
        draw.rectangle((left - pad, top_ - pad, right + pad, bottom_ + pad), outline=rgb(frame_colour), width=line_px)
        draw.rectangle((left - pad * 2, top_ - pad * 2, right + pad * 2, bottom_ + pad * 2),
                       outline=mix(frame_colour, bottom, 0.5), width=max(1, line_px // 3))
    return image


def rule(image, line, colour, width):
    """A short line (between a name and the text under it)."""
    ImageDraw.Draw(image).line(line, fill=rgb(colour), width=width)
    return image


# -- mock-up bases ------------------------------------------------------------------------------------------------

def _shadow(size, box, blur, opacity=110):
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=blur, fill=opacity)
    return mask.filter(ImageFilter.GaussianBlur(blur))


def _studio(size, wall_top, wall_bottom, floor, floor_at):
    image = vertical_gradient(size, wall_top, wall_bottom)
    floor_part = vertical_gradient((size[0], size[1] - floor_at), floor, mix(floor, "#000000", 0.25))
    image.paste(floor_part, (0, floor_at))
    return image


def mug_mockup(area):
    """A white mug on a table; `area` (x, y, w, h) is where the wrap's middle shows."""
    size = (1000, 800)
    x, y, w, h = area
    image = _studio(size, "#f3ede4", "#ddd2c3", "#b89a7a", 640)
    body = (x - 40, y - 60, x + w + 40, y + h + 90)
    image.paste((0, 0, 0), (0, 0), _shadow(size, (body[0] + 30, body[3] - 30, body[2] + 60, body[3] + 20), 24))
    draw = ImageDraw.Draw(image)
    handle = (body[2] - 40, body[1] + 80, body[2] + 120, body[3] - 90)
    draw.ellipse(handle, outline=(236, 236, 232), width=34)
    draw.ellipse((handle[0] + 6, handle[1] + 6, handle[2] - 6, handle[3] - 6), outline=(210, 210, 205), width=4)
    # The body: a cylinder's light, brighter in its middle than at its edges.
    shade = horizontal_gradient((body[2] - body[0], body[3] - body[1]), "#c9c9c4", "#ffffff")
    shade = ImageChops.darker(shade, shade.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    mask = Image.new("L", shade.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, shade.width - 1, shade.height - 1), radius=28, fill=255)
    image.paste(shade, body[:2], mask)
    draw.ellipse((body[0], body[1] - 26, body[2], body[1] + 26), fill=(245, 245, 242), outline=(205, 205, 200),
                 width=3)
    draw.ellipse((body[0] + 14, body[1] - 16, body[2] - 14, body[1] + 16), fill=(90, 62, 40))
    return image


def canvas_mockup(area):
    """A canvas on a living-room wall; `area` is the canvas's face."""
    size = (1000, 760)
    x, y, w, h = area
    image = _studio(size, "#e9e4dc", "#d8d0c4", "#9b7b5c", 690)
    image.paste((0, 0, 0), (0, 0), _shadow(size, (x + 18, y + 24, x + w + 30, y + h + 34), 22, 120))
    draw = ImageDraw.Draw(image)
    depth = 16  # the wrapped edge of the frame, seen from a little to the left
    draw.polygon([(x + w, y), (x + w + depth, y + depth // 2), (x + w + depth, y + h + depth // 2), (x + w, y + h)],
                 fill=(70, 64, 58))
    draw.rectangle((120, 600, 880, 690), fill=(120, 110, 100))  # a sideboard under it
    draw.rectangle((120, 600, 880, 612), fill=(150, 138, 124))
    return image


def book_mockup(area):
    """A closed hardcover book lying on a desk; `area` is its front cover."""
    size = (1000, 900)
    x, y, w, h = area
    image = _studio(size, "#e6edf2", "#cdd8e0", "#c9b9a6", 760)
    image.paste((0, 0, 0), (0, 0), _shadow(size, (x - 10, y + 30, x + w + 40, y + h + 36), 26, 130))
    draw = ImageDraw.Draw(image)
    for offset in range(12, 0, -3):  # the page block, showing under the cover
        draw.rectangle((x + offset, y + offset, x + w + offset, y + h + offset),
                       fill=mix("#f4efe3", "#b9ae9a", offset / 14), outline=(200, 192, 176))
    draw.rectangle((x - 18, y - 2, x + 4, y + h + 2), fill=(40, 44, 60))  # the spine's hinge
    return image
