# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The lock files: exact versions with their hashes, within pyproject.toml's ranges.
# requirements.txt is what the bot needs (the image installs it), requirements-build.txt
# the build backend that installs the bot (pyproject.toml's build-system: hatchling),
# requirements-dev.txt both and the tools of `make test` and `make lock`.
LOCK := requirements.txt
BUILD_LOCK := requirements-build.txt
DEV_LOCK := requirements-dev.txt
# `make lock LOCK_UPGRADE=` keeps today's pins and only adds what pyproject.toml changed.
LOCK_UPGRADE ?= --upgrade
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet $(LOCK_UPGRADE) \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: run chat test lint format migrate seed clean messages lock bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every package from the lock, hashes checked; then the bot itself, whose dependencies are in
# it, built by the locked hatchling (not the newest one pip would fetch for an isolated build).
$(STAMP): $(BIN)/python $(DEV_LOCK) pyproject.toml
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## Re-pin every dependency to the newest release pyproject.toml allows; commit both files.
lock: $(STAMP)
	$(PIP_COMPILE) --output-file $(LOCK) pyproject.toml
	$(PIP_COMPILE) --only-build-deps --build-deps-for editable --constraint $(LOCK) \
		--output-file $(BUILD_LOCK) pyproject.toml
	$(PIP_COMPILE) --extra dev --build-deps-for editable --constraint $(LOCK) \
		--constraint $(BUILD_LOCK) --output-file $(DEV_LOCK) pyproject.toml

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

## Lint (code and Dockerfile), check the layering (import-linter contracts in pyproject.toml)
## and run every test.
test: lint
	$(BIN)/python -m pytest -n auto --dist worksteal

## Lint the code and the Dockerfile and check the layering, without the tests.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint Dockerfile

format: $(STAMP)
	$(BIN)/ruff format src tests bench migrations
	$(BIN)/ruff check --fix src tests bench migrations

## CouncilBot beside the bare echo bot of each chat library, on fake platforms (bench/platforms.py).
bench: $(STAMP)
	$(BIN)/python -m bench.platforms

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
			$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date -i $(LOCALES)/councilbot.pot -d $(LOCALES) -D councilbot -l $$lang; \
		else \
			$(BIN)/pybabel init -i $(LOCALES)/councilbot.pot -d $(LOCALES) -D councilbot -l $$lang; \
		fi; \
	done
