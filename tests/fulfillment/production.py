"""Orders that go to production, as WooCommerce sends them, and the providers that make them."""

import copy
import importlib

from django.apps import apps
from django.contrib.auth.models import Group

from fulfillment.choices import EventSource
from fulfillment.models import Order
from fulfillment.services.mirror import orders_upsert
from tests.factories import ProviderFactory, UserFactory
from tests.woo_payloads import line_item, order_payload


def print_file(woo_id, line_id):
    return f"https://files.example.com/renders/{woo_id}-{line_id}-front.pdf"


def mug_line(line_id, *, woo_id=17, quantity=3, with_file=True, sku="MUG-11"):
    """A mug personalised in our editor: its project, and the print-ready file once rendered."""
    meta = [{"id": line_id * 10, "key": "_project_id", "value": f"prj_{woo_id}_{line_id}",
             "display_key": "_project_id", "display_value": f"prj_{woo_id}_{line_id}"}]
    if with_file:
        meta.append({"id": line_id * 10 + 1, "key": "_print_file_url", "value": print_file(woo_id, line_id),
                     "display_key": "_print_file_url", "display_value": print_file(woo_id, line_id)})
    return line_item(line_id, name="Photo mug", quantity=quantity, total=f"{9.5 * quantity:.2f}",
                     total_tax=f"{1.9 * quantity:.2f}", sku=sku, meta=meta)


def canvas_line(line_id, *, sku="CANVAS-3040"):
    return line_item(line_id, name="Canvas print", product_id=12, quantity=1, total="20.00", total_tax="4.00",
                     sku=sku)


def production_payload(woo_id=17, *, status="processing", with_file=True, lines=None, **extra):
    """3 personalised mugs (line woo_id*10+1) and a canvas print (line woo_id*10+2)."""
    if lines is None:
        lines = [mug_line(woo_id * 10 + 1, woo_id=woo_id, with_file=with_file), canvas_line(woo_id * 10 + 2)]
    payload = order_payload(woo_id, status=status, line_items=lines, **extra)
    payload["shipping"].update(address_1="Hauptstraße 2", postcode="1010", phone="+43 1 5550101")
    return payload


def mirrored(store, woo_id=17, *, woo=None, source=EventSource.IMPORT, **kwargs):
    """An order of the shop in our mirror (and in the fake shop when given), as an import brings it."""
    payload = production_payload(woo_id, **kwargs)
    if woo is not None:
        woo.add_orders([payload])
    orders_upsert(store=store, payloads=[copy.deepcopy(payload)], source=source)
    return Order.objects.get(store=store, woo_id=woo_id)


def printful_provider(store, printful, **kwargs):
    return ProviderFactory(store=store, name=kwargs.pop("name", "Printful"), base_url=printful.url,
                           skus=kwargs.pop("skus", "*"), variant_map=kwargs.pop("variant_map", {"MUG-11": 1320}),
                           **kwargs)


def make_roles():
    """The staff roles as the migrations make them (a transactional test empties migration-made groups)."""
    importlib.import_module("fulfillment.migrations.0004_roles").create_roles(apps, None)
    importlib.import_module("fulfillment.migrations.0011_production_schedules_and_roles").forwards(apps, None)


def staff(role):
    make_roles()
    user = UserFactory(username=role)
    user.groups.add(Group.objects.get(name=role))
    return user
