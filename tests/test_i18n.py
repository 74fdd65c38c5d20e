"""Translations of our strings: complete .po files, compiled .mo files, and the admin in the staff's language."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from fulfillment.models import StaffProfile
from tests.factories import OrderFactory, OrderLineFactory, StoreFactory, UserFactory

LANGUAGES = ["es", "fr", "it", "nl"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]|\{\{\s*\w+\s*\}\}")


@pytest.fixture(autouse=True)
def back_to_english():
    """LocaleMiddleware leaves the last request's language active in the thread: do not leak it."""
    yield
    translation.deactivate()


def po_path(language):
    return Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES" / "django.po"


def read_po(path):
    """A small .po reader: [{"msgctxt", "msgid", "msgid_plural", "msgstr": {n: text}, "flags"}] (header included)."""
    entries, entry, key = [], None, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = line.strip()
        if not line:
            if entry is not None and "msgid" in entry:
                entries.append(entry)
            entry, key = None, None
            continue
        if entry is None:
            entry = {"flags": set(), "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            text = ast.literal_eval(line)
            if isinstance(key, int):
                entry["msgstr"][key] += text
            else:
                entry[key] += text
        else:
            word, rest = line.split(" ", 1)
            text = ast.literal_eval(rest)
            if word.startswith("msgstr"):
                key = int(word[7:-1]) if word.startswith("msgstr[") else 0
                entry["msgstr"][key] = text
            else:
                key = word
                entry[word] = text
    return entries


def placeholders(text):
    return sorted(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("language", LANGUAGES)
def test_po_file_is_complete_and_not_fuzzy(language):
    entries = read_po(po_path(language))
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == ""
    assert f"Language: {language}\\n" in repr(header["msgstr"][0])
    assert len(messages) > 300
    for entry in entries:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
    for entry in messages:
        assert entry["msgstr"], entry["msgid"]
        for n, text in entry["msgstr"].items():
            assert text.strip(), f"{language}: empty msgstr[{n}] for {entry['msgid']!r}"
            expected = entry["msgid_plural"] if n and "msgid_plural" in entry else entry["msgid"]
            if "msgid_plural" in entry and n == 0:
                # Some languages' singular form names no number ("one order"); the placeholder names must still exist.
                assert set(placeholders(text)) <= set(placeholders(entry["msgid_plural"])), entry["msgid"]
            else:
                assert placeholders(text) == placeholders(expected), f"{language}: {entry['msgid']!r} → {text!r}"


def test_every_language_has_the_same_messages():
    def keys(language):
        return {(e.get("msgctxt"), e["msgid"]) for e in read_po(po_path(language))[1:]}

    reference = keys(LANGUAGES[0])
    for language in LANGUAGES[1:]:
        assert keys(language) == reference, language


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalog_matches_the_po_file(language):
    """The committed .mo is what Django serves: it must hold every translation of the .po."""
    assert po_path(language).with_suffix(".mo").exists()
    with translation.override(language):
        for entry in read_po(po_path(language))[1:]:
            context = entry.get("msgctxt")
            if "msgid_plural" in entry:
                got = translation.ngettext(entry["msgid"], entry["msgid_plural"], 5)
                assert got in entry["msgstr"].values(), entry["msgid"]
            elif context:
                assert translation.pgettext(context, entry["msgid"]) == entry["msgstr"][0], entry["msgid"]
            else:
                assert translation.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]


@pytest.fixture
def order(db):
    store = StoreFactory(name="Dutch shop")
    order = OrderFactory(store=store, status="processing")
    OrderLineFactory(order=order)
    return order


def test_order_list_follows_the_browser_language(admin_client, order):
    response = admin_client.get(reverse("admin:fulfillment_order_changelist"), HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 200
    html = response.content.decode()
    assert response["Content-Language"] == "nl"
    assert "Bestellingen importeren" in html  # Import orders
    assert "In behandeling" in html  # the status "Processing"
    assert "Import orders" not in html


def test_order_page_follows_the_browser_language(admin_client, order):
    response = admin_client.get(reverse("admin:fulfillment_order_change", args=[order.pk]),
                                HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Tijdlijn" in html  # Timeline
    assert "Verzendadres" in html  # Shipping address
    assert f"Bestelling #{order.number}" in html
    assert ">Timeline<" not in html
    # Numbers read by the page's script stay machine-readable whatever the language ("9.50", not "9,50").
    assert re.search(r'data-unit="\d+\.\d+"', html)


def test_staff_profile_language_wins_over_the_browser(client, order):
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="fulfillment", codename__in=["view_order", "add_importrun"]))
    StaffProfile.objects.create(user=user, language="it")
    client.force_login(user)

    response = client.get(reverse("admin:fulfillment_order_changelist"), HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    html = response.content.decode()
    assert response["Content-Language"] == "it"
    assert "Importa ordini" in html  # Import orders, in Italian
    assert "Importer des commandes" not in html

    response = client.get(reverse("admin:fulfillment_order_change", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert "Cronologia" in response.content.decode()  # Timeline, in Italian


def test_without_a_profile_language_the_browser_decides(client, order):
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="fulfillment",
                                                         codename__in=["view_order", "add_importrun"]))
    StaffProfile.objects.create(user=user, language="")
    client.force_login(user)
    response = client.get(reverse("admin:fulfillment_order_changelist"), HTTP_ACCEPT_LANGUAGE="fr")
    assert response["Content-Language"] == "fr"
    assert "Importer des commandes" in response.content.decode()


def test_the_language_switch_is_remembered_and_staff_pages_do_not_query_it(client, order):
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="fulfillment",
                                                         codename__in=["view_order", "add_importrun"]))
    client.force_login(user)

    # when the staff member picks Dutch in the header's switch
    client.post(reverse("set_language"), {"language": "nl", "next": "/admin/"})

    # then it is in their profile, and every page is in Dutch whatever the browser says
    assert StaffProfile.objects.get(user=user).language == "nl"
    response = client.get(reverse("admin:fulfillment_order_changelist"), HTTP_ACCEPT_LANGUAGE="fr")
    assert response["Content-Language"] == "nl"
    # the language comes from the session: the page view does not read the profile
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("admin:fulfillment_order_changelist"))
    assert not any("staffprofile" in q["sql"] for q in queries.captured_queries)
