"""The model every test of tests/app serves: the session's shared run (tests/conftest.py), trained
once by the real `train` command into its own SQLite store."""

import pytest

from tests.helpers import using_store

MODEL_NAME = "digits-classifier"
MODEL_URI = f"models:/{MODEL_NAME}@champion"


@pytest.fixture(scope="session")
def trained_model(shared_run):
    """(tracking URI, run id) of the 2-epoch digits MLP registered as digits-classifier@champion.

    Shared: serve, predict and the web page only read that store."""
    return shared_run.uri, shared_run.run_id


@pytest.fixture(scope="session")
def pyfunc_model(trained_model):
    with using_store(trained_model[0]) as mlflow:
        return mlflow.pyfunc.load_model(MODEL_URI)
