"""Accuracy of the microsystem derivation on synthetic hospitals with known ground truth.

For every seed and noise level: generate a hospital with ``fhir_microsystems.synth``, derive
its microsystems, and compare with the ground truth month by month:

- ARI: adjusted Rand index of practitioner -> microsystem (each practitioner's home
  microsystem, see ``Derivation.primary_microsystem``) against the ground-truth core
  membership, over the ground-truth core practitioners active that month; mean and minimum
  over the months;
- baselines: one microsystem per serviceProvider Organization, and CareTeams only
  (practitioners on no team CareTeam count as singletons);
- joins/leaves: precision, recall and F1 of the derived core joins and leaves (months after
  the first) against the ground-truth join, leave and move events.

Usage: ``python scripts/evaluate_accuracy.py --seeds 1 2 3 --noise 0 0.1 0.3``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from statistics import mean

from fhir_microsystems.derive import DerivationConfig, derive
from fhir_microsystems.derive.accuracy import (
    GroundTruth,
    active_practitioners,
    ari_for,
    by_careteam,
    by_service_provider,
    detected_events,
    f1,
    truth_events_in,
)
from fhir_microsystems.derive.careteams import read_explicit_teams
from fhir_microsystems.sources import NdjsonSource, ReferenceIndex
from fhir_microsystems.synth.config import SynthConfig
from fhir_microsystems.synth.generator import generate


@dataclass(frozen=True, slots=True)
class Score:
    """One run's figures (ARI lists are per month)."""

    seed: int
    noise: float
    derived: list[float]
    service_provider: list[float]
    careteams: list[float]
    events: tuple[float, float, float]
    microsystems: float
    seconds: float


def evaluate(
    directory: Path, config: DerivationConfig, seed: int, noise: float, seconds: float
) -> Score:
    """Score the derivation on one generated hospital in ``directory``."""
    source = NdjsonSource(directory)
    index = ReferenceIndex.build(source)
    truth = GroundTruth.from_json(json.loads((directory / "ground-truth.json").read_text()))
    began = time.perf_counter()
    result = derive(source, index, config=config)
    seconds += time.perf_counter() - began
    teams = read_explicit_teams(source, index, source.findings, config)
    records = list(result.encounters.values())
    months = [p for p in result.periods if p.label in truth.core]
    derived, provider, careteam = [], [], []
    for period in months:
        active = active_practitioners(records, period)
        core = truth.core[period.label]
        derived.append(ari_for(core, result.primary_microsystem(period.label), active))
        provider.append(ari_for(core, by_service_provider(records, period), active))
        careteam.append(ari_for(core, by_careteam(teams, period), active))
    labels = [p.label for p in months]
    found = {e for e in detected_events(result, truth) if e[0] in labels[1:]}
    sizes = [len(result.microsystems[label]) for label in labels]
    return Score(
        seed,
        noise,
        derived,
        provider,
        careteam,
        f1(found, truth_events_in(truth, labels)),
        mean(sizes) if sizes else 0.0,
        seconds,
    )


def _row(score: Score) -> str:
    p, r, f = score.events
    derived = f"{mean(score.derived):6.3f} {min(score.derived):6.3f}"
    return (
        f"{score.seed:>4} {score.noise:>5.2f} | {derived}"
        f" | {mean(score.service_provider):6.3f} {mean(score.careteams):6.3f}"
        f" | {p:5.2f} {r:5.2f} {f:5.2f} | {score.microsystems:5.1f} {score.seconds:6.2f}"
    )


HEADER = (
    "seed noise |  ARI   ARImin | ARI-sp ARI-ct | evP   evR   evF1  | micro  secs\n"
    "-----------+---------------+---------------+-------------------+-------------"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument(
        "--config", default="{}", help="JSON of DerivationConfig fields to override"
    )
    args = parser.parse_args(argv)
    config = DerivationConfig(**json.loads(args.config))
    print(f"patients={args.patients} months={args.months} config overrides={args.config}")
    print(HEADER)
    scores = []
    for noise in args.noise:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory(prefix="fhir-microsystems-eval-") as tmp:
                directory = Path(tmp)
                generate(
                    directory,
                    seed=seed,
                    patients=args.patients,
                    start=args.start,
                    months=args.months,
                    config=SynthConfig(noise=noise),
                )
                score = evaluate(directory, config, seed, noise, 0.0)
            scores.append(score)
            print(_row(score), flush=True)
    for noise in args.noise:
        chosen = [s for s in scores if s.noise == noise]
        print(
            f"noise {noise:.2f}: mean ARI {mean(mean(s.derived) for s in chosen):.3f}"
            f" (service provider {mean(mean(s.service_provider) for s in chosen):.3f},"
            f" CareTeams {mean(mean(s.careteams) for s in chosen):.3f}),"
            f" joins/leaves F1 {mean(s.events[2] for s in chosen):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
