# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run chat test lint format migrate seed clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Migrate, seed and start the bot (the console chat when no platform token is set).
run: $(STAMP)
	$(BIN)/councilbot db upgrade
	$(BIN)/councilbot seed
	$(BIN)/councilbot run

## Open the console chat only.
chat: $(STAMP)
	$(BIN)/councilbot db upgrade
	$(BIN)/councilbot seed
	$(BIN)/councilbot chat

migrate: $(STAMP)
	$(BIN)/councilbot db upgrade

seed: $(STAMP)
	$(BIN)/councilbot seed

## Lint, check the layering (import-linter contracts in pyproject.toml) and run every test.
test: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format src tests bench migrations
	$(BIN)/ruff check --fix src tests bench migrations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache councilbot.db

LOCALES := src/councilbot/locales
## Extract translatable messages and merge them into every catalog.
## The catalogs keep their header (its Plural-Forms chooses plural forms) and its date,
## so that a run with no new message changes nothing.
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --omit-header --sort-output -k N_ -k t -k reply \
		-k plural:1,2 -o $(LOCALES)/councilbot.pot src/councilbot
	for lang in es it fr tr; do \
		if [ -f $(LOCALES)/$$lang/LC_MESSAGES/councilbot.po ]; then \
			$(BIN)/pybabel update --no-fuzzy-matching --ignore-pot-creation-date -i $(LOCALES)/councilbot.pot -d $(LOCALES) -D councilbot -l $$lang; \
		else \
			$(BIN)/pybabel init -i $(LOCALES)/councilbot.pot -d $(LOCALES) -D councilbot -l $$lang; \
		fi; \
	done
