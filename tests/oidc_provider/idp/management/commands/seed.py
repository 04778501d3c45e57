"""Register the gateway as a client and add people in groups:

    manage.py seed --client-id ID --client-secret S --redirect-uri URI \
        --logout-uri URI --person alice:password:research,leads
"""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from oidc_provider.models import Client, ResponseType, RSAKey


def new_rsa_key() -> RSAKey:
    """A fresh 2048-bit signing key (a new ``kid``)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return RSAKey.objects.create(key=pem)


class Command(BaseCommand):
    help = "Register the gateway as a client and add people in groups."

    def add_arguments(self, parser):
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret", required=True)
        parser.add_argument("--redirect-uri", action="append", default=[])
        parser.add_argument("--logout-uri", action="append", default=[])
        parser.add_argument(
            "--person", action="append", default=[], help="name:password:group,group"
        )

    def handle(self, *args, **options):
        if not RSAKey.objects.exists():
            new_rsa_key()
        client, _ = Client.objects.update_or_create(
            client_id=options["client_id"],
            defaults={
                "name": "ollama-gate",
                "client_type": "confidential",
                "client_secret": options["client_secret"],
                "jwt_alg": "RS256",
                "require_consent": True,  # the consent page, as many providers show
                "reuse_consent": False,
            },
        )
        client.redirect_uris = options["redirect_uri"]
        client.post_logout_redirect_uris = options["logout_uri"]
        client.save()
        client.response_types.set([ResponseType.objects.get(value="code")])
        for spec in options["person"]:
            name, password, groups = spec.split(":", 2)
            user, _ = User.objects.get_or_create(
                username=name, defaults={"email": f"{name}@example.com"}
            )
            user.set_password(password)
            user.save()
            user.groups.set(
                [Group.objects.get_or_create(name=g)[0] for g in groups.split(",") if g]
            )
        self.stdout.write("seeded")
