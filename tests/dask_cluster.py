"""A real Dask cluster on 127.0.0.1 and WARC files of real corpus pages, for cluster tests and
bench/cluster_bench.py.

The scheduler and the workers are this venv's ``dask`` command, so the workers import this
checkout (the editable install). Workers are not daemonic: mediawatch extracts each page in a
child process of the worker (its per-page time limit).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from corpus_data import eval_pages
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

PROJECT = Path(__file__).resolve().parent.parent
WIKI = "wikipedia-revision-versions/version_documents"
WORKER_ENV = {"DASK_DISTRIBUTED__WORKER__DAEMON": "False"}


def dask_command() -> Path:
    return Path(sys.executable).parent / "dask"


@dataclass
class DaskCluster:
    address: str
    root: Path
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def client(self) -> Any:
        from dask.distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def worker_pids(self) -> dict[str, int]:
        """Each worker's process id (the process its nanny runs, which does the work)."""
        with self.client() as client:
            return dict(client.run(os.getpid))

    def add_worker(self, nthreads: int = 1) -> None:
        i = len(self.workers)
        log = (self.root / f"worker{i}.log").open("wb")
        self.workers.append(
            subprocess.Popen(
                [str(dask_command()), "worker", self.address, "--nthreads", str(nthreads), "--nworkers", "1"]
                + ["--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(self.root / f"w{i}")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **WORKER_ENV},
                cwd=PROJECT,
            )
        )

    def wait_for_workers(self, count: int, timeout: float = 180) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=timeout)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@contextmanager
def start_dask_cluster(root: Path, workers: int) -> Iterator[DaskCluster]:
    """A ``dask scheduler`` on 127.0.0.1 (a free port) and ``workers`` single-threaded workers."""
    scheduler_file = root / "scheduler.json"
    log = (root / "scheduler.log").open("wb")
    scheduler = subprocess.Popen(
        [str(dask_command()), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        + ["--scheduler-file", str(scheduler_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    cluster: DaskCluster | None = None
    try:
        deadline = time.monotonic() + 180
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            if scheduler.poll() is not None:
                raise RuntimeError((root / "scheduler.log").read_text())
            if time.monotonic() > deadline:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        cluster = DaskCluster(address, root, scheduler)
        for _ in range(workers):
            cluster.add_worker()
        if workers:
            cluster.wait_for_workers(workers)
        yield cluster
    finally:
        for proc in [*(cluster.workers if cluster else []), scheduler]:
            _stop(proc)


# ---------------------------------------------------------------------------------------------
# WARC files of real pages


def wiki_html(title: str, text: str) -> bytes:
    """A Wikipedia revision's real text as an article page."""
    paragraphs = "".join(f"<p>{escape(p.strip())}</p>\n" for p in text.split("\n") if p.strip())
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title></head>"
        f"<body><nav><a href=/>Home</a></nav><article><h1>{escape(title)}</h1>\n{paragraphs}</article>"
        "<footer>Text from Wikipedia, CC BY-SA</footer></body></html>"
    ).encode()


def write_response(
    writer: WARCWriter, url: str, at: datetime, body: bytes, *, content_type: str = "text/html; charset=utf-8"
) -> None:
    """A 200 response record of ``body`` for ``url``, captured ``at``."""
    headers = StatusAndHeaders(
        "200 OK",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        protocol="HTTP/1.1",
    )
    record = writer.create_warc_record(
        url,
        "response",
        payload=io.BytesIO(body),
        length=len(body),
        http_headers=headers,
        warc_headers_dict={"WARC-Date": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    writer.write_record(record)


def write_warc_files(corpus: Path, out: Path, count: int, *, revisions: int = 3, news: int = 1) -> list[Path]:
    """``count`` WARC files, each one Wikipedia article's first ``revisions`` revisions (an hour
    apart: real edits) and ``news`` real news pages of trafilatura's evaluation set."""
    articles = sorted(p for p in (corpus / WIKI).iterdir() if p.is_dir() and len(list(p.glob("*.txt"))) >= 5)
    pages = iter(eval_pages(corpus))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    files = []
    for i, folder in enumerate(articles[:count]):
        path = out / f"part-{i:03d}.warc.gz"
        with path.open("wb") as handle:
            writer = WARCWriter(handle, gzip=True)
            texts = sorted(folder.glob("*.txt"), key=lambda p: int(p.stem))[:revisions]
            url = f"https://en.wikipedia.org/wiki/{folder.name.replace(' ', '_')}"
            for n, revision in enumerate(texts):
                write_response(
                    writer,
                    url,
                    start + timedelta(days=i, hours=n),
                    wiki_html(folder.name, revision.read_text()),
                )
            for k in range(news):
                page = next(pages)
                write_response(
                    writer, f"https://news.example.org/{i}/{k}", start + timedelta(days=i), page.raw()
                )
        files.append(path)
    return files
