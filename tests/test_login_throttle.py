"""Logins throttled (django-axes, backoffice/login_throttle.py): the admin's and My Account's."""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse

from tests.factories import UserFactory
from tests.projects.factories import CustomerFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pass-1234-word"
ADMIN_LOGIN = reverse("admin:login")
ACCOUNT_LOGIN = reverse("account:login")


def log_in(client, url, username, password, ip="10.0.0.1", **headers):
    return client.post(url, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip,
                       **headers)


def fail(client, url, username, times, ip="10.0.0.1"):
    for _ in range(times):
        response = log_in(client, url, username, "wrong-password", ip=ip)
        assert response.status_code == 200  # the form again, with its error


def test_the_admin_locks_a_username_and_address_out_after_the_limit_and_says_so(client, caplog):
    UserFactory(username="support")
    fail(client, ADMIN_LOGIN, "support", settings.AXES_FAILURE_LIMIT - 1)
    with caplog.at_level(logging.WARNING, logger="backoffice.security"):
        response = log_in(client, ADMIN_LOGIN, "support", "wrong-password")
    assert response.status_code == 429
    assert "Too many failed logins for this account from your address" in response.content.decode()
    assert "15 minutes" in response.content.decode()
    [record] = [r for r in caplog.records if r.name == "backoffice.security"]
    assert "login locked out: username 'support' from 10.0.0.1 on /admin/login/" in record.getMessage()

    # Locked out: the right password does not open it either, and no session is made.
    response = log_in(client, ADMIN_LOGIN, "support", PASSWORD)
    assert response.status_code == 429 and "_auth_user_id" not in client.session

    # Another address, or another username from this address, is not held up.
    assert log_in(client, ADMIN_LOGIN, "support", PASSWORD, ip="10.0.0.2").status_code == 302
    client.logout()
    UserFactory(username="operations")
    assert log_in(client, ADMIN_LOGIN, "operations", PASSWORD).status_code == 302


def test_after_the_cool_off_the_login_works_and_a_success_forgets_the_failures(client):
    UserFactory(username="finance")
    fail(client, ADMIN_LOGIN, "finance", settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, ADMIN_LOGIN, "finance", "wrong-password").status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert log_in(client, ADMIN_LOGIN, "finance", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.exists()  # AXES_RESET_ON_SUCCESS
    client.logout()
    fail(client, ADMIN_LOGIN, "finance", settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, ADMIN_LOGIN, "finance", PASSWORD).status_code == 302


def test_my_account_locks_out_too_in_the_visitors_language(client):
    CustomerFactory(username="ana@example.com")
    fail(client, ACCOUNT_LOGIN, "ana@example.com", settings.AXES_FAILURE_LIMIT - 2)
    # The address in another case is the same account: it counts against the same lock.
    fail(client, ACCOUNT_LOGIN, "Ana@Example.com ", 1)
    response = log_in(client, ACCOUNT_LOGIN, "ana@example.com", "wrong-password", headers={"Accept-Language": "fr"})
    assert response.status_code == 429
    html = response.content.decode()
    assert "Trop de connexions" in html and 'id="locked-out"' in html
    assert log_in(client, ACCOUNT_LOGIN, "ana@example.com", PASSWORD).status_code == 429


def test_logins_without_a_request_are_not_throttled(client):
    """The test client's login() (and the shell's authenticate()) come from no address: not counted, not refused."""
    UserFactory(username="support")
    fail(client, ADMIN_LOGIN, "support", settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, ADMIN_LOGIN, "support", "wrong-password").status_code == 429
    assert client.login(username="support", password=PASSWORD)
    client.logout()
    assert not client.login(username="support", password="wrong-password")
