#!/bin/sh
# The MLflow server: PostgreSQL backend, artifacts proxied to the S3 store, basic auth on, and the host
# names the other containers use allowed (MLflow 3 rejects unknown Host headers with 403).
set -eu
"$(dirname "$0")/require-secrets.sh"  # no server on the example secrets of .env.example
cat > /tmp/basic_auth.ini <<INI
[mlflow]
default_permission = READ
database_uri = postgresql+psycopg2://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/mlflow_auth
admin_username = ${MLFLOW_ADMIN_USERNAME}
admin_password = ${MLFLOW_ADMIN_PASSWORD}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH=/tmp/basic_auth.ini
exec mlflow server \
  --host 0.0.0.0 --port 5000 \
  --backend-store-uri "postgresql+psycopg2://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/mlflow" \
  --serve-artifacts --artifacts-destination "s3://${S3_BUCKET}" \
  --app-name basic-auth \
  --allowed-hosts "mlflow:5000,mlflow:*,localhost:*,127.0.0.1:*"
