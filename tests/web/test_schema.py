"""The API against its own OpenAPI file, with schemathesis (pytest integration, WSGI transport).

Schemathesis reads ``/api/v1/openapi.json`` from the app and sends schema-valid and
schema-violating requests to every operation. Every check runs except one: a schema-valid
request can still be refused, because a string of random bytes that the schema calls a "binary
file" is rarely a photo (``positive_data_acceptance`` would call that 422 a bug). So: no 5xx,
every status and body as documented, and schema-violating requests refused.

The CSRF-protected session routes are exercised with a real session: a signed cookie holding a
known token, which is put into the ``X-CSRF-Token`` header of the cases where schemathesis meant
that header to be valid (its negative cases keep their wrong or missing token, and get 403).
Examples per operation are bounded so the module stays well under a minute.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from faceinsight.web import create_app
from faceinsight.web.security import CSRF_HEADER

EXAMPLES_PER_OPERATION = 25
TOKEN = secrets.token_urlsafe(32)


def make_app(folder: Path):
    return create_app({"TESTING": True, "FACEINSIGHT_UPLOAD_DIR": folder / "uploads",
                       "FACEINSIGHT_INSTANCE_DIR": folder / "instance", "FACEINSIGHT_SWEEP_MINUTES": 0,
                       "REDIS_URL": None, "FACEINSIGHT_MAX_PIXELS": 4_000_000})


def session_cookie(app) -> dict[str, str]:
    """A signed session cookie as the page would have it: an id and the known CSRF token."""
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps({"sid": secrets.token_urlsafe(16), "csrf": TOKEN})
    return {app.config["SESSION_COOKIE_NAME"]: value}


FOLDER = Path(tempfile.mkdtemp(prefix="faceinsight-schema-"))
APP = make_app(FOLDER)  # loaded at collection: schemathesis makes one test per operation from it
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)
schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION)


@pytest.fixture(scope="module", autouse=True)
def _remove_folder():
    yield
    APP.extensions["faceinsight.jobs"].shutdown()
    shutil.rmtree(FOLDER, ignore_errors=True)


def with_valid_token(case) -> None:
    """Give a case the session's CSRF token, unless schemathesis made that header invalid on purpose."""
    negative = case.meta.is_negative_at(ParameterLocation.HEADER)
    if case.headers and CSRF_HEADER in case.headers and not negative:
        case.headers[CSRF_HEADER] = TOKEN


@schema.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api_matches_its_openapi_file(case) -> None:
    with_valid_token(case)
    case.call_and_validate(cookies=session_cookie(APP), excluded_checks=[positive_data_acceptance])
