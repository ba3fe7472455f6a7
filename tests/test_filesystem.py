"""Dataset versions read in place through fsspec (``mk://NAME@N/FILE``, issue 17): byte ranges
from the chunk list (a Parquet footer or one row group fetches only its chunks), by PyArrow,
pandas, Polars, DuckDB and a real Dask cluster, and recorded as a run's input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest

from modelkeep.client.filesystem import ModelKeepFileSystem
from modelkeep.errors import InvalidInput
from modelkeep.services.connection import LocalConnection
from modelkeep.services.workspace import Workspace

pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")

ROWS = 120_000


def _frame(seed: int) -> Any:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"amount": rng.normal(size=ROWS), "score": rng.random(ROWS),
                         "country": rng.choice(["de", "fr", "us"], size=ROWS), "label": rng.integers(0, 2, ROWS)})


@pytest.fixture
def sales(workspace: Workspace, tmp_path: Path) -> dict[str, Any]:
    """A dataset version of two Parquet files, each of several row groups (and many chunks)."""
    folder = tmp_path / "sales"
    folder.mkdir()
    frames = {f"part-{i}.parquet": _frame(i) for i in range(2)}
    for name, frame in frames.items():
        frame.to_parquet(folder / name, row_group_size=20_000, compression=None)
    (folder / "README.txt").write_text("sales, by day\n")
    workspace.datasets.add(folder, "sales")
    return frames


@pytest.fixture
def fetched(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The chunk ids the store is asked for."""
    asked: list[str] = []
    real = workspace.repo.get_many

    def counting(oids: Any, **kwargs: Any) -> Any:
        oids = list(oids)
        asked.extend(oids)
        return real(oids, **kwargs)

    monkeypatch.setattr(workspace.repo, "get_many", counting)
    yield asked


def test_a_parquet_footer_and_one_row_group_fetch_only_their_chunks(workspace: Workspace, sales: dict[str, Any],
                                                                   fetched: list[str]) -> None:
    fs = ModelKeepFileSystem(connection=LocalConnection(workspace))
    entry = workspace.datasets.files("sales@1")["part-0.parquet"]
    chunks = len(workspace.repo.chunks_of(entry.kind, entry.id))
    assert chunks > 20
    with fs.open("mk://sales@1/part-0.parquet", block_size=64 * 1024) as handle:
        parquet = pq.ParquetFile(handle)
        assert parquet.metadata.num_rows == ROWS and parquet.metadata.num_row_groups == 6
        footer = len(set(fetched))
        assert footer <= 3, f"the footer took {footer} of {chunks} chunks"
        group = parquet.read_row_group(2, columns=["amount"]).to_pandas()
    assert group["amount"].tolist() == sales["part-0.parquet"]["amount"][40_000:60_000].tolist()
    assert len(set(fetched)) < chunks / 4, f"one column of one row group took {len(set(fetched))} of {chunks} chunks"


def test_pandas_polars_duckdb_and_pyarrow_datasets_read_a_version(workspace: Workspace, sales: dict[str, Any],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb
    import polars as pl
    import pyarrow.dataset as ds

    monkeypatch.chdir(workspace.config.root.parent)  # mk:// finds the repository as every command does
    read = pd.read_parquet("mk://sales@1/part-1.parquet")
    pd.testing.assert_frame_equal(read, sales["part-1.parquet"])
    fs = fsspec.filesystem("mk")
    assert isinstance(fs, ModelKeepFileSystem)
    assert fs.ls("sales@1", detail=False) == ["sales@1/README.txt", "sales@1/part-0.parquet", "sales@1/part-1.parquet"]
    assert fs.ls("", detail=False) == ["sales@1"] and fs.info("mk://sales/part-0.parquet")["type"] == "file"
    assert fs.cat_file("mk://sales@1/README.txt", start=7, end=-1) == b"by day"
    assert fs.ukey("sales@1/README.txt") == workspace.datasets.files("sales@1")["README.txt"].id
    with fs.open("mk://sales@1/part-0.parquet") as handle:
        polars = pl.read_parquet(handle)
    assert polars.height == ROWS and polars["score"].to_list() == sales["part-0.parquet"]["score"].tolist()
    table = ds.dataset("sales@1", filesystem=fs, format="parquet", exclude_invalid_files=True).to_table()
    assert table.num_rows == 2 * ROWS
    db = duckdb.connect()
    db.register_filesystem(fs)
    total, fr = db.sql("select count(*), count(*) filter (where country = 'fr') "
                       "from read_parquet('mk://sales@1/*.parquet')").fetchall()[0]
    both = pd.concat(sales.values())
    assert total == 2 * ROWS and fr == int((both["country"] == "fr").sum())


def test_a_dask_cluster_reads_a_version_and_the_run_records_it(workspace: Workspace, sales: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Real worker processes: each opens the repository from its working folder, as a user's would."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    monkeypatch.chdir(workspace.config.root.parent)
    run = workspace.runs.start("train")
    monkeypatch.setenv("MODELKEEP_RUN_ID", str(run.id))  # as `mk run` sets it
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        frame = dd.read_parquet("mk://sales@1/*.parquet")
        assert frame.npartitions >= 2
        by_country = frame.groupby("country")["amount"].sum().compute()
    both = pd.concat(sales.values())
    expected = both.groupby("country")["amount"].sum()
    assert np.allclose(by_country.sort_index().to_numpy(), expected.sort_index().to_numpy())
    run.end()
    assert "sales@1" in workspace.runs.get(run.id).inputs  # lineage: the run trained on this version
    later = workspace.runs.start("evaluate")  # the same process, the filesystem fsspec keeps, another run
    monkeypatch.setenv("MODELKEEP_RUN_ID", str(later.id))
    with fsspec.open("mk://sales@1/README.txt") as handle:
        handle.read()
    later.end()
    assert "sales@1" in workspace.runs.get(later.id).inputs


def test_bad_paths_and_writes_are_refused_plainly(workspace: Workspace, sales: dict[str, Any]) -> None:
    fs = ModelKeepFileSystem(connection=LocalConnection(workspace))
    with pytest.raises(FileNotFoundError, match="sales@1 has no file 'nope.parquet'"):
        fs.open("mk://sales@1/nope.parquet")
    with pytest.raises(FileNotFoundError, match="no-such"):
        fs.info("mk://no-such@1/x")
    with pytest.raises(InvalidInput, match="read-only"):
        fs.open("mk://sales@1/new.parquet", "wb")
    with pytest.raises(InvalidInput, match="NAME@N/FILE"):
        fs.open("mk://")
    assert workspace.datasets.read_range("sales@1", "README.txt", 0, 5) == b"sales"
    with pytest.raises(InvalidInput, match="byte range"):
        workspace.datasets.read_range("sales@1", "README.txt", 5, 2)
