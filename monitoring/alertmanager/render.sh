#!/bin/sh
# Alertmanager for Mining Ops AI: route every Prometheus alert (monitoring/prometheus/alerts.yml) to
# the same receivers as the service's own notifications (api/notify.py), configured by the same
# settings: MINEOPS_NOTIFY_WEBHOOK_URL, and MINEOPS_NOTIFY_SMTP_HOST/_PORT/_STARTTLS/_USER/_PASSWORD
# with MINEOPS_NOTIFY_EMAIL_FROM/_TO. Alertmanager's file cannot read the environment, so this
# script writes it, then runs alertmanager with it (docker-compose.yml, service "alertmanager").
#
#   render.sh OUT.yml                 write the configuration only (tests check it with amtool)
#   render.sh OUT.yml alertmanager …  write it, then exec the rest of the arguments
#
# Webhook posts are Alertmanager's standard JSON (version 4, "alerts": [...]); they carry
# "Authorization: Bearer $ALERTMANAGER_WEBHOOK_TOKEN" when that is set (see docs/operations.md).
# With no receiver configured the alerts are kept in Alertmanager's UI only.
set -eu
out=$1
shift

q() {  # a YAML single-quoted scalar
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

webhook=${MINEOPS_NOTIFY_WEBHOOK_URL:-}
smtp_host=${MINEOPS_NOTIFY_SMTP_HOST:-}
email_to=${MINEOPS_NOTIFY_EMAIL_TO:-}

{
  echo "# Written by monitoring/alertmanager/render.sh; edit that script, not this file."
  echo "route:"
  echo "  receiver: mineops"
  echo "  group_by: [alertname, severity]"
  echo "  group_wait: 30s"
  echo "  group_interval: 5m"
  echo "  repeat_interval: 4h"
  echo "receivers:"
  echo "  - name: mineops"
  if [ -n "$webhook" ]; then
    echo "    webhook_configs:"
    echo "      - url: $(q "$webhook")"
    echo "        send_resolved: true"
    if [ -n "${ALERTMANAGER_WEBHOOK_TOKEN:-}" ]; then
      echo "        http_config:"
      echo "          authorization:"
      echo "            type: Bearer"
      echo "            credentials: $(q "$ALERTMANAGER_WEBHOOK_TOKEN")"
    fi
  fi
  if [ -n "$smtp_host" ] && [ -n "$email_to" ]; then
    tls=false
    case "${MINEOPS_NOTIFY_SMTP_STARTTLS:-false}" in true|True|TRUE|1|yes|on) tls=true ;; esac
    echo "    email_configs:"
    echo "      - to: $(q "$email_to")"
    echo "        from: $(q "${MINEOPS_NOTIFY_EMAIL_FROM:-mineops@localhost}")"
    echo "        smarthost: $(q "$smtp_host:${MINEOPS_NOTIFY_SMTP_PORT:-25}")"
    echo "        require_tls: $tls"
    echo "        send_resolved: true"
    if [ -n "${MINEOPS_NOTIFY_SMTP_USER:-}" ]; then
      echo "        auth_username: $(q "$MINEOPS_NOTIFY_SMTP_USER")"
      echo "        auth_password: $(q "${MINEOPS_NOTIFY_SMTP_PASSWORD:-}")"
    fi
  fi
} > "$out"

if [ "$#" -gt 0 ]; then
  exec "$@"
fi
