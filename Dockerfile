# Worker/scheduler image: the official Airflow image plus this package, its pinned
# requirements and the model built from the pip wheel + the committed delta.
#   docker build -t nlp-tasks:latest .
#   docker build -t nlp-tasks:gpu --build-arg VARIANT=gpu .
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}
ARG VARIANT=cpu
# Point this at a CPU-only torch wheel index to keep CUDA builds of torch out of the image
# (torch is only used to export the model at build time).
ARG PIP_EXTRA_INDEX_URL=

USER airflow
COPY --chown=airflow:root requirements.txt requirements-gpu.txt constraints.txt pyproject.toml README.md /opt/nlp_tasks/
COPY --chown=airflow:root nlp_tasks /opt/nlp_tasks/nlp_tasks
RUN pip install --no-cache-dir \
        -r /opt/nlp_tasks/requirements.txt -c /opt/nlp_tasks/constraints.txt \
 && pip install --no-cache-dir --no-deps /opt/nlp_tasks \
 && if [ "$VARIANT" = "gpu" ]; then pip uninstall -y onnxruntime && pip install --no-cache-dir -r /opt/nlp_tasks/requirements-gpu.txt; fi
ENV HF_HUB_OFFLINE=1 \
    GX_ANALYTICS_ENABLED=false \
    NLP_TASKS_MODEL_DIR=/opt/nlp_tasks/model
RUN python -m nlp_tasks.sentiment build --out /opt/nlp_tasks/model
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
