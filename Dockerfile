# bloxs-adapter: one image for `serve` (webhooks + dispatcher) and `worker` (dispatcher only).
# Build: docker build -t bloxs-adapter .
# Run:   docker run -p 8080:8080 -v $PWD/examples:/etc/bloxs-adapter bloxs-adapter

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY adapter ./adapter
# Versions come from constraints.txt (the pins the tests ran with), not from pins here.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --prefix=/install -c constraints.txt '.[postgres]'

FROM python:3.11-slim
# A fixed non-root uid, so Kubernetes' runAsNonRoot can check it.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin adapter
COPY --from=build /install /usr/local
WORKDIR /var/lib/bloxs-adapter
RUN chown 10001:10001 /var/lib/bloxs-adapter
USER 10001
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BLOXS_ADAPTER_CONFIG=/etc/bloxs-adapter/adapter.yaml
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["bloxs-adapter"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
