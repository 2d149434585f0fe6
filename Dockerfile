# Worker/scheduler image in two stages:
#   1. `model`: the build tools (torch, transformers, nncf, the base encoder's wheel) assemble the
#      model from the committed delta and export it to ONNX and OpenVINO files;
#   2. the image itself: the official Airflow image, this package's runtime dependencies (no
#      torch, no transformers: see pyproject.toml) and the model files copied from stage 1.
#   docker build -t nlp-tasks:latest .
#   docker build -t nlp-tasks:gpu --build-arg VARIANT=gpu .
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

FROM ${AIRFLOW_IMAGE} AS model
# Point this at a CPU-only torch wheel index to keep CUDA builds of torch out of the build stage.
ARG PIP_EXTRA_INDEX_URL=
USER airflow
COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml README.md /opt/nlp_tasks/
COPY --chown=airflow:root nlp_tasks /opt/nlp_tasks/nlp_tasks
RUN pip install --no-cache-dir -r /opt/nlp_tasks/requirements.txt -c /opt/nlp_tasks/constraints.txt \
 && pip install --no-cache-dir --no-deps /opt/nlp_tasks
ENV HF_HUB_OFFLINE=1
RUN python -m nlp_tasks.sentiment build --out /opt/nlp_tasks/model

FROM ${AIRFLOW_IMAGE}
ARG VARIANT=cpu
USER airflow
COPY --chown=airflow:root requirements-gpu.txt constraints.txt pyproject.toml README.md /opt/nlp_tasks/
COPY --chown=airflow:root nlp_tasks /opt/nlp_tasks/nlp_tasks
# The runtime dependencies and the Celery extra, resolved to the same pins as requirements.txt.
RUN pip install --no-cache-dir "/opt/nlp_tasks[celery]" -c /opt/nlp_tasks/constraints.txt \
 && if [ "$VARIANT" = "gpu" ]; then pip uninstall -y onnxruntime && pip install --no-cache-dir -r /opt/nlp_tasks/requirements-gpu.txt; fi
COPY --from=model --chown=airflow:root /opt/nlp_tasks/model /opt/nlp_tasks/model
ENV HF_HUB_OFFLINE=1 \
    GX_ANALYTICS_ENABLED=false \
    NLP_TASKS_MODEL_DIR=/opt/nlp_tasks/model
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
