"""Production's settings: `manage.py check --deploy` is clean, and they refuse to start with the development secret
key, a weak one, DEBUG on, or without field encryption keys of their own (each run in a fresh process, as gunicorn or
qcluster would start)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backoffice.settings import DEVELOPMENT_FIELD_ENCRYPTION_KEY, DEVELOPMENT_SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "3f9c2a7e1b8d4c6f0a5e9b2d7c1f8a4e6b0d3c9f2a7e5b1d8c4f6a0e9b3d7c2f"
FIELD_KEY, OLD_FIELD_KEY = "q0bG8wH3r7n1mJk2Zp5xYc9vLs4tUe6aRd0fQi3oWgA=", "Mz1sK8dF4hP0wQ7yV2bN6cX9rT3gJ5uE1aL8mZ4kS0o="


def deploy_check(**env):
    """Run `manage.py check --deploy` with production's settings and this environment; (exit code, output)."""
    # A deployment's environment, not the test run's (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE, which the
    # deploy check rightly refuses).
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
         "--settings", "backoffice.settings_production"],
        cwd=ROOT, env={**base, "ALLOWED_HOSTS": "backoffice.example.com", **env}, capture_output=True, text=True,
        timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_the_deploy_check_is_clean_with_a_key_of_its_own():
    code, output = deploy_check(SECRET_KEY=GOOD_KEY, FIELD_ENCRYPTION_KEYS=f"{FIELD_KEY},{OLD_FIELD_KEY}")

    assert (code, output.strip()) == (0, "System check identified no issues (1 silenced).")


@pytest.mark.parametrize(("env", "refusal"), [
    ({}, "SECRET_KEY is not set (the development key would be used)"),
    ({"SECRET_KEY": DEVELOPMENT_SECRET_KEY}, "SECRET_KEY is not set (the development key would be used)"),
    ({"SECRET_KEY": "change-me"}, "SECRET_KEY is too weak"),
    ({"SECRET_KEY": GOOD_KEY, "FIELD_ENCRYPTION_KEYS": FIELD_KEY, "DEBUG": "1"},
     "DEBUG is on: production refuses to start with it"),
    ({"SECRET_KEY": GOOD_KEY}, "FIELD_ENCRYPTION_KEYS is not set (the development key would be used)"),
    ({"SECRET_KEY": GOOD_KEY, "FIELD_ENCRYPTION_KEYS": " , "},
     "FIELD_ENCRYPTION_KEYS is not set (the development key would be used)"),
    ({"SECRET_KEY": GOOD_KEY, "FIELD_ENCRYPTION_KEYS": DEVELOPMENT_FIELD_ENCRYPTION_KEY},
     "FIELD_ENCRYPTION_KEYS holds the development key: production refuses to start with it"),
    ({"SECRET_KEY": GOOD_KEY, "FIELD_ENCRYPTION_KEYS": f"{FIELD_KEY},{DEVELOPMENT_FIELD_ENCRYPTION_KEY}"},
     "FIELD_ENCRYPTION_KEYS holds the development key: production refuses to start with it"),
    ({"SECRET_KEY": GOOD_KEY, "FIELD_ENCRYPTION_KEYS": f"{FIELD_KEY},not-a-fernet-key"},
     "FIELD_ENCRYPTION_KEYS: key 2 is not a Fernet key"),
], ids=["no-key", "development-key", "weak-key", "debug", "no-field-keys", "blank-field-keys",
        "development-field-key", "development-field-key-second", "bad-field-key"])
def test_production_refuses_to_start_with_what_is_only_fit_for_a_laptop(env, refusal):
    code, output = deploy_check(**env)

    assert code != 0
    assert f"django.core.exceptions.ImproperlyConfigured: {refusal}" in output
