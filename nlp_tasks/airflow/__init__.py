"""The package's Airflow glue: what the DAGs and the plugin share that needs Airflow.

Import its modules inside tasks (they import ``airflow.sdk``); the rest of ``nlp_tasks`` never
imports Airflow.
"""
