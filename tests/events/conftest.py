"""The events tests' fixtures: a webhook receiver, and a logged-in admin's client."""

from __future__ import annotations

import pytest

from tests.helpers.admin import login, make_admin
from tests.helpers.webhook_receiver import Receiver


@pytest.fixture()
def receiver():
    """A webhook receiver on loopback that keeps what it was sent."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def admin_client(app, client):
    """A test client logged in as an admin."""
    make_admin(app)
    login(client)
    return client
