#!/usr/bin/env bash
# Create the dev overlay's Secrets with random values, once (an existing Secret is kept:
# rotating is deliberate, see docs/operations.md#rotate-secrets). Nothing is written to
# the repository.
#   deploy/k8s/overlays/dev/make-secrets.sh [namespace]
set -euo pipefail
ns=${1:-crm-dev}
kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"
random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
secret() {  # name key=value ...
  local name=$1; shift
  if kubectl -n "$ns" get secret "$name" >/dev/null 2>&1; then
    echo "kept secret/$name"; return
  fi
  local args=()
  for kv in "$@"; do args+=(--from-literal="$kv"); done
  kubectl -n "$ns" create secret generic "$name" "${args[@]}"
}
mq_password=$(random)
secret crm-rabbitmq username=crm password="$mq_password"
secret crm-amqp uri="amqp://crm:${mq_password}@rabbitmq:5672//"
secret crm-jwt secret="$(random)"
secret crm-gateway admin-password="$(random)"
secret postgres-superuser password="$(random)"
for svc in gateway customer sales billing service_desk docs notify; do
  password=$(random)
  secret "${svc//_/-}-db-app" username="$svc" password="$password" \
    uri="postgresql://${svc}:${password}@postgres:5432/${svc}"
done
echo "admin password: kubectl -n $ns get secret crm-gateway -o jsonpath='{.data.admin-password}' | base64 -d"
