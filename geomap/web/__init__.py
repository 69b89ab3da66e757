"""Blueprints: thin adapters between HTTP and the domain modules."""
