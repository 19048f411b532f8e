"""Test and benchmark support: a moto server process, import-time readings."""
