"""Country rules for addresses staff correct: the ISO 3166-1 alpha-2 codes and what WooCommerce's checkout asks.

The list is kept here rather than in a package: it changes about once a decade (the last new code, SS, in 2011),
and WooCommerce, whose orders we correct, sends exactly these codes.
"""

# The 249 officially assigned ISO 3166-1 alpha-2 codes (ISO/TC 46, 2023; the same as tzdata's iso3166.tab), and
# XK: Kosovo has no ISO code yet, but WooCommerce offers "XK" at checkout (i18n/countries.php), so its orders
# carry it. Not the other reserved codes (UK: the code is GB; EU), which WooCommerce never sends.
COUNTRY_CODES = frozenset("""
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
    BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH
    ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT
    HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS
    LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
    NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG
    SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
    UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split()) | {"XK"}

# Countries whose addresses we refuse without a state / province. WooCommerce's checkout asks for one in many
# more (its default is "required" unless a country turns it off, and a shop can change that), so an order can
# come without one; we require it only where the post or the carrier cannot deliver, or customs refuse the
# label, without it, and where WooCommerce itself requires it and offers a list to choose from: the US and
# Canadian state/province, the Australian state, the Brazilian and Mexican estado, the Italian and Spanish
# provincia, the Indian state, the Japanese prefecture, the Chinese province. Conservative on purpose: a wrong
# "required" would stop staff correcting a deliverable address.
STATE_REQUIRED = frozenset({"US", "CA", "AU", "BR", "MX", "IT", "ES", "IN", "JP", "CN"})

# Countries where WooCommerce's checkout does not require a postcode (its country locale, postcode
# "required" => false): many have none, and Ireland's Eircode is optional.
POSTCODE_OPTIONAL = frozenset({"AE", "AO", "BD", "BH", "BO", "BS", "CL", "CO", "CW", "GH", "GT", "HK", "IE", "JM",
                               "MZ", "NG", "NP", "SR", "ST", "UG", "VN", "WS", "ZW"})
