"""The per-subject setting rows each package owns, kept here, out of the packages,
because ``models.py`` builds columns from them and every feature package imports
``models`` (a row module inside one would import its package, and so ``models``,
in a circle). ``subject_settings.TABLE`` joins them."""
