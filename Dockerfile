# One image for every service; the container's command picks which (`sandbox serve <name>`, or the one-shot
# `sandbox bootstrap`). It holds code only: credentials come from the environment and mounted files.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY services ./services
COPY usecases ./usecases
COPY sandbox ./sandbox
RUN pip install --no-cache-dir .
RUN useradd --create-home --uid 10001 sandbox && mkdir -p /data && chown sandbox /data
USER 10001
EXPOSE 8000 8001 8002 8003 8101 8102
CMD ["sandbox", "serve", "information_mediator"]
