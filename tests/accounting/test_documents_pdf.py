"""The PDF of invoices and credit notes: A4, what an EU invoice must show, in the document's language."""

import io
import time

import pytest
from django.utils import translation
from PIL import Image
from pypdf import PdfReader

from accounting.documents import pdf as pdf_module
from accounting.documents.pdf import to_pdf
from tests.accounting.test_documents_arithmetic import (
    credit_note,
    dutch_invoice,
    fifty_line_invoice,
    oss_invoice,
    reverse_charge_invoice,
)

# The wording of invoicing.md (VAT Directive art. 226(11a)), written out here rather than read from the module.
REVERSE_CHARGE = {"en": "Reverse charge", "nl": "btw verlegd", "fr": "autoliquidation",
                  "es": "inversión del sujeto pasivo", "it": "inversione contabile"}
A4 = (595.28, 841.89)  # points


def read(pdf):
    return PdfReader(io.BytesIO(pdf))


def pdf_text(pdf):
    """The text of every page, non-breaking spaces as spaces and runs of white space as one."""
    text = " ".join(page.extract_text() for page in read(pdf).pages)
    return " ".join(text.replace("\xa0", " ").split())


def test_a_dutch_invoice_is_one_a4_page_with_number_dates_lines_vat_per_rate_and_totals():
    # Given a Dutch consumer's invoice at 21 % and 9 %, with a fractional quantity, shipping and a fee
    invoice = dutch_invoice()

    # When its PDF is made
    pdf = to_pdf(invoice)

    # Then it opens as one A4 page
    reader = read(pdf)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width), 2), round(float(box.height), 2)) == A4
    assert reader.metadata.title == "Factuur 2026-000123"  # in the document's language, as its labels
    # and shows both parties, the number, the date (in Dutch), the order, every line and the sums, Dutch-style
    text = pdf_text(pdf)
    for expected in ["Fotocadeau B.V.", "Keizersgracht 123", "1015 CJ Amsterdam", "NL123456789B01",
                     "Anna de Vries", "Oudegracht 12", "3511 AB Utrecht", "2026-000123", "14 maart 2026", "4711",
                     "Photo book A4, 40 pages", "BOOK-A4-40", "Shipping: PostNL", "Gift wrapping",
                     "2 € 28,9256 21% € 57,85 € 12,15",     # quantity, unit price excl. VAT, rate, amount, VAT
                     "2,5 € 12,00 21% € 30,00 € 6,30",      # a fractional quantity
                     "21% € 95,28 € 20,01", "9% € 18,30 € 1,65",  # VAT per rate
                     "€ 113,58", "€ 21,66", "€ 135,24", "Betaald", "Totaal incl. btw"]:
        assert expected in text, expected
    assert not any(wording in text for wording in REVERSE_CHARGE.values())


def test_an_english_invoice_writes_numbers_and_dates_the_english_way():
    text = pdf_text(to_pdf(dutch_invoice(language="en")))

    assert "March 14, 2026" in text
    assert "2 €28.9256 21% €57.85 €12.15" in text
    assert "Total incl. VAT €135.24" in text


def test_an_oss_invoice_to_france_shows_the_french_rates_in_french_style():
    text = pdf_text(to_pdf(oss_invoice()))

    assert "14 mars 2026" in text and "Léa Martin" in text and "75004 Paris" in text
    assert "20% 29,54 € 5,91 €" in text and "5,5% 18,96 € 1,04 €" in text
    assert "55,45 €" in text


@pytest.mark.parametrize("language", ["en", "nl", "fr", "es", "it"])
def test_a_reverse_charge_invoice_carries_the_legal_wording_in_its_language(language):
    # Given an invoice to an Italian company, VAT reverse charged, in one of the five languages
    invoice = reverse_charge_invoice(language=language)

    # When its PDF is made
    text = pdf_text(to_pdf(invoice))

    # Then the wording that language's tax authority expects is on it, and no other language's
    assert REVERSE_CHARGE[language] in text
    assert [wording for other, wording in REVERSE_CHARGE.items() if other != language and wording in text] == []
    # with both VAT numbers and the 0 % breakdown
    assert "IT12345678901" in text and "NL123456789B01" in text
    assert "Stampa Rapida S.r.l." in text and "Giulia Rossi" in text
    assert f"0% – {REVERSE_CHARGE[language]}" in text


def test_a_credit_note_names_the_invoice_it_corrects():
    text = pdf_text(to_pdf(credit_note(language="en")))

    assert "Credit note" in text and "2026-000131" in text
    assert "Credit note for invoice 2026-000123 of March 14, 2026" in text
    assert "Total incl. VAT €60.93" in text and "Refunded" in text
    assert "Invoice number" not in text


def test_the_labels_are_looked_up_in_the_documents_language(monkeypatch):
    # Given a catalogue that notes each look-up and marks its label with the language active then
    looked_up = []

    def pgettext(context, label):
        looked_up.append((context, translation.get_language(), label))
        return f"{label} ({translation.get_language()})"

    monkeypatch.setattr(pdf_module, "pgettext", pgettext)

    # When a Spanish invoice is made while the staff member's own language is English
    with translation.override("en"):
        text = pdf_text(to_pdf(oss_invoice(language="es")))
        assert translation.get_language() == "en"

    # Then every label was looked up in Spanish, in the invoice's own context, and printed as the catalogue said
    assert {(context, language) for context, language, label in looked_up} == {("invoice", "es")}
    for label in ("Invoice", "Invoice number", "Invoice date", "Order number", "Customer", "Description",
                  "Quantity", "VAT rate", "Taxable amount", "Total excl. VAT", "Total VAT", "Total incl. VAT", "Paid",
                  "Page 1"):
        assert f"{label} (es)" in text, label
    assert "14 de marzo de 2026" in text


def test_a_logo_is_drawn_in_the_header(tmp_path):
    # Given the shop's logo, wider than high
    logo = tmp_path / "logo.png"
    Image.new("RGB", (600, 200), (200, 30, 60)).save(logo)

    # Then the PDF with the logo holds one image, the one without none
    assert len(read(to_pdf(dutch_invoice(), logo_path=logo)).pages[0].images) == 1
    assert len(read(to_pdf(dutch_invoice())).pages[0].images) == 0


def test_the_same_document_gives_the_same_bytes():
    assert to_pdf(credit_note()) == to_pdf(credit_note())
    assert to_pdf(credit_note()) != to_pdf(credit_note(number="2026-000132"))


def test_markup_in_names_and_notes_is_printed_as_typed():
    invoice = dutch_invoice(note="Thank you!\nDelivery <to> the neighbours & keep the box")

    text = pdf_text(to_pdf(invoice))

    assert "Delivery <to> the neighbours & keep the box" in text and "Thank you!" in text


def test_fifty_lines_run_over_pages_with_the_table_head_repeated(capsys):
    # Given an order of 50 lines
    invoice = fifty_line_invoice(language="en")

    # When its PDF is made (timed: a figure to read, not a limit)
    started = time.perf_counter()
    pdf = to_pdf(invoice)
    elapsed = time.perf_counter() - started

    # Then every line is on it, over more than one page each headed by the table's columns, totals at the end
    reader = read(pdf)
    pages = [page.extract_text() for page in reader.pages]
    text = pdf_text(pdf)
    assert len(pages) >= 2
    assert all(f"(design {n})" in text for n in range(1, 51))
    assert all("Description" in page for page in pages)
    assert [f"Page {n}" in page for n, page in enumerate(pages, 1)] == [True] * len(pages)
    assert "€2,307.66" in pages[-1].replace("\xa0", " ")
    with capsys.disabled():
        print(f"\n  PDF of 50 lines: {elapsed * 1000:.0f} ms, {len(reader.pages)} pages, {len(pdf) // 1024} KiB")
