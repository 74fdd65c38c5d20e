"""A minimal print PDF writer: one JPEG per page, written page by page, byte-for-byte reproducible.

Pillow's PDF writer needs every page in memory at once (24 A4 pages at 300 DPI are ~650 MB of pixels), and
general PDF libraries stamp creation dates and random document ids. Here a page is written and forgotten, and
the file holds nothing but the pages and fixed metadata: the same pages give the same bytes, hence the same
checksum. No Django in here.
"""

PRODUCER = "Order back-office renderer"


def _num(value):
    """A PDF number with at most 4 decimals and no trailing zeros (PDF has no exponent notation)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _box(left, bottom, right, top):
    return "[" + " ".join(_num(v) for v in (left, bottom, right, top)) + "]"


class PdfWriter:
    """Write pages to a binary file object; call close() once, after the last page."""

    # Object numbers 1-3 are fixed; each page then takes three: page, content stream, image.
    CATALOG, PAGES, INFO = 1, 2, 3

    def __init__(self, file, *, title=""):
        self.file = file
        self.title = title
        self.offsets = {}
        self.page_refs = []
        self.next_number = 4
        self.position = 0
        # The binary comment line tells transfer tools the file is not text.
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def _write(self, data):
        self.file.write(data)
        self.position += len(data)

    def _object(self, number, body, stream=None):
        self.offsets[number] = self.position
        self._write(f"{number} 0 obj\n".encode() + body)
        if stream is not None:
            self._write(b"\nstream\n")
            self._write(stream)
            self._write(b"\nendstream")
        self._write(b"\nendobj\n")

    def add_jpeg_page(self, jpeg, *, pixel_size, page_size_pt, trim_inset_pt=0.0):
        """Add a page showing one RGB JPEG over its whole media box; trim_inset_pt is the bleed, in points."""
        width_px, height_px = pixel_size
        width, height = page_size_pt
        page, content, image = self.next_number, self.next_number + 1, self.next_number + 2
        self.next_number += 3
        self._object(image, (
            f"<< /Type /XObject /Subtype /Image /Width {width_px} /Height {height_px} /ColorSpace /DeviceRGB "
            f"/BitsPerComponent 8 /Filter /DCTDecode /Length {len(jpeg)} >>").encode(), jpeg)
        drawing = f"q {_num(width)} 0 0 {_num(height)} 0 0 cm /Im0 Do Q".encode()
        self._object(content, f"<< /Length {len(drawing)} >>".encode(), drawing)
        inset = trim_inset_pt
        self._object(page, (
            f"<< /Type /Page /Parent {self.PAGES} 0 R /MediaBox {_box(0, 0, width, height)} "
            f"/BleedBox {_box(0, 0, width, height)} /TrimBox {_box(inset, inset, width - inset, height - inset)} "
            f"/Resources << /XObject << /Im0 {image} 0 R >> >> /Contents {content} 0 R >>").encode())
        self.page_refs.append(page)

    def close(self):
        kids = " ".join(f"{n} 0 R" for n in self.page_refs)
        self._object(self.PAGES, f"<< /Type /Pages /Kids [{kids}] /Count {len(self.page_refs)} >>".encode())
        self._object(self.CATALOG, f"<< /Type /Catalog /Pages {self.PAGES} 0 R >>".encode())
        self._object(self.INFO, b"<< /Producer " + _string(PRODUCER) + b" /Title " + _string(self.title) + b" >>")
        xref_at = self.position
        size = self.next_number
        lines = [f"xref\n0 {size}\n", "0000000000 65535 f \n"]
        # Every entry is exactly 20 bytes, as readers seek into the table by arithmetic.
        lines += [f"{self.offsets[n]:010d} 00000 n \n" for n in range(1, size)]
        self._write("".join(lines).encode())
        self._write(f"trailer\n<< /Size {size} /Root {self.CATALOG} 0 R /Info {self.INFO} 0 R >>\n"
                    f"startxref\n{xref_at}\n%%EOF\n".encode())


def _string(text):
    """A PDF literal string; non-ASCII text as UTF-16BE with its byte order mark, as the PDF spec asks."""
    if text.isascii():
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return f"({escaped})".encode("ascii")
    return b"<" + ("\ufeff" + text).encode("utf-16-be").hex().upper().encode() + b">"
