#!/bin/sh
# The image's entry point.
#   run (the default)  migrate and seed the database (both idempotent) unless
#                      COUNCILBOT_MIGRATE_ON_START=false, then become `councilbot run`
#   migrate            migrate and seed, then stop (a one-off job before the bot starts)
#   anything else      a councilbot command, e.g. `db current`
# `exec` makes the bot this very process, PID 1 in the container, so the SIGTERM of
# `docker stop` reaches the bot, which shuts down cleanly by itself.
set -eu

migrate() {
    councilbot db upgrade
    councilbot seed
}

[ "$#" -gt 0 ] || set -- run
case "$1" in
    migrate)
        migrate
        exit 0
        ;;
    run)
        case "${COUNCILBOT_MIGRATE_ON_START:-true}" in
            true | 1 | yes) migrate ;;
            false | 0 | no) ;;
            *)
                echo "councilbot-entrypoint: COUNCILBOT_MIGRATE_ON_START must be true or false," \
                    "not '${COUNCILBOT_MIGRATE_ON_START}'" >&2
                exit 2
                ;;
        esac
        ;;
esac
exec councilbot "$@"
