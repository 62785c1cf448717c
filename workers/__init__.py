"""Celery app and tasks: thin adapters over fhir_microsystems."""
