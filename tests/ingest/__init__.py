"""Tests of geomap.ingest (the import pipeline), by module or concern."""
