"""The claims the test provider gives: standard ones from the Django user, and the
person's Django groups as ``groups`` in the ID token."""


def userinfo(claims, user):
    """Standard claims for the ``profile`` and ``email`` scopes."""
    claims["name"] = user.get_full_name() or user.username
    claims["preferred_username"] = user.username
    claims["email"] = user.email
    claims["email_verified"] = True
    return claims


def add_groups(id_token, user, **kwargs):
    """Every ID token names the person's groups (by group name)."""
    id_token["groups"] = sorted(group.name for group in user.groups.all())
    return id_token
