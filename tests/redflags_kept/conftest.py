"""Every request here comes from one of our own pages, as a browser says it does: a kept
report needs that (``kept_reports._same_site``); the tests that say otherwise set their own."""

import pytest


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    return client
