"""scripts/openai_fleet_check.py: the official OpenAI client against simulated MindIE instances.

Two simulated daemons stand for two instances of a fleet summary; a third instance is crash-looping (not
asked) and a fourth claims to serve on a port nobody listens on (must fail the check).
"""
import importlib.util
import json
import os
import socket

import pytest

import test_mindie_sim as base
from test_mindie_sim import Sim, assets  # noqa: F401 (assets: a fixture)

SCRIPT = os.path.join(base.ROOT, "scripts", "openai_fleet_check.py")

pytest.importorskip("openai")


@pytest.fixture
def check():
    spec = importlib.util.spec_from_file_location("openai_fleet_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def daemons(tmp_path, assets):
    made = []
    for index in range(2):
        home = tmp_path / ("i%d" % index)
        home.mkdir()
        made.append(Sim(home, assets))
    procs = [sim.start() for sim in made]
    yield made
    for sim, proc in zip(made, procs):
        sim.stop(proc)
        sim.cleanup()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def summary(tmp_path, instances):
    path = tmp_path / "fleet-summary.json"
    path.write_text(json.dumps({"summary": {}, "nodes": [{"node": "n1", "status": "serving", "instances": [
        {"name": name, "status": status, "endpoint": {"business": "http://127.0.0.1:%d" % port}}
        for name, status, port in instances]}]}))
    return str(path)


def test_every_serving_instance_answers_about_the_image(tmp_path, daemons, check, capsys, monkeypatch):
    path = summary(tmp_path, [("mindie-0", "serving", daemons[0].port), ("mindie-1", "busy", daemons[1].port),
                              ("mindie-2", "crash-looping", closed_port())])
    image = os.path.join(daemons[0].images, "sample.jpg")
    out = tmp_path / "out.json"
    assert check.main([path, "--image", image, "--expect-size", "--expect-instances", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["answered"] == 2 and result["asked"] == 2
    rows = {r["instance"]: r for r in result["results"]}
    for name in ("mindie-0", "mindie-1"):
        assert rows[name]["ok"] and rows[name]["model"] == "qwen2_vl"
        assert rows[name]["answer"].startswith("The image is a 1902x1080 JPEG")
    assert not rows["mindie-2"]["asked"]
    assert "2 of 3 instances answered" in capsys.readouterr().out
    # an answer that does not name the size of the image sent fails --expect-size
    monkeypatch.setattr(check, "image_size", lambda path: (640, 480))
    assert check.main([path, "--image", image, "--expect-size"]) == 1
    assert "does not name the image's size 640x480" in capsys.readouterr().out


def test_an_instance_that_does_not_answer_fails_the_check(tmp_path, daemons, check, capsys):
    path = summary(tmp_path, [("mindie-0", "serving", daemons[0].port), ("mindie-1", "serving", closed_port())])
    image = os.path.join(daemons[0].images, "sample.jpg")
    assert check.main([path, "--image", image]) == 1
    err = capsys.readouterr().err
    assert "1 instance(s) did not answer" in err
    assert check.main([path, "--image", image, "--expect-instances", "2"]) == 1


def test_a_node_without_instances_is_one_instance_and_bad_input_is_refused(tmp_path, check, capsys):
    legacy = {"nodes": [{"node": "n1", "status": "serving", "container": {"name": "mindie"},
                         "endpoint": {"business": "http://127.0.0.1:1"}, "npus": {"devices": [0, 1]}}]}
    assert [(n, i["name"], i["status"], i["devices"]) for n, i in check.instances_of(legacy)] == [
        ("n1", "mindie", "serving", [0, 1])]
    assert check.main([str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
