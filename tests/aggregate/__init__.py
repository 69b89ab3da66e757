"""Tests of geomap.aggregate, one file per module."""
