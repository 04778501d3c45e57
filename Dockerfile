# ollama-gate's image: the gateway under gunicorn (gevent workers) as an unprivileged
# user. Settings by environment (or a .env in /data); the SQLite database, the
# generated secret key and the first-run secrets live in the volume /data.
#   docker build -t ollama-gate .
#   docker run -d -p 8080:8080 -v ollama-gate:/data \
#     -e OLLAMA_GATE_BACKENDS=http://host.docker.internal:11434 ollama-gate
#   docker exec <container> ollama-gate keys create default --name laptop
# See docs/container.md; compose.yaml runs it beside Ollama.
ARG BASE=docker.io/library/python:3.11-slim-bookworm

# Build stage: a virtualenv with the pinned requirements and the package.
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/ollama-gate
COPY requirements.txt /src/
RUN /opt/ollama-gate/bin/pip install -q -r /src/requirements.txt
# templates/ and migrations/ are linked into the package (ollama_gate/templates, ...)
COPY pyproject.toml README.md /src/
COPY templates /src/templates
COPY migrations /src/migrations
COPY ollama_gate /src/ollama_gate
RUN /opt/ollama-gate/bin/pip install -q --no-deps /src

# Run stage: the virtualenv alone, no build tools, no sources.
FROM ${BASE}
RUN useradd --system --uid 10001 --user-group --home-dir /data \
        --shell /usr/sbin/nologin ollama-gate \
    && mkdir -p /data && chown ollama-gate:ollama-gate /data && chmod 700 /data
COPY --from=build /opt/ollama-gate /opt/ollama-gate
ENV PATH=/opt/ollama-gate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OLLAMA_GATE_INSTANCE_PATH=/data \
    OLLAMA_GATE_HOST=0.0.0.0 \
    PORT=8080
USER ollama-gate
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]
# init first (migrations, idempotent; a fresh volume also gets the first admin, user
# and key, printed once to the log and in the block shown when the server is up),
# then gunicorn takes over the process (PID 1 gets the signals: SIGTERM lets the
# calls in flight finish)
CMD ["ollama-gate", "serve", "--init"]
