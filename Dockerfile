FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
COPY config ./config
RUN pip install -e . && useradd --create-home councilbot && chown councilbot /app
USER councilbot

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('COUNCILBOT_HTTP_PORT', '8080'), timeout=4)"
# Migrate and seed (both idempotent), then start the bot.
CMD ["sh", "-c", "councilbot db upgrade && councilbot seed && exec councilbot run"]
