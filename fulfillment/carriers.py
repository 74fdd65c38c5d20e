"""Carriers we know: their names, the form of their tracking numbers and the page where a parcel is followed.

Formats are given only where they are well known and stable; a carrier whose networks use many forms (DHL's parcel
services, GLS, bpost, Correos, Poste Italiane, Evri, Australia Post) gets the generic rule only, so that a real
number is never refused for a form we guessed. Any carrier, known or not: 5 to 40 letters, digits or dashes.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from django.utils.translation import gettext as _

GENERIC = re.compile(r"[A-Za-z0-9-]{5,40}")


def _s10(country):
    # The UPU S10 form of international registered mail: two letters, 8 digits and a check digit, the country.
    return rf"[A-Z]{{2}}\d{{9}}{country}"


@dataclass(frozen=True)
class Carrier:
    name: str
    url: str  # {number}; a few also take the shipping address's {postcode} and {country}
    patterns: tuple = ()
    example: str = ""
    aliases: tuple = field(default=())

    def matches(self, number):
        if not GENERIC.fullmatch(number):
            return False
        return not self.patterns or any(re.fullmatch(p, number, re.IGNORECASE) for p in self.patterns)

    def tracking_url(self, number, *, postcode="", country=""):
        return self.url.format(number=quote(number, safe=""), postcode=quote(postcode.replace(" ", ""), safe=""),
                               country=quote(country, safe=""))


CARRIERS = (
    Carrier("DHL", "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id={number}",
            aliases=("DHL Paket", "DHL Parcel", "DHL eCommerce", "Deutsche Post")),
    Carrier("DHL Express",
            "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={number}",
            patterns=(r"\d{10}", r"JD\d{18}"), example="1234567890"),
    Carrier("UPS", "https://www.ups.com/track?tracknum={number}", patterns=(r"1Z[0-9A-Z]{16}",),
            example="1Z999AA10123456784"),
    Carrier("FedEx", "https://www.fedex.com/fedextrack/?trknbr={number}",
            patterns=(r"\d{12}", r"\d{14}", r"\d{15}", r"\d{20}", r"\d{22}", r"DT\d{12}"), example="123456789012"),
    Carrier("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
            patterns=(r"\d{20,22}", r"420\d{5}(\d{4})?\d{20,22}", _s10("US")), example="9400111899223100000000"),
    Carrier("PostNL", "https://postnl.nl/tracktrace/?B={number}&P={postcode}&D={country}&T=C",
            patterns=(r"3S[A-Z0-9]{11,13}", _s10("NL")), example="3SABCD1234567"),
    Carrier("DPD", "https://tracking.dpd.de/status/en_US/parcel/{number}",
            patterns=(r"\d{14}", r"\d{14}[A-Z0-9]", r"\d{28}"), example="01234567890123"),
    Carrier("GLS", "https://gls-group.com/track?match={number}"),
    Carrier("Royal Mail", "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
            patterns=(_s10("GB"),), example="AB123456789GB"),
    Carrier("bpost", "https://track.bpost.cloud/btr/web/#/search?itemCode={number}&lang=en"),
    Carrier("Colissimo", "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
            patterns=(r"\d[A-Z]\d{11}", _s10("FR")), example="6A12345678901", aliases=("La Poste",)),
    Carrier("Correos", "https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number={number}"),
    Carrier("Poste Italiane", "https://www.poste.it/cerca/index.html#/risultati-spedizioni/{number}"),
    Carrier("Evri", "https://www.evri.com/track/parcel/{number}", aliases=("Hermes", "Hermes UK")),
    Carrier("Australia Post", "https://auspost.com.au/mypost/track/details/{number}", aliases=("AusPost",)),
)

_BY_NAME = {name.casefold(): carrier for carrier in CARRIERS for name in (carrier.name, *carrier.aliases)}


def carrier_named(name):
    """The known carrier of this name or alias (any case), or None."""
    return _BY_NAME.get(" ".join((name or "").split()).casefold())


def carrier_names():
    return [carrier.name for carrier in CARRIERS]


def tracking_number_problem(carrier, number):
    """Why a tracking number typed by staff cannot be this carrier's (in staff's words), or "" when it can be."""
    known = carrier_named(carrier)
    if known is not None and known.patterns:
        if known.matches(number):
            return ""
        return _("A %(carrier)s tracking number looks like %(example)s (letters and digits, no spaces); "
                 "check the number or the carrier.") % {"carrier": known.name, "example": known.example}
    if GENERIC.fullmatch(number):
        return ""
    return _("A tracking number has 5 to 40 letters, digits or dashes, without spaces.")


def normalised_tracking_number(number):
    """A number as a provider or supplier gave it, without the spaces some put between its groups."""
    return "".join((number or "").split())
