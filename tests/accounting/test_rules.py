import pytest
from django.core.exceptions import ValidationError

from accounting.choices import Connector
from accounting.connectors import FileConnector, connector_for
from accounting.models import ExportRule
from tests.factories import StoreFactory


@pytest.fixture
def store(db):
    return StoreFactory(slug="fr", name="Photo Cadeau FR")


def test_a_new_rule_exports_completed_orders_through_the_file_connector(store):
    rule = ExportRule.objects.create(store=store)

    assert (rule.enabled, rule.statuses, rule.connector, rule.directory) == (True, ["completed"], Connector.FILE, "")
    assert store.export_rule == rule


def test_statuses_are_stripped_lower_case_each_once_and_without_the_wc_prefix(store):
    rule = ExportRule(store=store, statuses=[" Completed", "wc-Invoiced ", "completed", "", "ready-for-pickup"],
                      directory="  /srv/boekhouding  ")

    rule.full_clean()

    assert rule.statuses == ["completed", "invoiced", "ready-for-pickup"]
    assert rule.directory == "/srv/boekhouding"


@pytest.mark.parametrize("statuses, message", [
    ([], "Choose at least one status."),
    (["  ", ""], "Choose at least one status."),
    (["on hold"], "on hold is not a status slug (letters, digits, '-' and '_')."),
    (["completed", "paid!"], "paid! is not a status slug (letters, digits, '-' and '_')."),
    ({"completed": True}, "Give a list of status slugs."),
])
def test_a_rule_needs_at_least_one_valid_status(store, statuses, message):
    rule = ExportRule(store=store, statuses=statuses)

    with pytest.raises(ValidationError) as error:
        rule.full_clean()

    assert set(error.value.message_dict) == {"statuses"}
    assert message in error.value.message_dict["statuses"]


def test_the_file_connector_writes_under_the_setting_unless_the_rule_names_a_directory(store, settings, tmp_path):
    settings.ACCOUNTING_EXPORT_DIR = tmp_path / "exports"
    rule = ExportRule.objects.create(store=store)

    default = connector_for(rule)
    rule.directory = "/mnt/boekhouding"
    named = connector_for(rule)

    assert isinstance(default, FileConnector) and (default.directory, default.create) == (tmp_path / "exports" / "fr",
                                                                                         True)
    assert (str(named.directory), named.create) == ("/mnt/boekhouding", False)
