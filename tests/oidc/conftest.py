"""Fixtures of the sign-in tests: one real OpenID provider for the session, and live
gateways signing in with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.live import LiveGateway
from tests.helpers.oidc import Provider, start_gateway


@pytest.fixture(scope="session")
def idp(tmp_path_factory) -> Iterator[Provider]:
    """The test OpenID provider (django-oidc-provider), started once."""
    provider = Provider(tmp_path_factory.mktemp("idp")).start()
    yield provider
    provider.stop()


@pytest.fixture()
def provider(idp: Provider) -> Iterator[Provider]:
    """The provider, handing out its ID tokens unchanged again after the test."""
    yield idp
    idp.tamper(None)


@pytest.fixture(scope="module")
def sso_gateway(idp, tmp_path_factory, fake_server) -> Iterator[LiveGateway]:
    """A gateway that admits only people in the mapped groups."""
    gw = start_gateway(idp, tmp_path_factory.mktemp("sso"), fake_server.url)
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def open_gateway(idp, tmp_path_factory, fake_server) -> Iterator[LiveGateway]:
    """A gateway that admits unknown people too, into the team Everyone."""
    gw = start_gateway(
        idp,
        tmp_path_factory.mktemp("open"),
        fake_server.url,
        OLLAMA_GATE_OIDC_ALLOW_UNKNOWN="true",
        OLLAMA_GATE_OIDC_DEFAULT_TEAM="Everyone",
    )
    yield gw
    gw.stop()
