"""``predict``/``embed`` on a Dask cluster: same rows, same values, worker deaths."""

import os
import signal
import threading

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from test_cli import FIT_OPTIONS, write_table
from test_streaming import EMBED_ROLES, IMAGE_SIZE, progress

from mmensemble.cli import embed_partitions, predict_partitions, read_embeddings
from mmensemble.cli._distributed import _loaded_model
from mmensemble.cli._main import main, read_model, read_table
from mmensemble.cli._predictions import prediction_table

ROLES = ["--image", "photo", "--text", "note", "--tabular", "size", "weight"]


@pytest.fixture(scope="module")
def cluster():
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with Client(cluster) as client:
        yield cluster, client
    cluster.close()


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    csv, data = write_table(tmp_path_factory.mktemp("table"))
    long = pd.concat([data] * 10, ignore_index=True)
    long["id"] = [f"r{row}" for row in range(len(long))]
    long.to_csv(csv.parent / "long.csv", index=False)
    return csv, csv.parent / "long.csv"


@pytest.fixture(scope="module")
def model(table, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "voting.mmen"
    argv = ["fit", table[0], "--target", "label", *ROLES, "--fusion", "voting"]
    assert main([str(arg) for arg in [*argv, "-o", path, *FIT_OPTIONS]]) == 0
    return path


def assert_same_predictions(remote, local):
    assert remote["id"].tolist() == local["id"].tolist()
    assert remote["prediction"].tolist() == local["prediction"].tolist()
    # workers run torch on one thread: float sums differ in the last digits
    np.testing.assert_allclose(
        remote[["proba_no", "proba_yes"]], local[["proba_no", "proba_yes"]], atol=1e-6
    )


def test_predict_on_the_cluster_equals_in_process(cluster, model, table, tmp_path):
    _, client = cluster
    _, long = table
    common = ["predict", model, long, "--chunk-rows", "50"]
    assert main([str(arg) for arg in [*common, "-o", tmp_path / "local.csv"]]) == 0
    address = cluster[0].scheduler_address
    remote = tmp_path / "remote.parquet"
    assert main([str(arg) for arg in [*common, "-o", remote, "--dask", address]]) == 0
    assert_same_predictions(
        pd.read_parquet(remote), pd.read_csv(tmp_path / "local.csv")
    )
    # Each worker loaded the model file once, for all its chunks.
    loads = client.run(lambda: _loaded_model.cache_info().misses)
    assert sorted(loads.values()) == [1, 1]


def test_predict_partitions_of_a_dask_dataframe(cluster, model, table):
    csv, _ = table
    frame = pd.read_csv(csv, keep_default_na=False, na_values=[""], dtype=object)
    frame[["size", "weight"]] = frame[["size", "weight"]].astype(float)
    ddf = dd.from_pandas(frame, npartitions=3)
    lazy = predict_partitions(model, ddf, base_dir=csv.parent, explain=True)
    remote = lazy.compute()
    fitted = read_model(model)
    local = prediction_table(fitted, read_table(csv, fitted.roles), explain=True)
    assert remote.index.tolist() == local.index.tolist()
    assert remote.columns.tolist() == local.columns.tolist()
    assert_same_predictions(remote, local)
    explained = [column for column in local if column.startswith("explain_")]
    np.testing.assert_allclose(remote[explained], local[explained], atol=1e-6)


def assert_same_embeddings(remote, local):
    assert remote.columns.tolist() == local.columns.tolist()
    numbers = local.select_dtypes("number").columns
    np.testing.assert_allclose(remote[numbers], local[numbers], atol=1e-5)
    others = local.columns.drop(numbers)
    pd.testing.assert_frame_equal(remote[others], local[others], check_dtype=False)


@pytest.mark.parametrize("with_model", [True, False])
def test_embed_on_the_cluster_equals_in_process(
    cluster, model, table, tmp_path, with_model
):
    csv, _ = table
    if with_model:
        argv = ["embed", model, csv]
    else:
        argv = ["embed", csv, *EMBED_ROLES, *IMAGE_SIZE, "--text-encoder", "tfidf"]
    argv += ["--target", "label", "--chunk-rows", "15"]
    assert main([str(arg) for arg in [*argv, "-o", tmp_path / "local.csv"]]) == 0
    remote = tmp_path / "remote.parquet"
    address = cluster[0].scheduler_address
    assert main([str(arg) for arg in [*argv, "-o", remote, "--dask", address]]) == 0
    local = read_embeddings(tmp_path / "local.csv")
    assert_same_embeddings(read_embeddings(remote), local)
    if with_model:
        frame = read_table(csv, read_model(model).roles, target="label")
        ddf = dd.from_pandas(frame, npartitions=2)
        lazy = embed_partitions(model, ddf, keep=["label"])
        assert_same_embeddings(lazy.compute(), local)


def test_a_worker_killed_mid_job_loses_no_rows(cluster, model, table, tmp_path):
    _, client = cluster
    _, long = table
    common = ["predict", model, long, "--chunk-rows", "4"]
    assert main([str(arg) for arg in [*common, "-o", tmp_path / "local.csv"]]) == 0
    output = tmp_path / "remote.csv"
    argv = [*common, "-o", output, "--dask", cluster[0].scheduler_address]
    statuses = []
    job = threading.Thread(target=lambda: statuses.append(main(list(map(str, argv)))))
    job.start()
    while len(progress(output)) < 2 and job.is_alive():
        job.join(timeout=0.01)
    assert job.is_alive(), "the job ended before a worker could be killed"
    victim = next(iter(client.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    job.join()
    assert statuses == [0]
    assert_same_predictions(pd.read_csv(output), pd.read_csv(tmp_path / "local.csv"))
