"""How one feed writes references: relative, absolute URL, PractitionerRole or conditional."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .config import SynthConfig
from .staffing import Staff
from .vocab import NPI


@dataclass(frozen=True, slots=True)
class RefStyle:
    """The reference style of one resource (all its references follow it)."""

    prefix: str = ""
    role: bool = False
    conditional: bool = False

    def local(self, key: str) -> str:
        """``Type/id`` as written: relative or absolute."""
        return self.prefix + key

    def staff(self, member: Staff, month: int) -> str:
        """A staff member as PractitionerRole, conditional or plain Practitioner reference."""
        if self.role:
            role = member.role_at[month] or next(r for r in member.role_at if r)
            return f"{self.prefix}PractitionerRole/{role}"
        if self.conditional:
            return f"Practitioner?identifier={NPI}|{member.npi}"
        return self.prefix + member.key


def draw_style(rng: random.Random, config: SynthConfig) -> RefStyle:
    """A style with the configured shares of PractitionerRole, conditional, absolute."""
    draw = rng.random()
    role = draw < config.practitioner_role_share
    conditional = not role and draw < config.practitioner_role_share + (
        config.conditional_reference_share
    )
    prefix = config.base_url + "/" if rng.random() < config.absolute_url_share else ""
    return RefStyle(prefix, role, conditional)


PLAIN = RefStyle()
