"""Evidence: contained Lists of what each population counted, so results can be audited."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LIST_EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"


def evidence_list(
    list_id: str,
    title: str,
    members: Iterable[str],
    *,
    values: Mapping[str, float] | None = None,
    value_url: str = "",
    unit: str | None = None,
) -> dict[str, Any]:
    """A contained List (snapshot) of ``members``; ``values`` adds each member's observation."""
    entries: list[dict[str, Any]] = []
    for key in members:
        entry: dict[str, Any] = {"item": {"reference": key}}
        if values is not None and key in values:
            quantity: dict[str, Any] = {"value": values[key]}
            if unit:
                quantity |= {"unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
            entry["extension"] = [{"url": value_url, "valueQuantity": quantity}]
        entries.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "List",
        "id": list_id,
        "status": "current",
        "mode": "snapshot",
        "title": title,
    }
    if entries:
        resource["entry"] = entries
    else:
        resource["emptyReason"] = {
            "coding": [{"system": LIST_EMPTY_REASON, "code": "nilknown"}],
            "text": "no member",
        }
    return resource


def listed_keys(report: Mapping[str, Any], list_id: str) -> list[str]:
    """The member keys of the contained List ``list_id`` of ``report`` (for audits)."""
    for resource in report.get("contained") or ():
        if resource.get("resourceType") == "List" and resource.get("id") == list_id:
            return [e["item"]["reference"] for e in resource.get("entry") or ()]
    raise KeyError(list_id)


__all__ = ["evidence_list", "listed_keys"]
