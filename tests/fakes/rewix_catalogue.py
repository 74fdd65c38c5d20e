"""The fake Rewix supplier's starting catalogue: three fashion products and their models, shaped as products.json.

Stock ids are the ones the reference's examples use (234225, 234230, 234231). Prices are JSON numbers, as the
platform sends them: reading them without floats is the client's job.
"""

import copy


def _model(stock_id, size, color, code, barcode, availability, backorder=False):
    return {"id": stock_id, "model": size, "size": size, "color": color, "code": code, "barcode": barcode,
            "availability": availability, "backorder": backorder}


def _tags(brand, category, gender):
    return [{"name": name, "value": {"value": value, "localeValues": {"en_US": {"value": value}}}}
            for name, value in (("brand", brand), ("category", category), ("gender", gender))]


PRODUCTS = [
    {
        "id": 18301, "name": "Leather low-top sneakers", "code": "GF-SN1830", "taxable": 42.5,
        "suggestedPrice": 89.0, "streetPrice": 119.0, "online": True,
        "images": [{"id": 90311, "url": "/prod/stock_product_image_18301_1.jpg"}],
        "tags": _tags("Gianfranco Ferré", "Shoes", "Men"),
        "models": [
            _model(234225, "40", "White", "GF-SN1830-WHITE-40", "8052345018304", 12),
            _model(234226, "41", "White", "GF-SN1830-WHITE-41", "8052345018311", 3),
            _model(234227, "42", "White", "GF-SN1830-WHITE-42", "8052345018328", 0, backorder=True),
        ],
    },
    {
        "id": 22140, "name": "Wool blend scarf", "code": "TR-SC2214", "taxable": 18.2,
        "suggestedPrice": 39.0, "streetPrice": 55.0, "online": True,
        "images": [{"id": 90402, "url": "/prod/stock_product_image_22140_1.jpg"}],
        "tags": _tags("Trussardi", "Accessories", "Women"),
        "models": [_model(234230, "UNI", "Grey melange", "TR-SC2214-GREY-UNI", "8052345022141", 8)],
    },
    {
        "id": 31577, "name": "Denim trucker jacket", "code": "LJ-JK3157", "taxable": 55.0,
        "suggestedPrice": 115.0, "streetPrice": 149.9, "online": True,
        "images": [{"id": 90517, "url": "/prod/stock_product_image_31577_1.jpg"}],
        "tags": _tags("Love Moschino", "Jackets", "Women"),
        "models": [
            _model(234231, "M", "Indigo", "LJ-JK3157-INDIGO-M", "8052345031570", 5),
            _model(234232, "L", "Indigo", "LJ-JK3157-INDIGO-L", "8052345031587", 2),
        ],
    },
]


def starting_products():
    return copy.deepcopy(PRODUCTS)
