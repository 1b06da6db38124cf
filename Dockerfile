# The bot's image; see the README's Deployment section.
#   docker build -t councilbot .
#   docker run -e TELEGRAM_BOT_TOKEN=... -e COUNCILBOT_DATABASE_URL=postgresql+asyncpg://... councilbot

# Build stage: a virtualenv holding exactly the locked runtime dependencies (hashes
# checked) and the bot; pip, the build backend and caches stay behind in this stage.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
RUN python -m venv /opt/venv
WORKDIR /app
COPY requirements.txt ./
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.txt
COPY pyproject.toml README.md ./
COPY src ./src
# Editable, like a checkout: the bot finds migrations/ and config/ beside src/ in /app.
RUN /opt/venv/bin/pip install --no-deps -e .

# Runtime stage: the virtualenv, the sources, the migrations and the default config
# (the bot builds its Alembic config itself: no alembic.ini).
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    COUNCILBOT_DATABASE_URL=sqlite+aiosqlite:////data/councilbot.db \
    COUNCILBOT_MIGRATE_ON_START=true
# The bot runs as an unprivileged user that can write only /data (a SQLite file, if used).
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home councilbot \
    && mkdir /data \
    && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY migrations ./migrations
COPY config ./config
COPY src ./src
COPY deploy/entrypoint.sh /usr/local/bin/councilbot-entrypoint
USER 10001:10001
EXPOSE 8080
# /healthz on the port the settings give (environment or config/councilbot.toml);
# any answer but 200, or none, is unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; from councilbot.settings import load_settings; urllib.request.urlopen('http://127.0.0.1:%d/healthz' % load_settings().http_port, timeout=4)"]
ENTRYPOINT ["councilbot-entrypoint"]
CMD ["run"]
