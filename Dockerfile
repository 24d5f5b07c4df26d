# cwsync: one image for `cwsync serve` and `cwsync worker` (docs/deploy.md).
# Built offline here it could not be (no registry access on the build machines): see docs/deploy.md, "Image".
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN python -m venv /opt/cwsync && /opt/cwsync/bin/pip install .

FROM python:3.12-slim
ENV PATH=/opt/cwsync/bin:$PATH PYTHONUNBUFFERED=1 CWSYNC_LOG_FORMAT=json CWSYNC_LOG_LEVEL=info \
    CWSYNC_HOST=0.0.0.0 CWSYNC_PORT=8720 CWSYNC_TENANTS=/etc/cwsync/tenants
COPY --from=build /opt/cwsync /opt/cwsync
RUN useradd --system --uid 10001 --home-dir /var/lib/cwsync --create-home cwsync
USER cwsync
WORKDIR /var/lib/cwsync
EXPOSE 8720
# /livez answers 200 while the process serves (workers: the `serve` container carries the check).
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('CWSYNC_PORT', '8720')}/livez\", timeout=2)"]
# SIGTERM drains (jobs get --grace seconds); give `docker stop` more time than that (compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["cwsync"]
CMD ["serve", "--no-worker"]
