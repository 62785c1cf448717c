"""Benchmarks of fhir-microsystems: ``scripts/bench`` (full) and ``scripts/bench --quick``."""
