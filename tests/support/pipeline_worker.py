"""``python -m tests.support.pipeline_worker <celery arguments>``: Celery with the fake stages.

Installs :mod:`tests.support.fake_pipeline` as this process's pipeline
(``workers.stages.install``), then runs Celery's own command line in this process, so the
pool processes it forks run the fake too.
"""

from __future__ import annotations

import sys

from celery.__main__ import main as celery_main

from tests.support import fake_pipeline
from workers.stages import install


def main() -> None:
    install(fake_pipeline)  # mypy checks here that the fake satisfies the Pipeline protocol
    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
