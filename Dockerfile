# pmserve in a container: slim Python, a non-root user, the data directory as a volume.
#   docker build -t pmserve .
#   docker run -p 8080:8080 -v pmserve-data:/data pmserve
# Settings are the usual PMSERVE_* variables (README, "Settings").
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="pmserve" \
      org.opencontainers.image.description="Predictive-model deployment and scoring service, wire-compatible with IBM's /pm/v1 API" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /wheels /wheels
# The wheels built above, and nothing else: pmserve, its dependencies and the postgres extra.
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data --no-create-home pmserve \
    && mkdir -p /data && chown pmserve /data
USER 10001
ENV PMSERVE_DATA_DIR=/data \
    PMSERVE_HOST=0.0.0.0 \
    PMSERVE_PORT=8080 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PMSERVE_PORT', '8080')}/ready\", timeout=4).status == 200 else 1)"]
ENTRYPOINT ["pmserve"]
CMD ["serve"]
