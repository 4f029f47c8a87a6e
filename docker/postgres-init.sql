-- The MLflow backend store uses the POSTGRES_DB database (mlflow); Optuna studies get their own.
CREATE DATABASE optuna;
-- MLflow's basic-auth app keeps its users and permissions apart from the tracking tables.
CREATE DATABASE mlflow_auth;
