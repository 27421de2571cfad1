#!/usr/bin/env bash
# Production installs requirements.txt alone: show that it holds no test or dev
# tooling and is enough to pass `check --deploy`, serve /healthz, and take one
# webhook through a task worker to the gateway (the sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

echo "== runtime-only environment from requirements.txt"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet --require-hashes --no-deps -r requirements.txt
py="$work/venv/bin/python"

for tool in pytest pytest_django hypothesis schemathesis moto playwright ruff flask docker cfnlint sympy; do
    if "$py" -c "import $tool" 2>/dev/null; then
        echo "the runtime environment has $tool: requirements.txt must hold runtime packages only" >&2
        exit 1
    fi
done

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sandbox_port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=runtime-check-instance-token-0123
export DEBUG=false SECRET_KEY=runtime-check-kQ3v9xZr2LmTn8wYp5HsJd7Fb4Gc1Vq6Ae0Ru3Wt9Xy2Zn5 \
    ALLOWED_HOSTS=127.0.0.1 CSRF_TRUSTED_ORIGINS=https://127.0.0.1 \
    SECURE_SSL_REDIRECT=true SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_INCLUDE_SUBDOMAINS=true \
    SECURE_HSTS_PRELOAD=true SECURE_COOKIES=true BEHIND_TLS_PROXY=true \
    DATABASE_URL="sqlite:///$work/db.sqlite3" PROMETHEUS_MULTIPROC_DIR="$work/metrics" \
    EVOLUTION_GO_URL="http://127.0.0.1:$sandbox_port" EVOLUTION_GO_INSTANCE_TOKEN=$token \
    EVOLUTION_GO_KEY=runtime-check-global-key
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

echo "== check --deploy"
"$py" manage.py check --deploy --fail-level WARNING
"$py" manage.py migrate --verbosity 0
"$py" manage.py collectstatic --noinput --verbosity 0

echo "== gunicorn, the sandbox, one webhook through db_worker"
"$py" manage.py evolution_sandbox --port "$sandbox_port" --instance-token $token \
    --global-key runtime-check-global-key >"$work/sandbox.log" 2>&1 &
pids+=($!)
"$work/venv/bin/gunicorn" -c gunicorn.conf.py evonexus.wsgi --bind "127.0.0.1:$port" \
    --workers 1 --threads 2 >"$work/gunicorn.log" 2>&1 &
pids+=($!)
public_id=$("$py" manage.py shell --no-imports -c "
from triggers.models import Trigger
trigger = Trigger.objects.create(
    name='Runtime check', slug='runtime-check', source='whatsapp', secret='$token',
    action_type='whatsapp', action_payload={'message': 'Hi {{ push_name }}, you said {{ text }}'},
)
print(trigger.public_id)
")
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >"$work/healthz.json" 2>/dev/null && break
    sleep 0.2
done
grep -q '"status": "ok"' "$work/healthz.json" || { cat "$work/gunicorn.log"; exit 1; }
curl -sf "http://127.0.0.1:$sandbox_port/instance/status" -H "apikey: $token" >/dev/null

body='{"event": "Message", "instanceName": "runtime", "instanceToken": "'$token'", "data": {"Info":
 {"ID": "RUNTIME-CHECK-1", "Sender": "5511999999999@s.whatsapp.net", "Chat": "5511999999999@s.whatsapp.net",
  "IsFromMe": false, "PushName": "Ana"}, "Message": {"conversation": "hello"}}}'
answer=$(curl -s -w ' %{http_code}' -X POST "http://127.0.0.1:$port/api/triggers/$public_id/webhook" \
    -H 'Content-Type: application/json' -H 'X-Forwarded-Proto: https' -d "$body")
echo "webhook: $answer"
[[ $answer == *'"accepted"'*' 202' ]] || { cat "$work/gunicorn.log"; exit 1; }

"$py" manage.py db_worker --batch --no-startup-delay --no-reload >"$work/worker.log" 2>&1 \
    || { cat "$work/worker.log"; exit 1; }
messages=$(curl -s "http://127.0.0.1:$sandbox_port/_sandbox/messages")
echo "sandbox received: $messages"
[[ $messages == *'Hi Ana, you said hello'* ]] || { cat "$work/worker.log"; exit 1; }
echo "runtime-only check passed"
