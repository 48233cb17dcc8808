"""Backups restore (bench/restore.py, whose figures deploy/CAPACITY.md's recovery times use): a
small marketplace snapshotted with `BGSAVE` comes back whole on a new server, and a primary
killed -9 comes back whole from its append-only file, before and after a rewrite."""

from __future__ import annotations

from pathlib import Path

from bench import restore


def test_a_snapshot_and_the_append_only_file_each_bring_the_whole_graph_back(
    tmp_path: Path,
) -> None:
    figures = restore.run("40x300x3000", neo4j=False, data=tmp_path)
    assert figures.nodes > 340 and figures.rels > 3000
    assert figures.restored_same  # the same node and relationship counts on the new server
    assert figures.backup_bytes > 0 and figures.aof_rewritten_bytes > 0
    # the restarts raise when the counts differ; their figures are only measured to be there
    assert figures.restart_s > 0 and figures.restart_rewritten_s > 0
    assert not (tmp_path / "backup.rdb").exists()
