"""The dashboard's revenue (per store and currency, less refunds) and production pipeline, and the order list's
production filter its figures link to."""

from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst

from fulfillment.choices import OrderType, RefundState, SubmissionState, SubmitStatus
from fulfillment.models import Order, Refund, Shipment, Submission
from fulfillment.selectors import dashboard
from fulfillment.selectors.pipeline import STAGES, stage_orders
from tests.conftest import on_postgres
from tests.factories import OrderFactory, ProviderFactory, StoreFactory, UserFactory

# The dashboard and the list count from the real clock: the orders are placed around it.
NOW = timezone.now()
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def empty_cache(db):
    cache.clear()
    yield
    cache.clear()


def operations(client):
    user = UserFactory(username="operations")
    user.groups.add(Group.objects.get(name="operations"))
    client.force_login(user)
    return client


def days_ago(n, hour=10):
    return (NOW - timedelta(days=n)).replace(hour=hour, minute=0)


# -- revenue --------------------------------------------------------------------------------------------------


def two_stores_in_two_currencies():
    """A Dutch store selling in EUR (and GBP to British customers, through a currency switcher) and a British one
    in GBP; paid, refunded, unpaid and cancelled orders over the last 30 days and before."""
    nl, uk = StoreFactory(slug="nl", name="Fotocadeau NL"), StoreFactory(slug="uk", name="Photo Gifts UK",
                                                                         currency="GBP")
    orders = {
        # counted
        "nl_processing": OrderFactory(store=nl, status="processing", total=Decimal("0.10"), created_at=days_ago(1)),
        "nl_completed": OrderFactory(store=nl, status="completed", total=Decimal("0.20"), created_at=days_ago(1)),
        "nl_refunded_part": OrderFactory(store=nl, status="completed", total=Decimal("100.00"),
                                         created_at=days_ago(3)),
        "nl_refunded_all": OrderFactory(store=nl, status="refunded", total=Decimal("25.00"), created_at=days_ago(3)),
        "nl_held_after_payment": OrderFactory(store=nl, status="on-hold", total=Decimal("10.00"),
                                              paid_at=days_ago(2), created_at=days_ago(2)),
        "nl_gbp": OrderFactory(store=nl, status="processing", currency="GBP", total=Decimal("30.00"),
                               created_at=days_ago(1)),
        "uk_processing": OrderFactory(store=uk, status="processing", currency="GBP", total=Decimal("45.50"),
                                      created_at=days_ago(29, hour=0)),  # the first of the 30 days
        # not counted
        "nl_cancelled": OrderFactory(store=nl, status="cancelled", total=Decimal("500.00"), paid_at=days_ago(1),
                                     created_at=days_ago(1)),
        "nl_bank_transfer_on_hold": OrderFactory(store=nl, status="on-hold", total=Decimal("70.00"),
                                                 created_at=days_ago(1)),
        "nl_pending": OrderFactory(store=nl, status="pending", total=Decimal("80.00"), created_at=days_ago(1)),
        "nl_failed": OrderFactory(store=nl, status="failed", total=Decimal("90.00"), created_at=days_ago(1)),
        "uk_too_old": OrderFactory(store=uk, status="completed", currency="GBP", total=Decimal("999.00"),
                                   created_at=days_ago(30)),
    }
    refund = {"created_at": NOW - timedelta(hours=1)}
    Refund.objects.create(order=orders["nl_refunded_part"], amount=Decimal("12.34"), woo_refund_id=1, **refund)
    Refund.objects.create(order=orders["nl_refunded_part"], amount=Decimal("0.66"), state=RefundState.PENDING,
                          **refund)  # made here, on its way to WooCommerce: counts, as on the order page
    Refund.objects.create(order=orders["nl_refunded_part"], amount=Decimal("50.00"), state=RefundState.FAILED,
                          **refund)  # WooCommerce refused it: does not count
    Refund.objects.create(order=orders["nl_refunded_all"], amount=Decimal("25.00"), woo_refund_id=2, **refund)
    Refund.objects.create(order=orders["nl_cancelled"], amount=Decimal("500.00"), woo_refund_id=3, **refund)
    Refund.objects.create(order=orders["uk_too_old"], amount=Decimal("9.00"), woo_refund_id=4, **refund)
    return nl, uk, orders


def test_revenue_per_store_and_currency_counts_paid_orders_less_their_refunds(db):
    # Given two stores, orders in EUR and GBP, refunds that count and one that does not, unpaid and cancelled ones
    nl, uk, _orders = two_stores_in_two_currencies()

    # When the dashboard is computed
    rows = {row["store"].slug: row for row in dashboard(now=NOW)}

    # Then each store has its revenue per currency: paid orders' totals less the refunds that count, to the cent
    # (0.10 + 0.20 is 0.30, not a float's 0.30000000000000004), EUR never added to GBP
    assert rows["nl"]["revenue"] == [
        {"currency": "EUR", "orders": 5, "gross": Decimal("135.30"), "refunds": Decimal("38.00"),
         "net": Decimal("97.30")},
        {"currency": "GBP", "orders": 1, "gross": Decimal("30.00"), "refunds": Decimal("0.00"),
         "net": Decimal("30.00")},
    ]
    assert rows["uk"]["revenue"] == [
        {"currency": "GBP", "orders": 1, "gross": Decimal("45.50"), "refunds": Decimal("0.00"),
         "net": Decimal("45.50")}]
    assert all(isinstance(money[key], Decimal) for row in rows.values() for money in row["revenue"]
               for key in ("gross", "refunds", "net"))


def test_revenue_per_day_is_per_currency_and_puts_refunds_on_their_order_s_day(db):
    # Given the same orders
    nl, uk, _orders = two_stores_in_two_currencies()

    # When the dashboard is computed
    rows = {row["store"].slug: row for row in dashboard(now=NOW)}

    # Then the days are the 30 of the list, per currency, each the net of that day's orders
    eur, gbp = rows["nl"]["revenue_per_day"]["EUR"], rows["nl"]["revenue_per_day"]["GBP"]
    assert [day for day, _ in eur] == [TODAY - timedelta(days=29 - i) for i in range(30)]
    assert {day: value for day, value in eur if value} == {
        TODAY - timedelta(days=1): Decimal("0.30"),
        TODAY - timedelta(days=2): Decimal("10.00"),
        TODAY - timedelta(days=3): Decimal("87.00"),  # 125.00 paid, 38.00 refunded today: on the orders' day
    }
    assert {day: value for day, value in gbp if value} == {TODAY - timedelta(days=1): Decimal("30.00")}
    assert sum(value for _, value in eur) == rows["nl"]["revenue"][0]["net"]
    assert set(rows["uk"]["revenue_per_day"]) == {"GBP"}
    assert rows["uk"]["revenue_per_day"]["GBP"][0] == (TODAY - timedelta(days=29), Decimal("45.50"))
    # and the orders per day still count every order, in any currency and status
    assert dict(rows["nl"]["per_day"])[TODAY - timedelta(days=1)] == 7


def test_dashboard_page_shows_revenue_and_a_chart_per_currency(client):
    # Given the same orders
    nl, uk, _orders = two_stores_in_two_currencies()

    # When operations open the admin's home page
    html = operations(client).get(reverse("admin:index")).content.decode()

    # Then each store shows its revenue per currency beside its counts, and one revenue chart per currency
    card_nl = html.split("<h2>Fotocadeau NL</h2>")[1].split("</section>")[0]
    card_uk = html.split("<h2>Photo Gifts UK</h2>")[1].split("</section>")[0]
    assert "<strong>97.30 EUR</strong> revenue, last 30 days" in card_nl
    assert "5 paid orders, 135.30 EUR, less 38.00 EUR refunded" in card_nl
    assert "<strong>30.00 GBP</strong> revenue, last 30 days" in card_nl
    assert "1 paid order, 30.00 GBP, less 0.00 GBP refunded" in card_nl
    assert "<strong>45.50 GBP</strong> revenue, last 30 days" in card_uk and "EUR" not in card_uk
    assert "Revenue per day in EUR" in card_nl and "Revenue per day in GBP" in card_nl
    assert card_nl.count("<svg") == 3 and card_uk.count("<svg") == 2  # orders per day, then one per currency
    day = (TODAY - timedelta(days=3)).isoformat()
    assert f"<title>{day}: 87.00 EUR</title>" in card_nl
    assert f"<title>{(TODAY - timedelta(days=1)).isoformat()}: 30.00 GBP</title>" in card_nl
    assert "max 87.00 EUR" in card_nl and "max 30.00 GBP" in card_nl


def test_a_store_with_no_paid_order_says_so(client):
    store = StoreFactory(slug="nl", name="Fotocadeau NL")
    OrderFactory(store=store, status="pending", created_at=NOW - timedelta(days=1))

    html = operations(client).get(reverse("admin:index")).content.decode()

    card = html.split("<h2>Fotocadeau NL</h2>")[1].split("</section>")[0]
    assert "<strong>0</strong> paid orders in the last 30 days" in card
    assert card.count("<svg") == 1  # the orders per day; no revenue chart


# -- the production pipeline ------------------------------------------------------------------------------------


def pipeline_orders(store, *, prefix):
    """One store's orders at every stage of the pipeline and beside it, by name."""
    provider, other = ProviderFactory(store=store, name="Printful"), ProviderFactory(store=store, name="Inhouse")
    base = {"store": store, "status": "processing", "order_type": OrderType.IN_APP}
    made = {}

    def order(name, submissions=(), shipped=(), **fields):
        made[name] = o = OrderFactory(**{**base, **fields})
        for n, (at, state) in enumerate(submissions):
            Submission.objects.create(order=o, provider=at, state=state, external_id=f"{prefix}-{o.woo_id}-{n}")
        for n, day in enumerate(shipped):
            Shipment.objects.create(order=o, carrier="DHL", tracking_number=f"{prefix}{o.woo_id}{n}", shipped_on=day)
        return o

    submitted = [(provider, SubmissionState.SUBMITTED)]
    # waiting
    order("countdown", countdown_due_at=NOW + timedelta(minutes=20))
    order("ready_to_submit")
    # submitted, not yet accepted
    order("queued", submissions=[(provider, SubmissionState.QUEUED)])
    order("sending", submissions=[(provider, SubmissionState.SUBMITTING)])
    order("half_accepted", submissions=[(provider, SubmissionState.SUBMITTED), (other, SubmissionState.QUEUED)])
    order("reprint_queued", submit_status=SubmitStatus.NONE, shipped=[TODAY - timedelta(days=40)],
          submissions=[(provider, SubmissionState.REPRINTED), (provider, SubmissionState.QUEUED)])
    # in production
    order("at_provider", submit_status=SubmitStatus.SUBMITTED, submissions=submitted)
    order("at_provider_on_hold", status="on-hold", submit_status=SubmitStatus.SUBMITTED, submissions=submitted)
    order("not_in_app_submitted", order_type=OrderType.OTHER, submit_status=SubmitStatus.SUBMITTED,
          submissions=submitted)
    # shipped in the last 30 days
    order("shipped", status="completed", submit_status=SubmitStatus.SUBMITTED, submissions=submitted,
          shipped=[TODAY - timedelta(days=2)])
    order("partly_shipped", submit_status=SubmitStatus.SUBMITTED, submissions=submitted,
          shipped=[TODAY - timedelta(days=29)])
    # none of them
    order("paused_on_hold", status="on-hold", countdown_paused_seconds=600)
    order("amazon", order_type=OrderType.AMAZON)
    order("failed", submit_status=SubmitStatus.FAILED, submit_error="Printful: 503",
          submissions=[(provider, SubmissionState.FAILED)])
    order("failed_beside_queued", submit_status=SubmitStatus.FAILED, submit_error="Inhouse: no file",
          submissions=[(provider, SubmissionState.QUEUED), (other, SubmissionState.FAILED)])
    order("cancelled_after_submission", status="cancelled", submit_status=SubmitStatus.SUBMITTED,
          submissions=submitted)
    order("completed_by_hand", status="completed", submit_status=SubmitStatus.SUBMITTED, submissions=submitted)
    order("shipped_long_ago", status="completed", submit_status=SubmitStatus.SUBMITTED, submissions=submitted,
          shipped=[TODAY - timedelta(days=30)])
    order("shipped_without_production", order_type=OrderType.OTHER, status="completed",
          shipped=[TODAY - timedelta(days=1)])
    order("submission_cancelled", submissions=[(provider, SubmissionState.CANCELLED)])
    return made


EXPECTED = {
    "waiting": {"countdown", "ready_to_submit", "submission_cancelled"},
    "submitted": {"queued", "sending", "half_accepted", "reprint_queued"},
    "in_production": {"at_provider", "at_provider_on_hold", "not_in_app_submitted"},
    "shipped": {"shipped", "partly_shipped"},
}


def test_each_stage_holds_exactly_its_orders(db):
    # Given orders at every stage and beside the pipeline
    store = StoreFactory(slug="nl")
    made = pipeline_orders(store, prefix="nl")
    names = {o.pk: name for name, o in made.items()}

    # Then each stage is exactly the orders it should be, and no order is at two stages
    for stage in STAGES:
        assert {names[pk] for pk in stage_orders(stage, today=TODAY).values_list("pk", flat=True)} == \
            EXPECTED[stage], stage
    staged = [name for names_at in EXPECTED.values() for name in names_at]
    assert len(staged) == len(set(staged))


def test_dashboard_counts_the_pipeline_per_store_and_links_each_stage_to_its_orders(client):
    # Given two stores with orders at every stage (and a third with none)
    nl, uk = StoreFactory(slug="nl", name="Fotocadeau NL"), StoreFactory(slug="uk", name="Photo Gifts UK")
    StoreFactory(slug="be", name="Cadeau BE")
    made = {"nl": pipeline_orders(nl, prefix="nl"), "uk": pipeline_orders(uk, prefix="uk")}
    Submission.objects.filter(order=made["uk"]["queued"]).delete()  # the UK store has one order less submitted

    # When the dashboard is computed, and shown to operations
    rows = {row["store"].slug: row for row in dashboard(now=NOW)}
    html = operations(client).get(reverse("admin:index")).content.decode()

    # Then each store counts its orders at each stage
    assert rows["nl"]["pipeline"] == {"waiting": 3, "submitted": 4, "in_production": 3, "shipped": 2}
    assert rows["uk"]["pipeline"] == {"waiting": 4, "submitted": 3, "in_production": 3, "shipped": 2}
    assert rows["be"]["pipeline"] == {"waiting": 0, "submitted": 0, "in_production": 0, "shipped": 0}
    assert rows["nl"]["failed_submissions"] == 2

    # and each figure links to the order list filtered to that store and stage, which lists exactly those orders
    for slug, store in (("nl", nl), ("uk", uk)):
        card = html.split(f"<h2>{store.name}</h2>")[1].split("</section>")[0]
        expected = {**EXPECTED, "waiting": EXPECTED["waiting"] | ({"queued"} if slug == "uk" else set()),
                    "submitted": EXPECTED["submitted"] - ({"queued"} if slug == "uk" else set())}
        for stage, label in STAGES.items():
            link = card.split(f'class="stage-{stage}"')[0].rsplit('<a href="', 1)[1].split('"')[0]
            link = link.replace("&amp;", "&")
            assert parse_qs(urlsplit(link).query) == {"store__id__exact": [str(store.pk)], "production": [stage]}
            assert f'<strong>{rows[slug]["pipeline"][stage]}</strong> {label}' in card
            response = client.get(link)
            assert response.status_code == 200
            listed = {o.pk for o in response.context["cl"].result_list}
            assert listed == {made[slug][name].pk for name in expected[stage]}, (slug, stage)


def test_production_filter_offers_the_stages_and_combines_with_the_others(client):
    # Given orders at every stage in one store
    store = StoreFactory(slug="nl")
    made = pipeline_orders(store, prefix="nl")
    url = reverse("admin:fulfillment_order_changelist")
    operations(client)

    # When the list is filtered by a stage and a status
    response = client.get(f"{url}?production=in_production&status=on-hold")

    # Then only the orders at that stage in that status are listed, and the filter offers every stage
    assert [o.pk for o in response.context["cl"].result_list] == [made["at_provider_on_hold"].pk]
    html = response.content.decode()
    for stage, label in STAGES.items():
        assert f"production={stage}" in html and capfirst(str(label)) in html
    # and a crafted stage leaves the list as it is
    everything = client.get(url).context["cl"].result_count
    assert client.get(f"{url}?production=nonsense").context["cl"].result_count == everything


@pytest.mark.parametrize("stage", list(STAGES))
def test_list_at_each_stage_takes_a_constant_number_of_queries(client, stage, django_assert_max_num_queries):
    # Given two stores' orders at every stage
    for slug in ("nl", "uk"):
        pipeline_orders(StoreFactory(slug=slug), prefix=slug)
    operations(client)
    url = reverse("admin:fulfillment_order_changelist")

    # When the list is shown at a stage, cold and warm, for all stores and for one
    with django_assert_max_num_queries(10):
        cold = client.get(f"{url}?production={stage}")
    with django_assert_max_num_queries(10):
        warm = client.get(f"{url}?production={stage}&store__id__exact={StoreFactory(slug='nl').pk}")

    # Then it shows the orders of the stage
    assert cold.status_code == warm.status_code == 200
    assert cold.context["cl"].result_count == 2 * len(EXPECTED[stage])
    assert warm.context["cl"].result_count == len(EXPECTED[stage])


def test_dashboard_costs_the_same_queries_with_the_pipeline_and_revenue_of_one_store_or_five(
        client, django_assert_num_queries):
    # Given one store with orders at every stage, refunds and two currencies
    def add(n):
        store = StoreFactory(slug=f"s{n}", name=f"Shop {n}")
        made = pipeline_orders(store, prefix=f"s{n}")
        OrderFactory(store=store, currency="GBP", created_at=NOW - timedelta(days=1))
        Refund.objects.create(order=made["shipped"], amount=Decimal("1.00"), created_at=NOW)

    add(1)
    with django_assert_num_queries(9 + on_postgres()):
        one = dashboard()
    cache.clear()
    for n in range(2, 6):
        add(n)
    # stores, statuses, flags (waiting), the other stages, pushes, orders per day (revenue), refunds, accounting's
    # two, dropshipping's; PostgreSQL: the statistics
    with django_assert_num_queries(9 + on_postgres()):
        five = dashboard()
    assert [row["pipeline"] for row in five] == [one[0]["pipeline"]] * 5


# -- indexes (PostgreSQL's plans) -------------------------------------------------------------------------------


def copies(model, template, n, **columns):
    """n copies of a row in one INSERT ... SELECT (generate_series g), columns given as SQL expressions of g."""
    table = model._meta.db_table
    names = [f.column for f in model._meta.concrete_fields if f.column != "id"]
    values = [columns.get(name, f'"{name}"') for name in names]
    with connection.cursor() as cursor:
        cursor.execute(f'INSERT INTO "{table}" ({", ".join(f'"{name}"' for name in names)}) '
                       f'SELECT {", ".join(values)} FROM "{table}", generate_series(1, %s) g WHERE id = %s',
                       [n, template.pk])


@pytest.fixture
def years_of_orders(db):
    """A store's pipeline (pipeline_orders) among 30,000 orders of the past: 20,000 produced, shipped and completed
    (each with its submission and parcel), 10,000 never submitted (not in-app). The stages are a few dozen rows."""
    store = StoreFactory(slug="nl")
    made = pipeline_orders(store, prefix="nl")
    done, other = made["shipped_long_ago"], made["shipped_without_production"]
    copies(Order, done, 20_000, woo_id="1000000 + g", number="'P' || g")
    copies(Order, other, 10_000, woo_id="2000000 + g", number="'O' || g")
    produced = Order.objects.filter(woo_id__gte=1_000_000, woo_id__lt=2_000_000).order_by("pk")
    first = produced.first().pk
    submission = Submission.objects.get(order=done)
    shipment = Shipment.objects.get(order=done)
    copies(Submission, submission, 20_000, order_id=f"{first - 1} + g", external_id="'bulk-' || g")
    copies(Shipment, shipment, 20_000, order_id=f"{first - 1} + g", tracking_number="'JJD' || g")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return made


@pytest.mark.postgres
@pytest.mark.parametrize(("stage", "indexes"), [
    ("waiting", ["order_waiting_submission_idx"]),
    ("submitted", ["submission_due_idx"]),
    ("in_production", ["order_in_production_idx"]),
    ("shipped", ["shipment_shipped_on_idx"]),
])
def test_each_stage_is_read_from_its_indexes_among_years_of_orders(years_of_orders, stage, indexes):
    # Given a stage's count per store (the dashboard) and its first page (the list), among 30,000 orders
    plans = [stage_orders(stage, today=TODAY).values_list("store_id").annotate(n=Count("id")).order_by().explain(),
             stage_orders(stage, today=TODAY).order_by("-created_at", "-id")[:100].explain()]

    # Then PostgreSQL reads the stage's own index, and no table from end to end
    for plan in plans:
        for index in indexes:
            assert index in plan, plan
        assert "Seq Scan" not in plan, plan
    # and the stage holds what it held among a handful of orders
    names = {o.pk: name for name, o in years_of_orders.items()}
    assert {names[pk] for pk in stage_orders(stage, today=TODAY).values_list("pk", flat=True)} == EXPECTED[stage]


def test_shipped_counts_the_last_30_days_of_parcels(db):
    store = StoreFactory(slug="nl")
    order = OrderFactory(store=store, submit_status=SubmitStatus.SUBMITTED, status="completed")
    Shipment.objects.create(order=order, carrier="DHL", tracking_number="JJD0001", shipped_on=date(2026, 11, 8))

    assert list(stage_orders("shipped", today=date(2026, 12, 7))) == [order]  # the 30th day back
    assert list(stage_orders("shipped", today=date(2026, 12, 8))) == []
