"""Plain-Python NLP stages for the nightly review-sentiment DAGs; importable without Airflow."""
