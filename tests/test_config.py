"""Configuration and plug-in registries: the process launch contract, the control plane's variables,
store kinds and backend names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from praas_kit.control.config import ControlPlaneConfig
from praas_kit.errors import InvalidArgument, StorageError
from praas_kit.process.config import ProcessConfig, read_secrets_file, write_secrets_file
from praas_kit.storage import kinds, open_store, register, store_class
from praas_kit.storage.directory import DirectoryStore

names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@given(app=names, proc=names, code=st.none() | text, workers=st.integers(1, 64), payload=st.integers(1, 1 << 30),
       interval=st.floats(0.01, 100), swapin=st.none() | text, parent=st.none() | st.integers(1, 1 << 22),
       secrets=st.none() | st.just(Path("/run/praas/secrets.json")), mailbox=st.none() | st.integers(1, 1 << 40))
def test_process_config_round_trips_through_the_environment(app, proc, code, workers, payload, interval, swapin,
                                                            parent, secrets, mailbox) -> None:
    cfg = ProcessConfig(app=app, proc=proc, code=code, workers=workers, max_payload=payload, metrics_interval=interval,
                        swapin=swapin, parent_pid=parent, secrets_file=secrets, mailbox_bytes=mailbox)
    env = cfg.to_env()
    assert all(k.startswith("PRAAS_") and isinstance(v, str) for k, v in env.items())
    assert ProcessConfig.from_env(env) == cfg


def test_process_config_names_what_is_missing_or_malformed() -> None:
    with pytest.raises(InvalidArgument, match="PRAAS_PROCESS is not set"):
        ProcessConfig.from_env({"PRAAS_APP": "a"})
    with pytest.raises(InvalidArgument, match="PRAAS_WORKERS='many'"):
        ProcessConfig.from_env({"PRAAS_APP": "a", "PRAAS_PROCESS": "p", "PRAAS_WORKERS": "many"})


def test_secrets_file_is_private_and_removed_after_reading(tmp_path: Path) -> None:
    secrets = {"secret": "s", "store": {"kind": "dir", "root": "/x"}}
    path = write_secrets_file(tmp_path / "private" / "secrets.json", secrets)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_secrets_file(path) == secrets
    assert not path.exists()


def test_every_control_plane_field_has_its_own_variable() -> None:
    envs = [f.metadata["env"] for f in dataclasses.fields(ControlPlaneConfig)]
    assert len(envs) == len(set(envs)) == len(dataclasses.fields(ControlPlaneConfig))
    assert all(e.startswith("PRAAS_") for e in envs)


def test_control_plane_config_from_the_environment(tmp_path: Path) -> None:
    cfg = ControlPlaneConfig.from_env({
        "PRAAS_HOME": str(tmp_path), "PRAAS_PORT": "9", "PRAAS_IDLE_SECONDS": "2.5", "PRAAS_BACKEND": "docker",
        "PRAAS_DOCKER_NETWORK": "labnet", "PRAAS_DOCKER_STATE_TMPFS": "true", "PRAAS_SWAP_KIND": "s3",
        "PRAAS_S3_ENDPOINT": "http://s3:9000", "PRAAS_S3_SECRET_KEY": "k"}, port=10)
    assert (cfg.home, cfg.port, cfg.idle_seconds, cfg.backend) == (tmp_path, 10, 2.5, "docker")
    assert cfg.backend_options == {"network": "labnet", "state_tmpfs": True}
    assert cfg.swap_store is not None
    assert cfg.swap_store["kind"] == "s3" and cfg.swap_store["endpoint"] == "http://s3:9000"
    dir_cfg = ControlPlaneConfig.from_env({"PRAAS_SWAP_KIND": "dir", "PRAAS_SWAP_DIR": str(tmp_path)})
    assert dir_cfg.swap_store == {"kind": "dir", "root": str(tmp_path)}


def test_control_plane_config_refuses_what_it_cannot_use() -> None:
    with pytest.raises(InvalidArgument, match="PRAAS_SWAP_KIND"):
        ControlPlaneConfig.from_env({"PRAAS_SWAP_STORE": "s3"})  # the old name, which meant two things
    with pytest.raises(InvalidArgument, match="PRAAS_PORT"):
        ControlPlaneConfig.from_env({"PRAAS_PORT": "eighty"})
    with pytest.raises(InvalidArgument, match="unknown control-plane option 'idle_secs'"):
        ControlPlaneConfig().with_options(idle_secs=3)
    with pytest.raises(StorageError, match="known: dir, faulty, s3"):
        ControlPlaneConfig.from_env({"PRAAS_SWAP_KIND": "gcs"})


def test_store_registry(tmp_path: Path) -> None:
    assert {"dir", "s3", "faulty"} <= set(kinds())
    with pytest.raises(StorageError, match="unknown swap store kind .nope.; known: .*dir"):
        open_store({"kind": "nope"})
    with pytest.raises(StorageError, match="no root"):
        open_store({"kind": "dir"})

    class Mirror(DirectoryStore):
        kind = "mirror"

    register("mirror", Mirror)
    try:
        store = open_store({"kind": "mirror", "root": str(tmp_path)})
        assert isinstance(store, Mirror) and store_class("mirror") is Mirror
    finally:
        from praas_kit.storage import registry

        registry.STORES.unregister("mirror")
