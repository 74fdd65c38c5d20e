"""The EU's VIES service (REST API): is a VAT number registered in its member state?"""

from accounting.integrations.vies.client import ViesClient, ViesResult, normalise_vat_id

__all__ = ["ViesClient", "ViesResult", "normalise_vat_id"]
