"""The parts of the Rewix API that are not certain, in one place.

The platform's manual is not public: what the adapter knows comes from the plugins that talk to it (the
WordPress/PrestaShop plugins, BDroppy's, a Java connector) and from integrators' notes
(docs: ../shared/reference/rewix-api.md). Where they differ or say nothing, the choice made is here with its reason,
so that a supplier who behaves otherwise is handled by changing this module only.
"""

import base64
import re
from datetime import UTC, datetime

# -- authentication -------------------------------------------------------------------------------------------------

AUTH_STYLES = ("basic", "bearer")


def authorization(auth, api_key, password):
    """The Authorization header: Basic key:password (every plugin), or Bearer <token> (BDroppy's newer plugins).

    With "bearer" the token is given as the api_key; the password is not sent.
    """
    if auth == "bearer":
        return f"Bearer {api_key}"
    pair = f"{api_key}:{password}".encode()
    return f"Basic {base64.b64encode(pair).decode('ascii')}"


# -- catalogue ------------------------------------------------------------------------------------------------------

CATALOGUE_PATH = "/restful/export/api/products.json"
CATALOGUE_VERSION = "TEAL"  # the `v` every plugin sends
# The answer is shaped like a page ({"pageItems", "totalItems"}), but every plugin reads one answer as the whole
# catalogue. We read the first answer without a page parameter; only if its totalItems says more products exist do
# we ask for the next ones with ?page=2, 3… (the parameter's name is our guess). A page that brings nothing new
# (the platform ignored the parameter) ends the loop, and an incomplete catalogue is an error, never a partial list:
# a sync must not disable products it merely did not receive.
CATALOGUE_PAGE_PARAM = "page"
CATALOGUE_MAX_PAGES = 200
# `since` asks for the changes only. Integrators report that the platform keeps about four hours of changes and
# answers 412 Precondition Failed ("Incremental validity failed") for an older `since`: then the full catalogue is read.
SINCE_TOO_OLD_STATUS = 412


def format_since(moment):
    """`since` as the integrators send it: ISO-8601 in UTC, e.g. 2026-12-05T14:30:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- orders ---------------------------------------------------------------------------------------------------------

ORDER_DATE_FORMAT = "%Y/%m/%d %H:%M:%S %z"  # the platform's yyyy/MM/dd HH:mm:ss Z
# The lookup's XML names the shop's key `key` in some answers and `ext_ref` (as the JSON does) in others.
ORDER_KEY_FIELDS = ("key", "ext_ref")
# The answer to placing an order is `<root order_id="…">` (the plugins read that attribute as the new order's id and
# then look the order up by key for its status). We return that id; order_by_key() gives the same id with the status.
PLACE_ORDER_PATH = "/restful/ghost/orders/0/dropshipping"

# There is no documented call that lists orders (by date or otherwise): only one order by the shop's key
# (clientorders/clientkey/KEY) or by the platform's id (clientorders/serverkey/ID). orders_since() therefore asks one
# order per key it is given and keeps those changed since the moment; the caller passes the keys of its open orders.
# A supplier that offers a list call would let this become one request.
ORDER_BY_KEY_PATH = "/restful/ghost/clientorders/clientkey/{}"
ORDER_BY_ID_PATH = "/restful/ghost/clientorders/serverkey/{}"

# "This order does not exist" comes as 404, or as 500 (the plugins read every 500 of a lookup so). A 500 is also a
# real fault, and reading a fault as "missing" could make a caller place the order a second time: a 500 counts as
# missing only when its body says so.
MISSING_ORDER_MARKERS = ("does not exist", "not exist", "doesn't exist", "not found", "noresultexception")
DUPLICATE_ORDER_MARKERS = ("already exist", "duplicate")


def says_missing(status, body):
    """Whether an order lookup's answer means "no such order on the platform"."""
    if status == 404:
        return True
    return status == 500 and any(marker in (body or "").lower() for marker in MISSING_ORDER_MARKERS)


def says_duplicate(body):
    return any(marker in (body or "").lower() for marker in DUPLICATE_ORDER_MARKERS)


# -- transport ------------------------------------------------------------------------------------------------------

# Statuses with which a server turns a request away before acting on it: a POST answered so surely did nothing.
NOT_APPLIED_STATUSES = {408, 425, 429, 503}
XML_HEADERS = {"Accept": "application/xml", "Content-Type": "application/xml"}
JSON_HEADERS = {"Accept": "application/json"}

# Dates in answers (an order's last_update, the catalogue's lastUpdate): the plugins never parse them, so we accept
# the platform's order format, ISO-8601 (with or without Z and milliseconds) and epoch milliseconds; a date without
# an offset is UTC.
_EPOCH_MILLIS = re.compile(r"^\d{12,14}$")


def parse_datetime(text):
    """An aware datetime from a date the platform wrote, or None when it is empty or in no known format."""
    text = (text or "").strip()
    if not text:
        return None
    if _EPOCH_MILLIS.match(text):
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    for pattern in (ORDER_DATE_FORMAT, "%Y/%m/%d %H:%M:%S"):
        try:
            moment = datetime.strptime(text, pattern)
            break
        except ValueError:
            continue
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
