#!/usr/bin/env bash
# Post a Jira payload file to the adapter the way Jira does: the `timestamp` set to now (the
# adapter refuses payloads older than its replay window) and signed with the webhook secret.
#   examples/post-jira.sh examples/payloads/jira_issue_created.json [http://127.0.0.1:8080/webhooks/jira]
set -euo pipefail
file=$1
url=${2:-http://127.0.0.1:8080/webhooks/jira}
secret=${JIRA_WEBHOOK_SECRET:-jira-example-secret-not-real}
body=$(mktemp)
trap 'rm -f "$body"' EXIT
python3 - "$file" "$body" <<'PY'
import re, sys, time
raw = open(sys.argv[1], "rb").read()
now = str(int(time.time() * 1000)).encode()
open(sys.argv[2], "wb").write(re.sub(rb'("timestamp"\s*:\s*)\d+', lambda m: m.group(1) + now, raw, count=1))
PY
signature=$(python3 -c 'import hashlib, hmac, sys; print(hmac.new(sys.argv[1].encode(), open(sys.argv[2], "rb").read(), hashlib.sha256).hexdigest())' "$secret" "$body")
curl -sS -X POST "$url" \
  -H 'content-type: application/json' \
  -H "x-hub-signature: sha256=$signature" \
  --data-binary @"$body"
echo
