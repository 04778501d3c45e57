"""Rotate the signing key: a new key signs from now on, the old one is dropped (so
an ID token's ``kid`` is one a client has not seen)."""

from django.core.management.base import BaseCommand
from oidc_provider.models import RSAKey

from .seed import new_rsa_key


class Command(BaseCommand):
    help = "Replace the signing key with a new one; print the new kid."

    def handle(self, *args, **options):
        old = list(RSAKey.objects.values_list("id", flat=True))
        key = new_rsa_key()
        RSAKey.objects.filter(id__in=old).delete()
        self.stdout.write(key.kid)
