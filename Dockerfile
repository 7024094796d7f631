# neardup worker image: the package, its default model, and the `neardup` entry point.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3 NEARDUP_DATA_DIR=/data
WORKDIR /app
# every dependency from the lock file, each checked against its hash (`make lock` writes it)
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY neardup neardup
COPY encoder encoder
COPY storage storage
COPY pipeline pipeline
COPY worker worker
COPY tasks tasks
RUN pip install --no-cache-dir --no-deps .
RUN useradd --create-home neardup && mkdir -p /data && chown neardup /data
USER neardup
# the default encoder's LiteRT flatbuffer (encoder/litert.py), converted here once, not at each worker's start
RUN python -c "from neardup.encoder.artifact import Encoder; Encoder(inference='litert')"
VOLUME ["/data"]
ENTRYPOINT ["neardup"]
CMD ["--help"]
