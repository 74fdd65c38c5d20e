"""Projects' part of the demo: product templates, the customers' projects of the demo orders, a My Account login.

Registered from ProjectsConfig.ready() through fulfillment.demo's seams:
- before a demo shop's orders: its product templates (projects.demo_templates);
- after them: a project for every order line that names one (`_project_id`, e.g. demo-eu-1082-0), with photos
  (drawn once, uploaded through the real upload service once, then shared by file like project_duplicate does),
  linked to its line and ordered; a My Account customer (the first shop's) with their orders' projects and three
  saved drafts;
- a login (fulfillment.demo.register_login) that load_demo prints.

Rendering is what takes time (a 24-page A4 book at 300 DPI is ~6 s and ~9 MB), so the print files made at load
are a budget of pages per shop (DEMO_PRINT_PAGES): the customer's orders first, then the newest on-hold and
processing orders that fit. Those go the production way: linked by projects_link_order_lines (the order
follower's service: version 1 asked for, on the order's timeline) and rendered by render_execute at once. The other lines' projects
are linked and ordered without a version yet: staff render them by reprocessing the order. Loaded again, nothing
is made twice.
"""

import hashlib
import logging
import random
import time
from functools import lru_cache
from io import BytesIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from fulfillment.models import OrderLine
from projects import demo_images, events
from projects.choices import ProjectState, RenderPurpose, RenderState
from projects.demo_templates import BOOK, CANVAS, MUG, TEMPLATES
from projects.models import CustomerProfile, ProductTemplate, Project, ProjectAsset, ProjectEvent, Render
from projects.services.assets import asset_upload
from projects.services.ordering import projects_link_order_lines
from projects.services.rendering import fonts, render_execute, render_request

logger = logging.getLogger("projects.demo")

DEMO_CUSTOMER_EMAIL = "customer@example.com"
# Pages of print files rendered per demo shop at load (~0.3 s of CPU a page; a book is 24): with the photos, the
# templates and the drafts' previews the demo takes ~13 s of CPU more to load.
DEMO_PRINT_PAGES = 12
PHOTO_SIZE = (2400, 1800)  # a book page at 300 DPI or a canvas at 150 DPI needs about this many pixels
LANDSCAPES = 6  # photo seeds 0..5, one scene each; then portraits (a beach, snowy peaks) for the canvas
PORTRAITS = 2
BATCH = 200

BOOK_TITLES = ["Summer in Sevilla", "Our year 2026", "Three weeks in the Alps", "Weekend in Lyon",
               "Grandma's 80th", "Road trip north", "Our wedding", "The first year"]
CAPTIONS = ["The day we arrived", "Breakfast with a view", "Up before the sun", "The long walk back",
            "Nobody wanted to leave", "Swimming at last", "The best ice cream in town", "Lost, and happy about it",
            "Last light", "Home again"]
MUG_LINES = ["Best dad in the world", "Coffee first, then the world", "Happy birthday!", "Team early bird",
             "For the best colleague", "Tea is a hug in a mug"]
# The canvases' captions, by portrait photo (a beach, snowy peaks).
PLACES = [["Brighton beach", "Costa Brava", "Scheveningen", "Algarve"], ["The Dolomites", "Lofoten", "Zermatt"]]


# The customer's saved projects (not ordered): what My Account shows besides their orders' projects.
DRAFTS = [(CANVAS, "Canvas for the hallway", "Demo"), (BOOK, "Holiday book (not finished)", "The Demos"),
          (MUG, "Mug for grandpa", "Grandpa")]


def _first_name(order):
    return (order.customer_name or "").split(" ")[0] or "Alex"


def _draft_ref(store, number):
    return f"{store.slug}-draft-{number + 1}"


# -- photos -----------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def demo_photos():
    """[(name, JPEG bytes, sha256)]: the customers' photos, drawn once per process (the same every time)."""
    shipped = fonts()
    photos = []
    for seed in range(LANDSCAPES + PORTRAITS):
        size = PHOTO_SIZE if seed < LANDSCAPES else PHOTO_SIZE[::-1]
        out = BytesIO()
        demo_images.photo(seed, size=size, fonts=shipped).save(out, "JPEG", quality=88)
        data = out.getvalue()
        photos.append((f"IMG_{2601 + seed:04d}.jpg", data, hashlib.sha256(data).hexdigest()))
    return photos


def _pool_assets(upload_into):
    """{seed: a stored asset of that photo}: found by checksum (an earlier load), else uploaded into a draft through
    the upload service; other projects share its files."""
    photos = demo_photos()
    found = {}
    for asset in ProjectAsset.objects.filter(sha256__in=[sha for *_, sha in photos]).order_by("pk"):
        found.setdefault(asset.sha256, asset)
    pool = {}
    for seed, (name, data, sha) in enumerate(photos):
        if sha not in found:
            found[sha] = asset_upload(project=upload_into, uploaded_file=SimpleUploadedFile(name, data, "image/jpeg"))
        pool[seed] = found[sha]
    return pool


# -- pages ------------------------------------------------------------------------------------------------------

def _photo(slot_asset, rng):
    value = {"asset": slot_asset}
    if rng.random() < 0.5:
        value["focal"] = [round(rng.uniform(0.3, 0.7), 2), round(rng.uniform(0.35, 0.65), 2)]
    if rng.random() < 0.3:
        value["scale"] = round(rng.uniform(1.05, 1.4), 2)
    return value


def _design(sku, rng, first, *, finished=True):
    """(title, [photo seeds], pages as a function of {seed: asset id}) of one project; an unfinished book has empty
    pages at its end."""
    if sku == BOOK:
        seeds = rng.sample(range(LANDSCAPES), 6)
        title = rng.choice(BOOK_TITLES)
        filled = 23 if finished else rng.randint(8, 14)

        def pages(ids):
            cover = {"photo": _photo(ids[seeds[0]], rng), "title": {"text": title},
                     "subtitle": {"text": f"{first} · 2026"}}
            inner = [{"slots": {"photo": _photo(ids[seeds[(n + 1) % len(seeds)]], rng),
                                "caption": {"text": CAPTIONS[(n + len(title)) % len(CAPTIONS)]}}}
                     if n < filled else {"slots": {}} for n in range(23)]
            return [{"slots": cover}, *inner]
        return title, seeds, pages
    if sku == MUG:
        seed = rng.randrange(LANDSCAPES)
        line = rng.choice(MUG_LINES)
        return (f"Mug for {first}", [seed],
                lambda ids: [{"slots": {"photo": _photo(ids[seed], rng), "name": {"text": first},
                                        "line": {"text": line}}}])
    seed = LANDSCAPES + rng.randrange(PORTRAITS)
    place = rng.choice(PLACES[seed - LANDSCAPES])
    date = f"{rng.randint(1, 28):02d} · {rng.randint(1, 12):02d} · 2026"
    return (f"{place} canvas", [seed],
            lambda ids: [{"slots": {"photo": _photo(ids[seed], rng), "caption": {"text": place},
                                    "date": {"text": date}}}])


# -- the customer -------------------------------------------------------------------------------------------

def _pages_of(lines, templates):
    return sum(templates[line.sku].min_pages for line in lines if line.sku in templates)


def _choose_customer(lines_by_order, templates, budget):
    """The WooCommerce customer of the demo login: most orders with projects, invoiced ones preferred, whose print
    files fit the budget."""
    orders_of = {}
    for order, lines in lines_by_order.items():
        if order.customer_woo_id > 0:
            orders_of.setdefault(order.customer_woo_id, []).append(order)

    def score(item):
        woo_id, orders = item
        pages = sum(_pages_of(lines_by_order[o], templates) for o in orders)
        paid = sum(o.status in ("processing", "completed") for o in orders)
        return (pages <= budget, len(orders), paid, -pages, -woo_id)

    return max(orders_of.items(), key=score)[0] if orders_of else None


def _customer(store, woo_id):
    """The My Account customer of the first demo shop (its password is set by the login, see demo_customer_login)."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=DEMO_CUSTOMER_EMAIL, defaults={
        "email": DEMO_CUSTOMER_EMAIL, "first_name": "Demo", "last_name": "Customer", "is_staff": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    profile, _ = CustomerProfile.objects.get_or_create(user=user, defaults={
        "store": store, "woo_customer_id": woo_id, "email_confirmed_at": timezone.now()})
    return profile


def demo_customer_login(password):
    """The demo's My Account login, its password (re)set: (what it is for, username), or None."""
    user = get_user_model().objects.filter(username=DEMO_CUSTOMER_EMAIL, customer_profile__isnull=False).first()
    if user is None:
        return None
    user.set_password(password)
    user.save(update_fields=["password"])
    return f"My Account customer login ({reverse('account:login')})", user.username


# -- projects (after the shop's orders) -------------------------------------------------------------------------

def _shop_made_its_file(lines):
    return any(isinstance(meta, dict) and meta.get("key") == "_production_file"
               for line in lines for meta in (line.meta or []))


def _print_selection(lines_by_order, templates, customer_woo_id, budget):
    """The orders whose print files are rendered at load: the customer's, then the newest on-hold ones (a newcomer
    releases one and submits it), then the newest processing ones (the demo submits some at load) that fit; each
    line then goes to its provider with its one render."""
    mine = [o for o in lines_by_order if customer_woo_id and o.customer_woo_id == customer_woo_id]
    on_hold = [o for o in lines_by_order if o.status == "on-hold" and o not in mine]
    processing = [o for o in lines_by_order if o.status == "processing" and o not in mine]
    chosen, left = [], budget

    def newest(orders):
        return sorted(orders, key=lambda o: (o.created_at, o.pk), reverse=True)

    for order in newest(mine) + newest(on_hold) + newest(processing):
        if _shop_made_its_file(lines_by_order[order]):
            continue  # the demo's order whose production file the shop lost (fulfillment.demo_systems.make_trouble)
        pages = _pages_of(lines_by_order[order], templates)
        if pages <= left:
            chosen.append(order)
            left -= pages
    return chosen


def _assets_and_pages(new, pool, selected):
    """Each new project's photos (rows sharing the pool's files) and pages; the lines not rendered now are linked
    and ordered here, in bulk (the others by projects_link_order_lines)."""
    copies = []
    for project, _line, seeds, _pages in new:
        for seed in seeds:
            source = pool[seed]
            if source.project_id != project.pk:
                copies.append(ProjectAsset(
                    project=project, original=source.original.name, image=source.image.name,
                    thumbnail=source.thumbnail.name, width=source.width, height=source.height, format=source.format,
                    size=source.size, sha256=source.sha256))
    ProjectAsset.objects.bulk_create(copies, batch_size=BATCH)
    ids = {(pool[seed].project_id, seed): pool[seed].pk for seed in pool}
    ids.update({(asset.project_id, seed): asset.pk for asset in copies
                for seed in pool if pool[seed].sha256 == asset.sha256})
    ordered = []
    for project, line, seeds, pages in new:
        project.pages = pages({seed: ids[(project.pk, seed)] for seed in seeds})
        if line is not None and line.order_id not in selected:
            project.order_line, project.state = line, ProjectState.ORDERED
            ordered.append(events.ordered_event(project, order=line.order))
    Project.objects.bulk_update([project for project, *_ in new], ["pages", "order_line", "state"],
                                batch_size=BATCH)
    ProjectEvent.objects.bulk_create(ordered, batch_size=BATCH)


def demo_projects(store, index):
    """The projects of the shop's demo order lines (and, in the first shop, the customer's); returns their count."""
    started = time.perf_counter()
    budget = getattr(settings, "DEMO_PRINT_PAGES", DEMO_PRINT_PAGES)
    templates = {sku: t for t in ProductTemplate.objects.filter(store=store)
                 for sku, spec in TEMPLATES.items() if spec["name"] == t.name}
    lines = list(OrderLine.objects.filter(order__store=store, sku__in=list(templates)).exclude(project_ref="")
                 .select_related("order").order_by("order__created_at", "pk"))
    lines_by_order = {}
    for line in lines:
        lines_by_order.setdefault(line.order, []).append(line)

    profile = None
    if index == 0:
        profile = CustomerProfile.objects.filter(user__username=DEMO_CUSTOMER_EMAIL).select_related("user").first()
        if profile is None:
            profile = _customer(store, _choose_customer(lines_by_order, templates, budget))
    owner = profile.user if profile is not None and profile.store_id == store.pk else None
    customer_woo_id = profile.woo_customer_id if owner is not None else None

    refs = [line.project_ref for line in lines] + [_draft_ref(store, n) for n in range(len(DRAFTS))]
    existing = set(Project.objects.filter(ref__in=refs).values_list("ref", flat=True))
    selected = {o.pk for o in _print_selection(lines_by_order, templates, customer_woo_id, budget)}
    new = []  # (unsaved project, its order line or None, photo seeds, pages maker)
    for line in lines:
        if line.project_ref in existing:
            continue
        existing.add(line.project_ref)  # the same id in two lines (a copied cart line): one project
        title, seeds, pages = _design(line.sku, random.Random(line.project_ref), _first_name(line.order))
        mine = owner if customer_woo_id and line.order.customer_woo_id == customer_woo_id else None
        new.append((Project(ref=line.project_ref, store=store, template=templates[line.sku], owner=mine, title=title),
                    line, seeds, pages))
    if owner is not None:
        for number, (sku, title, name) in enumerate(DRAFTS):
            ref = _draft_ref(store, number)
            if ref not in existing and sku in templates:
                _title, seeds, pages = _design(sku, random.Random(ref), name, finished=False)
                new.append((Project(ref=ref, store=store, template=templates[sku], owner=owner, title=title),
                            None, seeds, pages))
    if not new:
        return 0
    with transaction.atomic():
        # Made as drafts, so that the photos can be uploaded into the first; linked to their lines afterwards.
        Project.objects.bulk_create([project for project, *_ in new], batch_size=BATCH)
        ProjectEvent.objects.bulk_create([events.project_created_event(project, user=project.owner, source="demo")
                                          for project, *_ in new], batch_size=BATCH)
        _assets_and_pages(new, _pool_assets(upload_into=new[0][0]), selected)
    linked = projects_link_order_lines(store=store, refs={line.project_ref for _project, line, *_ in new
                                                          if line is not None and line.order_id in selected})
    drafts = [project for project, line, *_ in new if line is None]
    for project in drafts:
        render_request(project=project, purpose=RenderPurpose.PREVIEW, user=owner, reason="demo")
    for render_id in (Render.objects.filter(project__in=[*linked, *drafts], state=RenderState.QUEUED)
                      .order_by("pk").values_list("pk", flat=True)):
        render_execute(render_id)
    logger.info("demo %s: %s projects, %s rendered for print, in %.1f s", store.slug, len(new), len(linked),
                time.perf_counter() - started)
    return len(new)
