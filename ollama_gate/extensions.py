"""Flask extensions, created unbound here and initialised in ``create_app``."""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for every model of the gateway."""


db = SQLAlchemy(model_class=Base)
