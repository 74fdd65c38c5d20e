import pytest

from fulfillment.carriers import carrier_named, normalised_tracking_number, tracking_number_problem


@pytest.mark.parametrize(("carrier", "number"), [
    ("DHL Express", "1234567890"),
    ("DHL Express", "JD014600006123456789"),
    ("UPS", "1Z999AA10123456784"),
    ("ups", "1z999aa10123456784"),
    ("FedEx", "123456789012"),
    ("FedEx", "123456789012345"),
    ("USPS", "9400111899223100000000"),
    ("USPS", "EA123456789US"),
    ("PostNL", "3SABCD1234567"),
    ("PostNL", "RR123456789NL"),
    ("DPD", "01234567890123"),
    ("Royal Mail", "AB123456789GB"),
    ("Colissimo", "6A12345678901"),
    ("La Poste", "RR123456789FR"),
    # Carriers whose networks use many forms: the generic rule only
    ("DHL", "JJD000390007722316"),
    ("DHL", "00340434161234567890"),
    ("GLS", "12345678901"),
    ("Evri", "H01HYA0001234567"),
    ("Australia Post", "33ABC1234567"),
    # A carrier we do not know
    ("Fastway", "FW-123456"),
])
def test_numbers_of_the_carriers_form_are_accepted(carrier, number):
    assert tracking_number_problem(carrier, number) == ""


@pytest.mark.parametrize(("carrier", "number", "problem"), [
    ("PostNL", "1Z999AA10123456784",
     "A PostNL tracking number looks like 3SABCD1234567 (letters and digits, no spaces); check the number or the "
     "carrier."),
    ("UPS", "3SABCD1234567",
     "A UPS tracking number looks like 1Z999AA10123456784 (letters and digits, no spaces); check the number or the "
     "carrier."),
    ("DHL Express", "12345678901",
     "A DHL Express tracking number looks like 1234567890 (letters and digits, no spaces); check the number or the "
     "carrier."),
    ("Royal Mail", "AB123456789FR",
     "A Royal Mail tracking number looks like AB123456789GB (letters and digits, no spaces); check the number or the "
     "carrier."),
    ("FedEx", "1234 5678 9012",
     "A FedEx tracking number looks like 123456789012 (letters and digits, no spaces); check the number or the "
     "carrier."),
    ("DHL", "ABC1", "A tracking number has 5 to 40 letters, digits or dashes, without spaces."),
    ("DHL", "JJD 0003 9000", "A tracking number has 5 to 40 letters, digits or dashes, without spaces."),
    ("Fastway", "FW/123456", "A tracking number has 5 to 40 letters, digits or dashes, without spaces."),
    ("Fastway", "X" * 41, "A tracking number has 5 to 40 letters, digits or dashes, without spaces."),
])
def test_numbers_not_of_the_carriers_form_are_refused_with_an_example(carrier, number, problem):
    assert tracking_number_problem(carrier, number) == problem


@pytest.mark.parametrize(("name", "number", "kwargs", "url"), [
    ("UPS", "1Z999AA10123456784", {}, "https://www.ups.com/track?tracknum=1Z999AA10123456784"),
    ("fedex", "123456789012", {}, "https://www.fedex.com/fedextrack/?trknbr=123456789012"),
    ("PostNL", "3SABCD1234567", {"postcode": "1011 AB", "country": "NL"},
     "https://postnl.nl/tracktrace/?B=3SABCD1234567&P=1011AB&D=NL&T=C"),
    ("Hermes", "H01HYA0001234567", {}, "https://www.evri.com/track/parcel/H01HYA0001234567"),
    ("La Poste", "6A12345678901", {}, "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901"),
    ("Royal Mail", "AB123456789GB", {},
     "https://www.royalmail.com/track-your-item#/tracking-results/AB123456789GB"),
])
def test_a_known_carrier_has_its_tracking_page(name, number, kwargs, url):
    assert carrier_named(name).tracking_url(number, **kwargs) == url


def test_carriers_are_found_by_name_or_alias_in_any_case():
    assert carrier_named("  dhl   express ").name == "DHL Express"
    assert carrier_named("HERMES UK").name == "Evri"
    assert carrier_named("Fastway") is None
    assert carrier_named("") is None


def test_a_providers_number_loses_its_spaces():
    assert normalised_tracking_number(" 1Z 999 AA1 0123 4567 84 ") == "1Z999AA10123456784"
