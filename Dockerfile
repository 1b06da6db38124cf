FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
COPY config ./config
RUN pip install -e . && useradd --create-home councilbot
USER councilbot

EXPOSE 8080
# Migrate and seed (both idempotent), then start the bot.
CMD ["sh", "-c", "councilbot db upgrade && councilbot seed && exec councilbot run"]
