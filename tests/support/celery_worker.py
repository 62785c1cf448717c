"""Real ``celery -A workers.app worker`` / ``beat`` subprocesses pointed at the test Redis.

Each process runs in its own session (process group) so it can be stopped warm (SIGTERM),
or killed with ``kill -9`` whole (main process and pool children) or child by child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import count
from pathlib import Path
from types import TracebackType

import psutil  # type: ignore[import-untyped]

from workers.cli import beat_argv, worker_argv
from workers.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[2]
_serial = count(1)

#: Short limits so a lost task comes back within seconds (visibility 15 s, sweep every 1 s).
TEST_ENV: dict[str, str] = {
    "FHIRMS_VISIBILITY_TIMEOUT_SECONDS": "15",
    "FHIRMS_TASK_SOFT_TIME_LIMIT_SECONDS": "10",
    "FHIRMS_TASK_TIME_LIMIT_SECONDS": "12",
    "FHIRMS_UNACKED_RESTORE_INTERVAL_SECONDS": "1",
    "FHIRMS_RETRY_BACKOFF_MAX_SECONDS": "2",
    "FHIRMS_TASK_MAX_RETRIES": "8",
    "FHIRMS_MAX_DELIVERIES": "3",
    "FHIRMS_WORKER_MAX_TASKS_PER_CHILD": "50",
    "FHIRMS_INCREMENTAL_INTERVAL_SECONDS": "0",
    "FHIRMS_LOG_LEVEL": "INFO",
}


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; a generous ``timeout`` only guards against hangs."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def worker_env(redis_url: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a test worker: FHIRMS_* from ``TEST_ENV`` plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    env.update(TEST_ENV)
    env["FHIRMS_REDIS_URL"] = redis_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides or {})
    return env


def settings_for(redis_url: str, overrides: Mapping[str, str] | None = None) -> WorkerSettings:
    """WorkerSettings equal to what a worker started with ``worker_env`` reads."""
    values = {**TEST_ENV, **(overrides or {})}
    kwargs = {k.removeprefix("FHIRMS_").lower(): v for k, v in values.items()}
    return WorkerSettings.model_validate({**kwargs, "redis_url": redis_url})


class _Process:
    """A Celery program in its own process group, logging to a file."""

    kind = "process"
    ready_text = ""

    def __init__(
        self,
        redis_url: str,
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.redis_url = redis_url
        self.serial = next(_serial)
        self.log_path = log_dir / f"{self.kind}-{self.serial}.log"
        self.env = worker_env(redis_url, env)
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 90) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(),
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: self._ready(offset), timeout, f"{self.kind} {self.serial} to be ready")

    def _ready(self, offset: int) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.kind} exited early; log:\n{self.log()[-3000:]}")
        with self.log_path.open("rb") as fh:
            fh.seek(offset)
            return self.ready_text.encode() in fh.read()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.kind} not started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self) -> list[int]:
        try:
            return [c.pid for c in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """``kill -9`` the main process and its children (nothing is acknowledged)."""
        if self.process is None:
            return
        pids = [self.pid, *self.children()]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown (SIGTERM); ``kill`` whatever is left after ``timeout``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # leftover pool children, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> _Process:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class CeleryWorker(_Process):
    """``celery -A workers.app worker`` (prefork, ``concurrency`` processes); with
    ``fake_pipeline`` its tasks run :mod:`tests.support.fake_pipeline` (started through
    :mod:`tests.support.pipeline_worker`, which installs it)."""

    kind = "worker"
    ready_text = " ready."

    def __init__(
        self,
        redis_url: str,
        log_dir: Path,
        *,
        concurrency: int = 1,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        fake_pipeline: bool = False,
    ) -> None:
        super().__init__(redis_url, log_dir, env=env, extra_args=extra_args)
        self.concurrency = concurrency
        self.fake_pipeline = fake_pipeline

    def argv(self) -> list[str]:
        cfg = WorkerSettings(log_level=self.env.get("FHIRMS_LOG_LEVEL", "INFO"))
        extra = ["--hostname", f"test{self.serial}-{os.getpid()}@%h", *self.extra_args]
        argv = worker_argv(cfg, extra, concurrency=self.concurrency)
        if self.fake_pipeline:
            assert argv[1:3] == ["-m", "celery"], argv
            argv[1:3] = ["-m", "tests.support.pipeline_worker"]
        return argv

    def kill_child(self, pid: int) -> None:
        """``kill -9`` one pool process: the main process requeues its task at once."""
        if pid not in self.children():
            raise ValueError(f"{pid} is not a child of worker {self.serial}")
        os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> CeleryWorker:
        self.start()
        return self


class CeleryBeat(_Process):
    """``celery -A workers.app beat`` with the leader-locked scheduler."""

    kind = "beat"
    ready_text = "beat: Starting"

    def argv(self) -> list[str]:
        cfg = WorkerSettings(log_level=self.env.get("FHIRMS_LOG_LEVEL", "INFO"))
        schedule = self.log_path.with_suffix(".schedule")
        return beat_argv(cfg, ["--schedule", str(schedule), *self.extra_args])

    def __enter__(self) -> CeleryBeat:
        self.start()
        return self


__all__ = [
    "REPO",
    "TEST_ENV",
    "CeleryBeat",
    "CeleryWorker",
    "settings_for",
    "wait_for",
    "worker_env",
]
