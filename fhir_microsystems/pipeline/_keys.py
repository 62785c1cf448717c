"""The one place that names the run's keys in the claim-check store.

Every key is ``fhirms:<run id>:<family>[:<part>...]``. The families, by the stage that
writes them:

- plan: ``plan`` (the extract partitions), ``unchanged``, ``findings:plan``;
- extract: ``enc:<partition>:<month>:<n>`` and ``enc-meta:<partition>`` (encounter months),
  ``spells:<partition>:<n>`` and ``spell-chunks:<partition>``, ``obs:<partition>:<month>:<n>``
  and ``obs-chunks:<partition>``, ``findings:extract:<partition>``;
- derive: ``ms:<period>``, ``ms-context:<period>:<n>``, ``ms-facts:<period>:<table>`` (the
  measures' fact tables as Parquet), ``ms-resources:<period>:<type>``,
  ``ms-resource-types:<period>``, ``derivation``, ``findings:derive``;
- measure: ``reports:<period>``, ``sink-plan:<period>``, ``findings:measure:<period>``.

Celery's run records (``workers/runs.py``) keep their own keys beside these.
"""

from __future__ import annotations


def store_key(run_id: str, *parts: str) -> str:
    """The store key of ``parts`` in run ``run_id``."""
    return ":".join(("fhirms", run_id, *parts))


__all__ = ["store_key"]
