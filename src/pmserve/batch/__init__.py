"""Batch scoring: the file store, jobs, and the runner that scores files and database tables.

* :class:`BatchService` - files and jobs per tenant, what the HTTP adapter and the CLI call.
* :class:`JobRunner` - claims jobs from the store and runs them on a bounded pool of threads.
"""

from __future__ import annotations

from pmserve.batch._runner import JobRunner
from pmserve.batch._service import BatchService, job_json, job_status

__all__ = ["BatchService", "JobRunner", "job_json", "job_status"]
