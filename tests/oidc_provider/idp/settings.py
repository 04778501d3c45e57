"""A minimal Django site that is an OpenID provider (django-oidc-provider), for the
gateway's sign-in tests only: never a production setup (fixed secret, HTTP)."""

import os

SECRET_KEY = "test-provider-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]  # reached as localhost and 127.0.0.1, through the test proxy
# the public address (the proxy in front): the issuer and every discovery URL
SITE_URL = os.environ["IDP_SITE_URL"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oidc_provider",
    "idp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "idp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": ["django.template.context_processors.request"]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["IDP_DATABASE"],
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
LOGIN_URL = "/accounts/login/"
# the provider's own session cookie: its name differs from the gateway's
SESSION_COOKIE_NAME = "idp_session"
# fewer PBKDF2 rounds: the people are test people and sign in often
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# the groups in the ID token (as Entra ID and Okta put them), the standard claims
# (preferred_username, email) from userinfo only: the gateway must read both
OIDC_IDTOKEN_PROCESSING_HOOK = "idp.claims.add_groups"
OIDC_USERINFO = "idp.claims.userinfo"
OIDC_IDTOKEN_EXPIRE = 600
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
