#!/bin/sh
# Refuse to start while a secret still holds its example value from .env.example (every example secret
# there starts with "change-me-"): one line naming the variables, exit 1. Otherwise run the command
# given, if any (the stack's services start through this, and the secrets-check service runs it alone).
#   require-secrets.sh [COMMAND [ARGS...]]
set -eu
bad=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*change-me-.*/\1/p' | sort | tr '\n' ' ' | sed 's/ *$//; s/ /, /g')
if [ -n "$bad" ]; then
  echo "hartune: refusing to start: $bad still hold the example values of .env.example (change-me-*); set secrets of your own in .env" >&2
  exit 1
fi
if [ $# -gt 0 ]; then
  exec "$@"
fi
