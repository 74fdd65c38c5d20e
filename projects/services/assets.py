"""Client images: checked with Pillow before anything is stored, kept as uploaded and normalised beside it."""

import hashlib
import io
import warnings

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from projects import events
from projects.errors import ProjectError
from projects.models import ProjectAsset
from projects.services.projects import ensure_customer_may_edit

# Pillow format name → extension of the stored original. HEIC joins when a plugin (pillow-heif) registers it.
ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
# ISO-BMFF brands of HEIC/HEIF photos (iPhones): recognised to say why they are refused when Pillow cannot read them.
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
THUMBNAIL_SIZE = (480, 480)


def heic_supported():
    Image.init()
    return "HEIF" in Image.OPEN


def _max_bytes():
    return settings.PROJECT_ASSET_MAX_BYTES


def _max_pixels():
    return settings.PROJECT_ASSET_MAX_PIXELS


def _looks_like_heif(head):
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def _open_checked(data):
    """Open the upload and check format and dimensions from its header, before any pixel is decoded."""
    with warnings.catch_warnings():
        # Pillow warns between its limit and twice it, and raises above: both are refusals here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels() from None
        except UnidentifiedImageError:
            if _looks_like_heif(data[:16]):
                raise ProjectError(_("HEIC photos cannot be read here: export the photo as JPEG (on an iPhone: "
                                     "Settings → Camera → Formats → Most Compatible) and upload it again."),
                                   field="file") from None
            raise ProjectError(_("This file is not an image we can read: upload a JPEG, PNG or WebP photo."),
                               field="file") from None
    accepted = {name for name in ACCEPTED_FORMATS if name != "HEIF" or heic_supported()}
    if image.format not in accepted:
        raise ProjectError(_("%(format)s images are not accepted: upload a JPEG, PNG or WebP photo.") % {
            "format": image.format}, field="file")
    width, height = image.size
    if width < 1 or height < 1 or width * height > _max_pixels():
        raise _too_many_pixels()
    return image


def _too_many_pixels():
    return ProjectError(_("This image has too many pixels: at most %(megapixels)s million are accepted.") % {
        "megapixels": _max_pixels() // 1_000_000}, field="file")


def _decoded(data):
    """verify() the file, then decode it for real (verify leaves the image unusable, and misses truncation)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.open(io.BytesIO(data)).verify()
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):
        raise ProjectError(_("This image is damaged or incomplete: upload it again."), field="file") from None
    return image


def _normalised(image):
    """The image as the renderer wants it: orientation applied, RGB (or RGBA when transparent), EXIF dropped.

    EXIF is left out on purpose: it holds the phone's GPS position, and its orientation is now in the pixels.
    """
    icc_profile = image.info.get("icc_profile")
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    out = io.BytesIO()
    if has_alpha:
        image = image.convert("RGBA")
        image.save(out, "PNG", optimize=False, icc_profile=icc_profile)
        extension = "png"
    else:
        # CMYK JPEGs have no ICC conversion here; Pillow's plain conversion is close enough for a photo product.
        image = image.convert("RGB")
        image.save(out, "JPEG", quality=95, icc_profile=icc_profile)
        extension = "jpg"
    thumbnail = image.copy()
    thumbnail.thumbnail(THUMBNAIL_SIZE)
    thumb_out = io.BytesIO()
    thumbnail.convert("RGB").save(thumb_out, "JPEG", quality=80)
    return out.getvalue(), extension, thumb_out.getvalue(), image.size


def asset_upload(*, project, uploaded_file, user=None):
    """Store a client image in a project: format, size and pixels checked, orientation applied, original kept."""
    ensure_customer_may_edit(project, user)
    size = uploaded_file.size
    if size is None or size > _max_bytes():
        raise ProjectError(_("This file is too large (%(size)s): at most %(limit)s are accepted.") % {
            "size": filesizeformat(size or 0), "limit": filesizeformat(_max_bytes())}, field="file")
    if size == 0:
        raise ProjectError(_("The file is empty."), field="file")
    uploaded_file.seek(0)
    data = uploaded_file.read(_max_bytes() + 1)
    if len(data) > _max_bytes():
        raise ProjectError(_("This file is too large (%(size)s): at most %(limit)s are accepted.") % {
            "size": filesizeformat(len(data)), "limit": filesizeformat(_max_bytes())}, field="file")

    source_format = _open_checked(data).format
    image = _decoded(data)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = ProjectAsset.objects.filter(project=project, sha256=sha256).first()
    if existing is not None:
        return existing  # the same photo uploaded twice: one asset, so its slots keep pointing at one id
    normalised, extension, thumbnail, (width, height) = _normalised(image)

    name = sha256[:20]
    asset = ProjectAsset(project=project, format=source_format, size=len(data), sha256=sha256)
    asset.original.save(f"{name}.{ACCEPTED_FORMATS[source_format]}", ContentFile(data), save=False)
    asset.image.save(f"{name}.{extension}", ContentFile(normalised), save=False)
    asset.thumbnail.save(f"{name}.jpg", ContentFile(thumbnail), save=False)
    # Set last: assigning a file resets the dimension fields, and ContentFile cannot tell them.
    asset.width, asset.height = width, height
    with transaction.atomic():
        asset.save()
        events.asset_uploaded_event(asset, user=user).save()
    return asset
