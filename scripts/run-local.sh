#!/usr/bin/env bash
# `make run`: Azurite on its default ports (data in .azurite/), the account `dev`, a fresh Secret Token,
# then the local Functions host on $HOST:$PORT. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-7071}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p .azurite
if ! listening 10002; then
  node_modules/.bin/azurite --silent --skipApiVersionCheck --location .azurite \
    --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 > .azurite/azurite.log 2>&1 &
  azurite_pid=$!
  trap 'kill "$azurite_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do listening 10002 && listening 10001 && break; sleep 0.1; done
  listening 10002 || { echo "Azurite did not start; see .azurite/azurite.log" >&2; exit 1; }
fi

# The dev account applies email changes (UPDATE_EMAILS_VIA_SCIM), so generic SCIM checkers see standard behaviour;
# accounts created with manage.py leave it off unless asked, as Harness does.
$PY manage.py accounts show dev > /dev/null 2>&1 ||
  $PY manage.py accounts create dev --name "Local development" --feature UPDATE_EMAILS_VIA_SCIM > /dev/null
token=$($PY manage.py tokens create dev | tail -n 1)
cat <<MSG

  Tenant URL:   http://$HOST:$PORT/api/scim/account/dev
  Secret Token: $token

  Try: curl -H "Authorization: Bearer $token" http://$HOST:$PORT/api/scim/account/dev/ServiceProviderConfig

MSG
$PY -m devhost --host "$HOST" --port "$PORT"
