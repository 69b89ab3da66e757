"""Production entry point: gunicorn wsgi:app."""

from geomap import create_app

app = create_app()
