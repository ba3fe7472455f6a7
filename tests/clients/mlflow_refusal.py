"""What MLflow's client raised for a call (its error code and message), or "accepted": imported by
the scripts beside it, which the MLflow client venvs run."""

from mlflow.exceptions import MlflowException


def refused(call):
    try:
        call()
    except MlflowException as exc:
        return {"code": exc.error_code, "message": exc.message}
    return "accepted"
