"""Synthetic person names (common given and family names; no real individuals)."""

from __future__ import annotations

import random
from typing import Any


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE = _words(
    "Amelia Anna Aisha Beatriz Camila Chloe Clara Daniela Elena Emma Eva Fatima Grace Hana "
    "Ines Isabel Julia Karin Laila Laura Lea Lucia Maya Mei Mira Nadia Nora Olivia Priya "
    "Rosa Ruth Sara Sofia Tara Valeria Yara Zoe"
)
MALE = _words(
    "Aaron Adam Ahmed Andre Arjun Ben Carlos Daniel David Diego Elias Ethan Felix Hamza "
    "Hugo Ivan Jakob James Jonas Kai Leo Liam Lucas Malik Marco Mateo Noah Omar Pablo Paul "
    "Rafael Ravi Samuel Simon Theo Tomas Victor Yusuf"
)
FAMILY = _words(
    "Abbott Alvarez Andersen Baker Banerjee Becker Bianchi Brooks Campbell Chen Costa Cruz "
    "Dahl Diaz Dubois Edwards Evans Fischer Fontaine Garcia Gomez Gupta Hansen Hayes Ito "
    "Jansen Kaur Kim Kowalski Larsen Lee Lopez Martin Meyer Moreau Murphy Nakamura Nguyen "
    "Novak Okafor Olsen Ortiz Patel Perez Petrov Quinn Reyes Rossi Santos Schmidt Silva "
    "Singh Sato Tanaka Torres Varga Wagner Walsh Weber Wong Young Zhang"
)


def human_name(rng: random.Random, gender: str) -> dict[str, Any]:
    """An official HumanName for ``gender`` (male/female; others draw from both lists)."""
    pool = MALE if gender == "male" else FEMALE if gender == "female" else MALE + FEMALE
    return {"use": "official", "family": rng.choice(FAMILY), "given": [rng.choice(pool)]}
