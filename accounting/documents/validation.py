"""Checks a UBL invoice or credit note against the OASIS UBL 2.1 schemas kept in schemas/ubl-2.1/.

The schemas are read from disk once per process (a tenth of a second); nothing is ever downloaded. The parser
for the document is denied the network, DTDs and entities, so a file handed in can neither fetch nor read
anything. The schema checks the structure and the data types, not the EN 16931 business rules (the sums):
those are arithmetic.check's, on the document before it becomes XML.
"""

import threading
from functools import cache
from pathlib import Path

from django.utils.translation import gettext as _
from lxml import etree

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "ubl-2.1" / "maindoc"
SCHEMA_FILES = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": "UBL-Invoice-2.1.xsd",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": "UBL-CreditNote-2.1.xsd",
}
# The schema's messages name elements with their whole namespace; staff read the usual prefixes.
PREFIXES = {
    "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}": "cac:",
    "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}": "cbc:",
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}": "",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}": "",
}
# An XMLSchema keeps the errors of its last run on itself: one validation at a time per schema.
_validating = threading.Lock()


@cache
def _schema(filename):
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / filename), parser))


def validate_ubl(xml_bytes):
    """The schema errors of a UBL 2.1 Invoice or CreditNote, each as "Line N: message"; empty when it is valid."""
    if isinstance(xml_bytes, str):
        xml_bytes = xml_bytes.encode()
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False, dtd_validation=False)
    try:
        root = etree.fromstring(xml_bytes, parser)
    except etree.XMLSyntaxError as exc:
        return [_("The file is not well-formed XML: %(error)s") % {"error": exc}]
    if root.getroottree().docinfo.doctype:
        # UBL has no DTD; one in a file handed in can only be there to declare entities (to read local files).
        return [_("The file declares a document type (DTD), which a UBL invoice never has.")]
    filename = SCHEMA_FILES.get(root.tag)
    if filename is None:
        return [_("The file is not a UBL invoice or credit note: its root element is %(root)s.")
                % {"root": _short(str(root.tag))}]
    schema = _schema(filename)
    with _validating:
        if schema.validate(root):
            return []
        errors = list(schema.error_log)
    return [_("Line %(line)s: %(message)s") % {"line": error.line, "message": _short(error.message)}
            for error in errors]


def _short(message):
    for namespace, prefix in PREFIXES.items():
        message = message.replace(namespace, prefix)
    return message
