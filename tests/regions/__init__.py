"""Tests of geomap.regions, one file per module."""
