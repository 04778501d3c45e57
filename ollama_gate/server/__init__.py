"""The serving layer: gunicorn's gevent worker on gevent's pywsgi (``worker``,
``handler``), the header reader, heap trimming, and the tuning ``wsgi.py`` applies in
the worker (``tune``)."""
