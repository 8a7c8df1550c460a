# relaygate: the gateway image. Build from the repository root: docker build -t relaygate .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/relaygate
COPY requirements.lock pyproject.toml setup.py README.md ./
RUN pip install -r requirements.lock
COPY src ./src
# The C module for translated streams (src/relaygate/_speedups.c) is compiled here, and the compiler
# removed again in the same layer; should it not build, the install goes on and the Python code runs.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install --no-deps . && rm -rf src build \
 && apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/*

# An unprivileged user; its home holds the SQLite database and the usage journal when those are
# left at their relative defaults (mount a volume there to keep them across restarts).
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/relaygate relaygate
USER 10001
WORKDIR /var/lib/relaygate

EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["relaygate"]
CMD ["serve", "--config", "/etc/relaygate/relaygate.yaml", "--host", "0.0.0.0", "--port", "8080"]
