"""Sign-in with the company's identity provider (OpenID Connect, with Authlib):
``/auth/oidc/login`` and ``/auth/oidc/callback``, the rules that map a person's
groups to a team and a role (``rules``, ``people``), and the provider's sign-out
(``logout``). Off until ``OLLAMA_GATE_OIDC_ISSUER`` is set; until then nothing of
Authlib (nor the cryptography it needs) is imported: about 11 MB per worker."""

from __future__ import annotations

from flask import Flask

from .settings import enabled


def init_app(app: Flask) -> None:
    """Register the pages and, when a provider is configured, its client and the
    login page's button."""
    settings = app.config["GATE"]
    label = None
    if enabled(app):
        from . import client
        from .views import bp

        app.register_blueprint(bp)
        for needed in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
            if not settings[needed]:
                raise RuntimeError(
                    f"OLLAMA_GATE_{needed} is needed with OLLAMA_GATE_OIDC_ISSUER"
                )
        client.register(app)
        label = settings["OIDC_LABEL"]
    app.add_template_global(label, "oidc_label")  # None: no button
