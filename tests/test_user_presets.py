"""The user's own presets: `kvcalc import SRC --save` writes one, the catalog finds it after
the shipped presets, `kvcalc models` marks it; shipped ids are shadowed only on purpose."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.hubserver import header_bytes, llama31_files
from tests.test_hostile import TOY, fails


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KVCALC_HOME", str(tmp_path / "kvhome"))
    return tmp_path / "kvhome" / "models"


@pytest.fixture
def toy(tmp_path):
    folder = tmp_path / "toy-4l"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TOY))
    # a checkpoint header (one 4-value tensor), so the import has nothing to say on stderr
    (folder / "model.safetensors").write_bytes(header_bytes([("w", [4])]))
    return folder


# TOY: 4 layers x 2 KV heads x 64 dims x 2 (K, V) x 2 B = 2,048 B per token
def test_save_then_use_by_id(run, home, toy):
    result = run("import", str(toy), "--save")
    assert result.exit_code == 0, result.stderr
    assert (home / "toy-4l.yaml").read_text() == result.stdout  # what is printed is kept
    assert "saved as your preset 'toy-4l'" in result.stderr
    assert run.json("size", "toy-4l", "--seq", "1")["total_bytes"] == 2048
    listed = run.json("models")["models"]
    mine = [m for m in listed if m["user_preset"]]
    assert [m["id"] for m in mine] == ["toy-4l"] and len(listed) > 30
    table = run("models").stdout
    assert "toy-4l *" in table and f"* your own preset, in {home}" in table.replace("\n", "")


def test_a_second_save_needs_force(run, home, toy):
    assert run("import", str(toy), "--save").exit_code == 0
    fails(run, f"import {toy} --save", toy, 2, "toy-4l.yaml: already exists; add --force")
    assert run("import", str(toy), "--save", "--force").exit_code == 0
    fails(run, f"import {toy} --force", toy, 2, "--force replaces a saved preset: give it with")


def test_a_shipped_id_is_shadowed_only_with_force(run, home, toy):
    fails(run, f"import {toy} --save --id llama3-8b", toy, 2, "'llama3-8b' is a shipped preset")
    fails(run, f"import {toy} --save --id llama-3-8b", toy, 2, "an alias of the shipped llama3-8b")
    assert not home.exists() or not any(home.iterdir())  # nothing written, nothing printed
    assert run("import", str(toy), "--save", "--id", "llama3-8b", "--force").exit_code == 0
    result = run("size", "llama3-8b", "--seq", "1", "--json")
    assert json.loads(result.stdout)["total_bytes"] == 2048  # the user's, said on stderr
    assert "your preset" in result.stderr and "not the shipped one" in result.stderr
    assert [m["id"] for m in run.json("models", "llama3")["models"] if m["user_preset"]] == [
        "llama3-8b"
    ]


@pytest.mark.parametrize("bad", ["../x", "X", "a/b", "-a", "a" * 129])
def test_bad_ids_are_refused(run, home, toy, bad):
    fails(run, f"import {toy} --save --id '{bad}'", toy, 2, "--id", "a preset id is lower-case")
    fails(run, f"import {toy} --save --id ''", toy, 2, "--id: empty value")


def test_a_link_in_the_way_is_replaced_not_followed(run, home, toy, tmp_path):
    home.mkdir(parents=True)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (home / "toy-4l.yaml").symlink_to(target)
    fails(run, f"import {toy} --save", toy, 2, "already exists; add --force")
    assert run("import", str(toy), "--save", "--force").exit_code == 0
    assert target.read_text() == "keep me" and not (home / "toy-4l.yaml").is_symlink()


def test_a_broken_user_preset_does_not_hide_the_others(run, home, toy):
    assert run("import", str(toy), "--save").exit_code == 0
    (home / "broken.yaml").write_text("id: broken\nnum_layers: yes\n")
    listed = run("models", "--json")
    assert listed.exit_code == 0 and "user preset skipped" in listed.stderr
    assert "toy-4l" in [m["id"] for m in json.loads(listed.stdout)["models"]]
    assert run.json("size", "toy-4l", "--seq", "1")["total_bytes"] == 2048
    fails(run, "size broken", toy, 2, "broken.yaml:")


def test_the_platform_folder_without_kvcalc_home(run, toy, tmp_path, monkeypatch):
    monkeypatch.delenv("KVCALC_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert run("import", str(toy), "--save").exit_code == 0
    folder = {
        "darwin": tmp_path / "home" / "Library" / "Application Support",
        "win32": tmp_path / "APPDATA",
    }.get(sys.platform, tmp_path / "xdg")
    assert (folder / "kvcalc" / "models" / "toy-4l.yaml").is_file()


def test_a_repo_saved_once_answers_offline(run, home, tmp_path, monkeypatch):
    from tests.hubserver import Repo, serve

    hub, httpd = serve()
    try:
        hub.repos["org/llama-like"] = Repo(llama31_files())
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert run("import", "org/llama-like", "--save").exit_code == 0
    finally:
        httpd.shutdown()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = run.json("size", "org/llama-like", "--seq", "1")  # the saved preset's alias
    assert (data["model"], data["total_bytes"]) == ("org-llama-like", 131_072)
    saved = (home / "org-llama-like.yaml").read_text()
    assert "hf_repo: org/llama-like" in saved and "weight_bytes: 16060522496" in saved
    assert os.stat(home / "org-llama-like.yaml").st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
