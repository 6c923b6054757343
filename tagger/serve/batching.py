"""Micro-batching: requests that arrive together are tagged in one model batch.

Each model has a :class:`MicroBatcher`. A request's sentences join its queue; once
the model is free, a loop waits up to ``max_wait`` for more requests, takes requests
up to ``max_batch`` sentences, and runs the batch in the server's single model
thread. Under concurrency the model then sees batches of many sentences, as offline
``predict`` does, instead of one sentence at a time; a request waits at most
``max_wait`` after the batch before it.

The wait ends sooner once it can gain nothing: when ``max_batch`` sentences are
queued, or when as many requests are queued as were waiting when the model came
free plus those the last batch answered. Clients that wait for an answer before
sending again (most do) are then all back, and the model need not idle out
``max_wait`` on every batch; a lone client waits only for its first request.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass, field

from ..outputs import release_freed_memory
from .models import ServedModel
from .results import Prediction

log = logging.getLogger("uvicorn.error")  # printed the way uvicorn prints its own lines
# Sentences between returns of freed heap memory to the OS: batches of ever-new shapes
# fragment glibc's heap, and a server's RSS would creep up for good (as a long
# ``tagger predict`` stream's would; see ``outputs.release_freed_memory``).
TRIM_SENTENCES = 8192


@dataclass
class Job:
    sentences: list[list[str]]
    explain: bool
    future: asyncio.Future
    queued_at: float = field(default_factory=time.monotonic)


def run_jobs(served: ServedModel, jobs: list[Job]) -> list[list[Prediction]]:
    """Tag every sentence of ``jobs`` in one pass (one more pass for the attention of
    the jobs that asked for it); sentences without words get empty predictions. The
    sentences of one request are one document, for a model that reads document context."""
    tagger = served.tagger
    words = [s for job in jobs for s in job.sentences if s]
    docs = {"docs": [n for n, job in enumerate(jobs) for s in job.sentences if s]} if tagger.reads_documents else {}
    labels, proba = tagger.predict_with_proba(words, **docs) if words else ([], [])
    explained = [s for job in jobs if job.explain for s in job.sentences if s]
    weights = {t: iter(tagger.explain(explained, t)) for t in served.attention_tasks} if explained else {}
    predicted = iter(zip(labels, proba, strict=True))
    out = []
    for job in jobs:
        results = []
        for sentence in job.sentences:
            if not sentence:
                results.append(Prediction())
                continue
            sentence_labels, sentence_proba = next(predicted)
            attention = {t: [w for _, w in next(pairs)] for t, pairs in weights.items()} if job.explain else {}
            results.append(Prediction(sentence_labels, sentence_proba, attention))
        out.append(results)
    return out


class MicroBatcher:
    def __init__(self, served: ServedModel, executor: Executor, max_batch: int, max_wait_s: float):
        self.served, self.executor = served, executor
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self.pending: deque[Job] = deque()
        self.queued = 0  # sentences in ``pending``
        self.arrived = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.batches = self.sentences = 0  # counters for /v1/models
        self.untrimmed = 0  # sentences tagged since the heap was last trimmed
        self.answered = 0  # requests the last batch answered: the clients likely to send again

    async def warm_up(self) -> None:
        """One small batch before any client's, outside the queue and the counters (a
        model's first batch is slow: allocations)."""
        loop = asyncio.get_running_loop()
        job = Job([["Warm", "up", "."]], bool(self.served.attention_tasks), loop.create_future())
        await loop.run_in_executor(self.executor, run_jobs, self.served, [job])

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"batcher:{self.served.name}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        for job in self.pending:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        self.pending.clear()
        self.queued = 0

    async def predict(self, sentences: list[list[str]], explain: bool) -> list[Prediction]:
        job = Job(sentences, explain, asyncio.get_running_loop().create_future())
        self.pending.append(job)
        self.queued += len(sentences)
        self.arrived.set()
        return await job.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [job for job in await self._gather() if not job.future.done()]  # done: its client gave up
            if not jobs:
                continue
            try:
                results = await loop.run_in_executor(self.executor, run_jobs, self.served, jobs)
            except Exception as err:  # a bug, not the client's input: log it, fail these requests only
                log.exception("model '%s' failed on a batch of %d requests", self.served.name, len(jobs))
                results = [err] * len(jobs)
            self.batches += 1
            self.answered = sum(not job.future.done() for job in jobs)
            tagged = sum(len(job.sentences) for job in jobs)
            self.sentences += tagged
            self.untrimmed += tagged
            for job, result in zip(jobs, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, Exception):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)
            if self.untrimmed >= TRIM_SENTENCES:  # in the model thread, after the answers are out
                self.untrimmed = 0
                await loop.run_in_executor(self.executor, release_freed_memory)

    async def _gather(self) -> list[Job]:
        """The next batch: the oldest job, and more as they come, until ``max_batch``
        sentences, the oldest job has waited ``max_wait``, or every client the last
        batch answered is back (see the module's note)."""
        free_since = time.monotonic()
        # Before any batch (or after one whose clients all gave up) nothing is known: wait it out.
        expected = len(self.pending) + self.answered if self.answered else float("inf")
        while not self.pending:
            self.arrived.clear()
            await self.arrived.wait()
        # The wait counts from when the model could take the request: requests that
        # queued during the last batch still wait for the clients whose answers just
        # went out, or batches would stay as small as half the clients.
        deadline = max(self.pending[0].queued_at, free_since) + self.max_wait_s
        while self.queued < self.max_batch and len(self.pending) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.arrived.clear()
            try:  # waiting on an Event, not on a queue: a timeout can never drop a job
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except asyncio.TimeoutError:
                break
        jobs, count = [], 0
        while self.pending and (not jobs or count + len(self.pending[0].sentences) <= self.max_batch):
            job = self.pending.popleft()
            jobs.append(job)
            count += len(job.sentences)
        self.queued -= count
        return jobs
