"""A real OpenID provider on loopback for the sign-in tests: django-oidc-provider in
a virtualenv of its own (``make oidc-provider`` builds it), behind a small proxy
that can change the ID tokens its token endpoint hands out (``Provider.tamper``).

The provider's public address is the proxy's, on ``localhost``: another site than
the gateway's ``127.0.0.1`` to a browser, so the session cookie's ``SameSite`` rule
is exercised as with a real provider."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.helpers.paths import ROOT
from tests.helpers.services import free_port
from tests.helpers.tamper_proxy import TamperProxy

VENV = Path(
    os.environ.get("OLLAMA_GATE_TEST_OIDC_VENV", ROOT / ".cache/oidc-provider/venv")
)
PYTHON = VENV / "bin" / "python"
MANAGE = ROOT / "tests" / "oidc_provider" / "manage.py"
CLIENT_ID, CLIENT_SECRET = "ollama-gate", "test-client-secret-not-real"
# (name, password, groups): two people in two groups, and one in none
PEOPLE = [
    ("alice", "alice-idp-password", ["research"]),
    ("bob", "bob-idp-password", ["ops", "leads"]),
    ("carol", "carol-idp-password", []),
]


def password_of(name: str) -> str:
    """The provider password of one of ``PEOPLE``."""
    return next(p for n, p, _g in PEOPLE if n == name)


def gateway_env(provider: Provider, **extra: str) -> dict[str, str]:
    """A gateway's settings for ``provider``: research and ops map to teams, leads
    make team admins."""
    return {
        "OLLAMA_GATE_OIDC_ISSUER": provider.issuer,
        "OLLAMA_GATE_OIDC_CLIENT_ID": CLIENT_ID,
        "OLLAMA_GATE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OLLAMA_GATE_OIDC_TEAM_MAP": "research=Research,ops=Operations",
        "OLLAMA_GATE_OIDC_ROLE_MAP": "leads=team_admin",
        "OLLAMA_GATE_OIDC_LABEL": "Test IdP",
        **extra,
    }


def start_gateway(provider: Provider, tmp: Path, backend: str, **env: str):
    """A live gateway (gunicorn) signing in with ``provider``, registered there."""
    from tests.helpers.live import LiveGateway

    gw = LiveGateway(tmp, backend, env=gateway_env(provider, **env))
    provider.allow(gw.url)
    return gw.start()


def provider_missing() -> str | None:
    """Why the provider cannot run here, or None."""
    if not (VENV / ".built").is_file():
        return f"no test OpenID provider at {VENV}"
    return None


class Provider:
    """django-oidc-provider under ``runserver`` on a free port, with a fresh SQLite
    database, behind a ``TamperProxy`` whose address is the issuer's."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.port = free_port()
        self.proxy = TamperProxy(self.port)
        self.url = f"http://localhost:{self.proxy.port}"
        self.issuer = self.url + "/openid"
        self.env = {
            **os.environ,
            "IDP_SITE_URL": self.url,
            "IDP_DATABASE": str(tmp / "idp.db"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.proc: subprocess.Popen | None = None
        self.redirect_uris: list[str] = []
        self.logout_uris: list[str] = []

    def manage(self, *args: str) -> str:
        """Run one of the provider's Django commands; its output."""
        done = subprocess.run(
            [str(PYTHON), str(MANAGE), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]}: {done.stderr[-2000:]}")
        return done.stdout

    def start(self) -> Provider:
        """Create the database, register the client and the people, serve."""
        self.manage("migrate", "-v0")
        self.register()
        log = open(self.tmp / "idp.log", "wb")
        self.proc = subprocess.Popen(
            [str(PYTHON), str(MANAGE), "runserver", f"127.0.0.1:{self.port}"]
            + ["--noreload", "--skip-checks"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.proxy.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.tmp / "idp.log").read_text()[-2000:])
            try:
                requests.get(self.issuer + "/jwks", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the test OpenID provider did not start in 30 s")

    def register(self, people=PEOPLE) -> None:
        """(Re-)register the client with its URIs, and ``people`` (name, password,
        groups)."""
        args = ["seed", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]
        args += [a for uri in self.redirect_uris for a in ("--redirect-uri", uri)]
        args += [a for uri in self.logout_uris for a in ("--logout-uri", uri)]
        for name, password, groups in people:
            args += ["--person", f"{name}:{password}:{','.join(groups)}"]
        self.manage(*args)

    def allow(self, gateway_url: str) -> None:
        """Register a gateway's callback and its way back after signing out."""
        self.redirect_uris.append(gateway_url + "/auth/oidc/callback")
        self.logout_uris.append(gateway_url + "/admin/login")
        self.register()

    def set_groups(self, name: str, groups: list[str]) -> None:
        """Put the person ``name`` in ``groups`` (and no other)."""
        password = next(p for n, p, _g in PEOPLE if n == name)
        self.register([(name, password, groups)])

    def stop(self) -> None:
        """Stop the provider and the proxy."""
        self.proxy.stop()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def signing_key(self) -> tuple[str, str]:
        """(PEM, kid) of the key the provider signs ID tokens with now."""
        with sqlite3.connect(self.env["IDP_DATABASE"]) as conn:
            (pem,) = conn.execute(
                "SELECT key FROM oidc_provider_rsakey ORDER BY id LIMIT 1"
            ).fetchone()
        return pem, hashlib.md5(pem.encode()).hexdigest()

    def rotate_key(self) -> str:
        """A new signing key replaces the old one; its kid."""
        return self.manage("rotatekey").strip()

    def tamper(self, change: Callable[[str], str] | None) -> None:
        """From now on pass each ID token through ``change`` (None: as it is)."""
        self.proxy.tamper = change

    def forge(
        self,
        id_token: str,
        key_pem: str | None = None,
        kid: str | None = None,
        **claims,
    ) -> str:
        """``id_token`` with ``claims`` changed (None: dropped), signed again with
        the provider's own key (or ``key_pem``, under ``kid``)."""
        from joserfc import jwt
        from joserfc.jwk import RSAKey

        token = jwt.decode(id_token, RSAKey.import_key(self.public_pem()))
        pem, own_kid = self.signing_key()
        header = {"alg": "RS256", "kid": kid or own_kid}
        # None drops a claim
        payload = {k: v for k, v in {**token.claims, **claims}.items() if v is not None}
        return jwt.encode(header, payload, RSAKey.import_key(key_pem or pem))

    def public_pem(self) -> str:
        """The public half of the current signing key, as PEM."""
        from joserfc.jwk import RSAKey

        pem, _kid = self.signing_key()
        return RSAKey.import_key(pem).as_pem(private=False).decode()
