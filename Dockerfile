# The bot's image; see the README's Deployment section.
#   docker build -t councilbot .
#   docker run --stop-timeout 30 -e TELEGRAM_BOT_TOKEN=... -e COUNCILBOT_DATABASE_URL=postgresql+asyncpg://... councilbot

# Build stage: the locked build backend (hatchling) in a virtualenv of its own, /opt/build,
# whose pip installs into /opt/venv, a virtualenv made without pip: /opt/venv ends up
# holding exactly the locked runtime dependencies (hashes checked) and the bot.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
WORKDIR /app
COPY requirements.txt requirements-build.txt ./
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --no-deps -r requirements-build.txt \
    && python -m venv --without-pip /opt/venv \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --require-hashes --no-deps \
        -r requirements.txt
COPY pyproject.toml README.md ./
COPY src ./src
# Editable, like a checkout: the bot finds migrations/ and config/ beside src/ in /app.
# The locked hatchling builds the editable wheel (a .pth naming /app/src, and the
# `councilbot` command), so /opt/venv needs no build backend to install it.
RUN /opt/build/bin/hatchling build --target wheel:editable --directory /tmp/wheels \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps \
        /tmp/wheels/councilbot-*.whl

# Runtime stage: /opt/venv (the runtime dependencies and the bot's entry point; no pip,
# setuptools or build backend), the sources, the migrations and the default config
# (the bot builds its Alembic config itself: no alembic.ini). /opt/build stays behind.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    COUNCILBOT_DATABASE_URL=sqlite+aiosqlite:////data/councilbot.db \
    COUNCILBOT_MIGRATE_ON_START=true
# The bot runs as an unprivileged user that can write only /data (a SQLite file, if used)
# and the scratch directories open to every user (/tmp, /var/tmp). The base image's own
# pip and setuptools go: nothing in the image installs packages.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home councilbot \
    && mkdir /data \
    && chown 10001:10001 /data \
    && /usr/local/bin/python -m pip uninstall --yes pip setuptools wheel
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
