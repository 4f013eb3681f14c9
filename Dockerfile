# Digital Clone Studio: `docker build -t studio .` then `docker run -p 7860:7860 -v studio-data:/data studio`
# (or `docker compose up` for the app with PostgreSQL).
FROM python:3.11-slim-bookworm

ENV DATA_DIR=/data \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Debian packages: the same list `make run` installs (one per line, # starts a comment).
COPY packages.txt ./
RUN apt-get update \
    && sed -e 's/#.*//' packages.txt | xargs -r apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 --user-group studio \
    && mkdir -p /data \
    && chown studio:studio /data

# Requirements before the code, so code changes do not reinstall them.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# The app directory stays root-owned (read-only for studio), so compile its bytecode now.
RUN python -m compileall -q .

USER studio
VOLUME /data
EXPOSE 7860

# /gradio_api/info answers 200, or 401 when AUTH is set: both mean the server is up.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.error, urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:%s/gradio_api/info' % os.environ.get('GRADIO_SERVER_PORT', '7860'), timeout=4)\nexcept urllib.error.HTTPError as e:\n    raise SystemExit(e.code != 401)"]

CMD ["python", "app.py"]
