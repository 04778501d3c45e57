"""Flask extensions, created unbound here and initialised in ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for every model of the gateway."""


db = SQLAlchemy(model_class=Base)
# schema migrations (Alembic scripts in the top-level migrations/ folder)
migrate = Migrate()
# admin sessions (Flask-Login): admin pages only; the API authenticates by key alone
login_manager = LoginManager()
# CSRF on every form; the key-authenticated API blueprints are exempted where registered
csrf = CSRFProtect()
# per-client limits (admin login) and, with the limits work, per-key limits
limiter = Limiter(key_func=get_remote_address)
