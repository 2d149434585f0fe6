"""What every task of the review DAGs does around its stage: the run's lake and day from the
task context, the data-root allow-list, the log context, and the stage's metrics.

A task body is then one call::

    @task
    @stage("redact", shard=lambda shard: shard)
    def redact(run, shard: str) -> dict:
        return pipeline.redact(run, shard)

The decorated function takes the :class:`nlp_tasks.pipeline.Run` first; the task Airflow sees
has the same signature without it. Airflow at import time only (DAG files import this at
parse); everything else inside the calls.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from airflow.sdk import get_current_context

log = logging.getLogger("nlp_tasks.dags")


def day_of(ctx: Any) -> str:
    """The partition date a run processes: the run_date Param, else the logical date."""
    day = (ctx.get("params") or {}).get("run_date") or ctx.get("ds")
    if not day:  # manual runs may have no logical date in Airflow 3
        day = (ctx["dag_run"].run_after or dt.datetime.now(dt.UTC)).date().isoformat()
    return str(day)


def allowed_root(root: str) -> str:
    """``root`` if the allow-list (nlp_tasks.roots: the default root plus $NLP_TASKS_ALLOWED_ROOTS
    in this worker's environment) allows it; else the task fails at once, without retries."""
    from nlp_tasks import roots

    try:
        return roots.check_root(root, roots.default_root())
    except roots.RootNotAllowed as e:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(e)) from None


def lake(root: str, conn_id: str, **log_fields: Any):
    """The Lake at an allowed ``root``; S3 credentials from the Airflow connection ``conn_id``
    (which ones are used is logged, with ``log_fields`` on the line)."""
    from nlp_tasks import observability
    from nlp_tasks.storage import Lake

    root = allowed_root(root)
    if not root.startswith("s3://"):
        return Lake(root)
    from nlp_tasks.airflow.connections import s3_options

    with observability.log_context(**log_fields):
        return Lake(root, s3_options(conn_id))


def map_index(ctx: Any) -> int | None:
    i = getattr(ctx.get("ti"), "map_index", -1)
    return None if i is None or i < 0 else i


def materialise(seq: Any) -> list:
    """A mapped task's outputs as a list; indexing up to len() avoids probing past the end."""
    return [seq[i] for i in range(len(seq))]


def current_run(stage_name: str | None = None, shard: str | None = None):
    """The run of the current task: its lake (data_root, aws_conn_id), day and run id."""
    from nlp_tasks.pipeline import Run

    ctx = get_current_context()
    params = ctx["params"]
    day = day_of(ctx)
    fields = {"run_id": ctx["run_id"], "dt": day, "stage": stage_name, "shard": shard, "map_index": map_index(ctx)}
    return Run(lake(params["data_root"], params["aws_conn_id"], **fields), day, ctx["run_id"])


def stage(name: str, shard: Callable[..., str | None] | None = None, metrics: bool = True):
    """Decorate a task body ``fn(run, *args)`` as the stage ``name``.

    Every log line it writes carries run_id, dt, stage and shard (``shard(*args)``, its last
    path segment); when ``metrics``, the dict it returns gets the task's ``peak_rss_mb`` (the
    larger of its own and any the stage reported) and its metrics go to Airflow's Stats.
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        outer = signature.replace(parameters=list(signature.parameters.values())[1:])

        @functools.wraps(fn)
        def task_body(*args: Any, **kwargs: Any) -> Any:
            from nlp_tasks import observability

            ctx = get_current_context()
            label = shard(*args, **kwargs) if shard else None
            label = label.rsplit("/", 1)[-1] if label else None
            run = current_run(name, label)
            fields = {"run_id": run.run_id, "dt": run.day, "stage": name, "shard": label, "map_index": map_index(ctx)}
            with observability.log_context(**fields):
                result = fn(run, *args, **kwargs)
                if metrics and isinstance(result, dict) and "rows" in result:
                    from airflow.sdk.observability.stats import Stats

                    result["peak_rss_mb"] = max(result.get("peak_rss_mb") or 0.0, observability.peak_rss_mb())
                    sent = observability.emit(Stats, name, result, tags={"dag_id": ctx["dag"].dag_id})
                    log.info("stage metrics: %s", sent)
            return result

        task_body.__signature__ = outer  # type: ignore[attr-defined]  # what @task maps arguments by
        return task_body

    return wrap
