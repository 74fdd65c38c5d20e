"""Client images: what is accepted, what is refused and why, and what is stored."""

import hashlib
import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from projects.errors import ProjectError
from projects.models import ProjectAsset, ProjectEvent
from projects.services.assets import asset_upload, heic_supported
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory()


def image_bytes(fmt, size=(40, 20), colour=(200, 30, 30), mode="RGB", **save):
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, fmt, **save)
    return out.getvalue()


def upload(data, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width, height):
    """A PNG whose header claims width × height 1-bit pixels, all zero: kilobytes on disk, gigabytes decoded."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt, content_type, stored_ext", [
    ("JPEG", "image/jpeg", "jpg"),
    ("PNG", "image/png", "png"),
    ("WEBP", "image/webp", "webp"),
])
def test_accepted_formats_are_stored_with_their_original(project, fmt, content_type, stored_ext):
    data = image_bytes(fmt)

    asset = asset_upload(project=project, uploaded_file=upload(data, f"x.{stored_ext}", content_type))

    asset.refresh_from_db()
    assert (asset.format, asset.width, asset.height, asset.size) == (fmt, 40, 20, len(data))
    assert asset.sha256 == hashlib.sha256(data).hexdigest()
    assert asset.original.name.endswith(f".{stored_ext}")
    with asset.original.open("rb") as original:
        assert original.read() == data
    with Image.open(asset.image.path) as normalised:
        assert normalised.format == "JPEG" and normalised.size == (40, 20)
        assert normalised.getpixel((20, 10)) == pytest.approx((200, 30, 30), abs=4)
    with Image.open(asset.thumbnail.path) as thumbnail:
        assert thumbnail.size == (40, 20)
    event = ProjectEvent.objects.get(project=project)
    assert (event.type, event.data["asset_id"]) == ("asset_uploaded", asset.pk)


def test_transparent_png_stays_png_with_its_alpha(project):
    data = image_bytes("PNG", mode="RGBA", colour=(0, 0, 255, 0))

    asset = asset_upload(project=project, uploaded_file=upload(data, "t.png", "image/png"))

    with Image.open(asset.image.path) as normalised:
        assert (normalised.format, normalised.mode) == ("PNG", "RGBA")
        assert normalised.getpixel((0, 0))[3] == 0


def test_exif_orientation_is_applied_to_the_stored_image_and_the_original_kept(project):
    # A phone held upright: the sensor's 40 × 20 pixels with orientation 6 (rotate 90° clockwise to view),
    # the left half red and the right half blue in sensor order.
    sensor = Image.new("RGB", (40, 20), (0, 0, 255))
    sensor.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    sensor.save(out, "JPEG", exif=exif, quality=95)
    data = out.getvalue()

    asset = asset_upload(project=project, uploaded_file=upload(data))

    assert (asset.width, asset.height) == (20, 40)
    with Image.open(asset.image.path) as shown:
        assert shown.size == (20, 40)
        # Rotated clockwise, the sensor's left (red) half is now on top.
        assert shown.getpixel((10, 5)) == pytest.approx((255, 0, 0), abs=40)
        assert shown.getpixel((10, 35)) == pytest.approx((0, 0, 255), abs=40)
        assert 0x0112 not in shown.getexif()  # nothing left to rotate it twice, and no phone data kept
    with Image.open(asset.original.path) as original:
        assert original.size == (40, 20)
        assert original.getexif()[0x0112] == 6
    with asset.original.open("rb") as original:
        assert original.read() == data


def test_same_photo_twice_is_one_asset(project):
    data = image_bytes("JPEG")
    first = asset_upload(project=project, uploaded_file=upload(data))
    second = asset_upload(project=project, uploaded_file=upload(data, "again.jpg"))
    assert first.pk == second.pk
    assert ProjectAsset.objects.filter(project=project).count() == 1


def assert_refused(project, uploaded, message):
    with pytest.raises(ProjectError) as error:
        asset_upload(project=project, uploaded_file=uploaded)
    assert error.value.field == "file"
    assert message in error.value.message
    assert not ProjectAsset.objects.exists()
    assert not ProjectEvent.objects.exists()
    return error.value


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_refused(project, fmt):
    assert_refused(project, upload(image_bytes(fmt), "x.img", "image/x"),
                   f"{fmt} images are not accepted: upload a JPEG, PNG or WebP photo.")


def test_not_an_image_is_refused(project):
    assert_refused(project, upload(b"%PDF-1.7 not a photo" * 10, "x.pdf", "application/pdf"),
                   "This file is not an image we can read")


def test_heic_is_refused_with_a_clear_way_out_when_pillow_cannot_read_it(project):
    # This Pillow has no HEIF plugin (pillow-heif is not a requirement): an iPhone photo gets told what to do.
    assert not heic_supported()
    heic_head = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic" + b"\x00" * 200
    assert_refused(project, upload(heic_head, "IMG_0001.HEIC", "image/heic"),
                   "HEIC photos cannot be read here: export the photo as JPEG")


def test_too_large_a_file_is_refused_before_it_is_read(project, settings):
    settings.PROJECT_ASSET_MAX_BYTES = 1000
    data = image_bytes("BMP", size=(30, 30))  # uncompressed: 2.7 kB
    assert_refused(project, upload(data, "big.jpg"), "This file is too large (2.7\xa0KB): at most 1000\xa0bytes")


def test_empty_file_is_refused(project):
    assert_refused(project, upload(b""), "The file is empty.")


def test_too_many_pixels_is_refused_from_the_header(project, settings):
    settings.PROJECT_ASSET_MAX_PIXELS = 1000
    assert_refused(project, upload(image_bytes("JPEG", size=(50, 21))),
                   "This image has too many pixels: at most 0 million are accepted.")


def test_decompression_bomb_png_small_on_disk_is_refused(project):
    # 30,000 × 30,000 = 900 Mpx (above Pillow's own bomb limit too): under 150 kB of file.
    data = bomb_png(30_000, 30_000)
    assert len(data) < 150_000

    assert_refused(project, upload(data, "bomb.png", "image/png"),
                   "This image has too many pixels: at most 60 million are accepted.")


def test_bomb_between_our_limit_and_pillows_is_refused_before_decoding(project):
    # 8,000 × 8,000 = 64 Mpx: under Pillow's 89 Mpx warning, over our 60 Mpx.
    assert_refused(project, upload(bomb_png(8_000, 8_000), "bomb.png", "image/png"),
                   "This image has too many pixels")


def test_truncated_image_is_refused(project):
    data = image_bytes("PNG", size=(200, 200), colour=(10, 200, 10))
    assert_refused(project, upload(data[: len(data) // 2], "cut.png", "image/png"),
                   "This image is damaged or incomplete: upload it again.")
