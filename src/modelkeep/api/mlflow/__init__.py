"""The MLflow REST API on the service interfaces, so the official ``mlflow`` client works against
``mk server``: tracking (experiments, runs, metrics, logged models), the model registry, and the
artifact store (``mlflow-artifacts``), with MLflow's error shape. Mounted by :mod:`modelkeep.api.app`."""
