"""The documents of invoices and credit notes: pure, offline, no database.

- model: the document (frozen dataclasses, Decimal amounts), shared with the accounting connectors;
- arithmetic: the VAT breakdown and totals of the lines, and `check(document)`, the problems staff must fix
  before a document is issued;
- ubl: `to_ubl(document)`, Peppol BIS Billing 3.0 UBL 2.1 (Invoice 380 / CreditNote 381);
- validation: `validate_ubl(xml_bytes)`, against the OASIS UBL 2.1 schemas kept in schemas/;
- schematron: `failed_asserts(xml_bytes)`, against CEN's official EN 16931 rules for UBL (schemas/en16931/);
- pdf: `to_pdf(document, logo_path=None)`, the A4 PDF in the document's language.

The model and the arithmetic are re-exported here; ubl, validation, schematron and pdf load lxml, Saxon and
reportlab, and are imported from their modules by whoever needs them.
"""

from accounting.documents.arithmetic import Totals, check, totals, vat_subtotals
from accounting.documents.model import Document, DocumentLine, Party, VatSubtotal

__all__ = ["Document", "DocumentLine", "Party", "Totals", "VatSubtotal", "check", "totals", "vat_subtotals"]
