"""Where runs go, and that credentials in URIs are never printed or logged."""

from hartune.tracking import redact, resolve_uri


def test_passwords_in_uris_are_redacted() -> None:
    text = "uri: http://admin:s3cret@mlflow:5000\noptuna_storage: postgresql+psycopg2://hartune:pw@postgres:5432/optuna"
    out = redact(text)
    assert "s3cret" not in out and ":pw@" not in out
    assert "http://admin:***@mlflow:5000" in out and "postgresql+psycopg2://hartune:***@postgres:5432/optuna" in out
    assert redact("sqlite:////tmp/mlflow.db and http://mlflow:5000") == "sqlite:////tmp/mlflow.db and http://mlflow:5000"


def test_tracking_uri_from_spec_then_environment_then_local_sqlite(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert resolve_uri(None, tmp_path) == "http://mlflow:5000"
    assert resolve_uri("http://other:5000", tmp_path) == "http://other:5000"
