"""S3 options from an Airflow connection, said clearly in the log whichever way they come."""

from __future__ import annotations

import logging

from ..storage import S3Options

log = logging.getLogger(__name__)


def s3_options(conn_id: str) -> S3Options:
    """The Airflow AWS connection ``conn_id`` as S3Options (``S3Options.from_connection``).

    Without such a connection the AWS_* variables and then the default AWS credential chain
    apply; that is logged as a warning naming the connection, since a mistyped ``aws_conn_id``
    would otherwise quietly run with the worker's own role.
    """
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:
        opts = S3Options.from_env()
        log.warning("Airflow connection %r not found: using %s", conn_id, opts.describe())
        return opts
    opts = S3Options.from_connection(conn)
    log.info("Airflow connection %r: %s", conn_id, opts.describe())
    return opts
