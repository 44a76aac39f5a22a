#!/usr/bin/env bash
# `make run`: Azurite (data in $AZURITE_LOCATION, default .azurite/), the account `dev` and its Secret Token, then the
# local Functions host on $HOST:$PORT. Ctrl-C stops both.
#
# Ports: AZURITE_BLOB_PORT, AZURITE_QUEUE_PORT, AZURITE_TABLE_PORT (defaults 10000-10002). An Azurite already
# listening there is used (and said so); anything else on those ports is refused, never written to.
# The dev token is kept in $AZURITE_LOCATION/dev-token and reused while it is valid, so restarts do not pile up
# valid tokens; when a new one is minted, the ones still valid are listed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-7071}
BLOB_PORT=${AZURITE_BLOB_PORT:-10000}
QUEUE_PORT=${AZURITE_QUEUE_PORT:-10001}
TABLE_PORT=${AZURITE_TABLE_PORT:-10002}
LOCATION=${AZURITE_LOCATION:-.azurite}
KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ACCOUNT=devstoreaccount1

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
is_azurite() {  # Azurite names itself in the Server header of every answer
  "$PY" - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    server = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=3).headers.get("Server", "")
except urllib.error.HTTPError as exc:
    server = exc.headers.get("Server", "")
except Exception:
    server = ""
sys.exit(0 if server.startswith("Azurite") else 1)
PY
}

mkdir -p "$LOCATION"
held=()
for port in "$BLOB_PORT" "$QUEUE_PORT" "$TABLE_PORT"; do
  if listening "$port"; then held+=("$port"); fi
done
if [ ${#held[@]} -eq 0 ]; then
  node_modules/.bin/azurite --silent --skipApiVersionCheck --location "$LOCATION" \
    --blobHost 127.0.0.1 --blobPort "$BLOB_PORT" --queueHost 127.0.0.1 --queuePort "$QUEUE_PORT" \
    --tableHost 127.0.0.1 --tablePort "$TABLE_PORT" > "$LOCATION/azurite.log" 2>&1 &
  azurite_pid=$!
  trap 'kill "$azurite_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do listening "$TABLE_PORT" && listening "$QUEUE_PORT" && break; sleep 0.1; done
  listening "$TABLE_PORT" || { echo "Azurite did not start; see $LOCATION/azurite.log" >&2; exit 1; }
  storage="Azurite started here, data in $LOCATION/"
else
  for port in "${held[@]}"; do
    if ! is_azurite "$port"; then
      echo "error: port $port is in use by something that is not Azurite; stop it, or choose other ports with" \
           "AZURITE_BLOB_PORT, AZURITE_QUEUE_PORT and AZURITE_TABLE_PORT" >&2
      exit 1
    fi
  done
  if [ ${#held[@]} -ne 3 ]; then
    echo "error: only ports ${held[*]} of $BLOB_PORT, $QUEUE_PORT, $TABLE_PORT answer as Azurite; stop that Azurite" \
         "or choose other ports (AZURITE_*_PORT)" >&2
    exit 1
  fi
  storage="the Azurite already running on these ports (its data is wherever it was started)"
fi
export AzureWebJobsStorage="DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;\
BlobEndpoint=http://127.0.0.1:$BLOB_PORT/$ACCOUNT;QueueEndpoint=http://127.0.0.1:$QUEUE_PORT/$ACCOUNT;\
TableEndpoint=http://127.0.0.1:$TABLE_PORT/$ACCOUNT;"

# The dev account applies email changes (UPDATE_EMAILS_VIA_SCIM), so generic SCIM checkers see standard behaviour;
# accounts created with manage.py leave it off unless asked, as Harness does.
$PY manage.py accounts show dev > /dev/null 2>&1 ||
  $PY manage.py accounts create dev --name "Local development" --feature UPDATE_EMAILS_VIA_SCIM > /dev/null

token_file="$LOCATION/dev-token"
active_scim_tokens() { $PY manage.py tokens list dev | awk -F'\t' '$2 == "scim" && $5 == "active" { print $1 }'; }
token=""
if [ -s "$token_file" ]; then
  saved=$(cat "$token_file")
  if active_scim_tokens | grep -qx "$(echo "$saved" | cut -d. -f2)"; then
    token=$saved
    token_note="(the dev token from an earlier start, kept in $token_file)"
  fi
fi
if [ -z "$token" ]; then
  token=$($PY manage.py tokens create dev | tail -n 1)
  (umask 077 && echo "$token" > "$token_file")
  others=$(active_scim_tokens | grep -vx "$(echo "$token" | cut -d. -f2)" | tr '\n' ' ' || true)
  token_note="(new; kept in $token_file)"
  if [ -n "$others" ]; then
    token_note="$token_note. Earlier tokens of dev stay valid until revoked: $others(python manage.py tokens revoke dev KEY_ID)"
  fi
fi
cat <<MSG

  Storage:      tables at http://127.0.0.1:$TABLE_PORT, queues at http://127.0.0.1:$QUEUE_PORT: $storage
  Tenant URL:   http://$HOST:$PORT/api/scim/account/dev
  Secret Token: $token
                $token_note

  Try: curl -H "Authorization: Bearer $token" http://$HOST:$PORT/api/scim/account/dev/ServiceProviderConfig
  Console:      http://$HOST:$PORT/api/console/  (account dev; an admin token: python manage.py tokens create dev --scope admin)

MSG
$PY -m devhost --host "$HOST" --port "$PORT"
