"""Tests of sandbox/fleet.py that need no Docker engine: validation before any
change, the error without an engine, cleanup of a half-made fleet, the inventory."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def fleet(monkeypatch):
    spec = importlib.util.spec_from_file_location("sandbox_fleet", REPO / "sandbox" / "fleet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def no_docker(fleet, monkeypatch):
    """Record every docker CLI call; none may happen in these tests unless allowed."""
    calls = []

    def fake_docker(*args, **kwargs):
        calls.append(args)
        raise AssertionError("docker called: %s" % (args,))

    monkeypatch.setattr(fleet, "docker", fake_docker)
    return calls


@pytest.fixture()
def stubbed_up(fleet, monkeypatch, tmp_path):
    """fleet.cmd_up with images, seed data and the engine stubbed out; tests override the rest."""
    monkeypatch.setattr(fleet, "require_engine", lambda: None)
    monkeypatch.setattr(fleet, "existing_containers", lambda name: {})
    monkeypatch.setattr(fleet, "ensure_images", lambda: "sha256:mindie")
    monkeypatch.setattr(fleet, "image_id", lambda image: "sha256:node")
    monkeypatch.setattr(fleet, "ensure_tarball", lambda image, tag=None: tmp_path / "t.tar")
    monkeypatch.setattr(fleet, "ensure_seed", lambda tarball: (tmp_path, "seedhash"))
    monkeypatch.setattr(fleet, "port_free", lambda port: True)
    return fleet


def test_known_profiles(fleet):
    assert fleet.known_profiles() == sorted([
        "800i-a2-32g", "800i-a2-64g", "800i-a2-32g-alarm", "800i-a2-32g-dcmi-8005", "800i-a2-32g-no-driver"])


def test_profiles_repeat_last(fleet):
    assert fleet.plan_profiles(4, "800i-a2-32g,800i-a2-64g") == [
        "800i-a2-32g", "800i-a2-64g", "800i-a2-64g", "800i-a2-64g"]


def test_unknown_profile_refused_before_any_docker_call(fleet, no_docker, capsys):
    rc = fleet.main(["up", "--nodes", "2", "--profiles", "800i-a2-32g,800i-a2-128g"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "unknown hardware profile '800i-a2-128g'" in err
    for name in fleet.known_profiles():
        assert name in err
    assert no_docker == []


@pytest.mark.parametrize("nodes,profiles,message", [
    (0, "800i-a2-32g", "NODES must be at least 1"),
    (1, "800i-a2-32g,800i-a2-64g", "2 profiles given for 1 nodes"),
    (2, " , ", "PROFILES is empty"),
])
def test_bad_counts_refused(fleet, no_docker, capsys, nodes, profiles, message):
    assert fleet.main(["up", "--nodes", str(nodes), "--profiles", profiles]) == 1
    assert message in capsys.readouterr().err
    assert no_docker == []


def test_no_engine_is_a_clear_error(fleet, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert fleet.main(["up", "--nodes", "1", "--profiles", "800i-a2-32g"]) == 1
    err = capsys.readouterr().err
    assert "no Docker engine answers" in err
    assert "make docker" in err


def test_ensure_docker_without_rights_says_what_to_do(tmp_path):
    """Not root, no engine answering: the script must refuse with instructions."""
    if os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists():
        pytest.skip("needs root to drop to nobody")
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock", HOME=str(tmp_path))
    proc = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         "bash", str(REPO / "scripts" / "ensure-docker.sh")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert proc.returncode == 1
    assert "no Docker engine answers" in proc.stderr
    assert "Start a Docker engine yourself" in proc.stderr


def test_failed_up_removes_what_it_created(stubbed_up, monkeypatch, tmp_path, capsys):
    fleet = stubbed_up
    """Node 2 fails to start: node 1 and the network made by this run are removed, no inventory."""
    removed, networks = [], []

    def fake_docker(*args, **kwargs):
        if args[:2] == ("image", "inspect"):
            return "amd64"
        if args[:2] == ("network", "inspect"):
            return None
        if args[:2] == ("network", "create"):
            networks.append(args[-1])
            return "id"
        if args[:2] == ("network", "rm"):
            networks.remove(args[-1])
            return ""
        raise AssertionError("unexpected docker call %s" % (args,))

    def fake_create(fleet_name, node, spec, network):
        if node["name"].endswith("node2"):
            raise fleet.SandboxError("node2 exploded")

    monkeypatch.setattr(fleet, "docker", fake_docker)
    monkeypatch.setattr(fleet, "create_node", fake_create)
    monkeypatch.setattr(fleet, "wait_ready", lambda name: None)
    monkeypatch.setattr(fleet, "seed_node", lambda name, seed, h, extra=(): True)
    monkeypatch.setattr(fleet, "remove_node", removed.append)

    inventory = tmp_path / "inv"
    rc = fleet.main(["up", "--name", "t", "--nodes", "2", "--profiles", "800i-a2-32g",
                     "--inventory", str(inventory)])
    assert rc == 1
    assert "node2 exploded" in capsys.readouterr().err
    assert removed == ["t-node1"]
    assert networks == []
    assert not (inventory / "hosts.yml").exists()


def test_busy_port_refused_before_creating(stubbed_up, monkeypatch, tmp_path, capsys):
    fleet = stubbed_up
    monkeypatch.setattr(fleet, "docker", lambda *a, **k: None)
    # node 2's instance 7 metrics port (1112): the last one the fleet publishes
    monkeypatch.setattr(fleet, "port_free", lambda port: port != 40041 + 100 + 72)
    created = []
    monkeypatch.setattr(fleet, "create_node", lambda *a: created.append(a))
    assert fleet.main(["up", "--name", "t", "--nodes", "2", "--profiles", "800i-a2-32g",
                       "--port-base", "40041", "--inventory", str(tmp_path / "inv")]) == 1
    err = capsys.readouterr().err
    assert "127.0.0.1 ports 40213 are taken" in err and "PORT_BASE" in err
    assert created == []


@pytest.mark.parametrize("base,nodes", [(1000, 1), (65500, 1), (65400, 2)])
def test_port_base_out_of_range_refused_before_any_docker_call(fleet, no_docker, capsys, base, nodes):
    assert fleet.main(["up", "--nodes", str(nodes), "--profiles", "800i-a2-32g", "--port-base", str(base)]) == 1
    err = capsys.readouterr().err
    assert "PORT_BASE %d" % base in err and "1024..65535" in err
    assert no_docker == []


def test_every_instance_slot_is_published_and_nodes_do_not_overlap(fleet):
    """Instance i of a node serves 1040/1041/1042 + 10*i (mindie_instance_port_stride); slots 0..7 cover 8x1."""
    plan = fleet.node_plan("f", ["800i-a2-32g", "800i-a2-64g", "800i-a2-64g"], 31040)
    wanted = sorted(port + 10 * slot for slot in range(8) for port in (1040, 1041, 1042))
    host_ports = []
    for index, node in enumerate(plan):
        assert sorted(node["ports"]) == wanted
        for port, host in node["ports"].items():
            assert host == 31040 + 100 * index + port - 1040
        host_ports.extend(node["ports"].values())
    assert len(set(host_ports)) == len(host_ports) == 3 * 24


def test_inventory_groups_and_ports(fleet, tmp_path):
    plan = fleet.node_plan("f", ["800i-a2-32g", "800i-a2-64g", "800i-a2-32g-alarm"], 31040)
    fleet.write_inventory(tmp_path, "f", plan, "amd64")
    data = yaml.safe_load((tmp_path / "hosts.yml").read_text())
    groups = data["all"]["children"]["mindie_nodes"]["children"]
    assert sorted(groups["atlas_800i_a2_32g"]["hosts"]) == ["f-node1", "f-node3"]
    assert sorted(groups["atlas_800i_a2_64g"]["hosts"]) == ["f-node2"]
    node2 = groups["atlas_800i_a2_64g"]["hosts"]["f-node2"]
    assert node2["ansible_connection"] == "community.docker.docker"
    published = node2["sandbox_published_ports"]
    assert {port: published[port] for port in (1040, 1041, 1042)} == {1040: 31140, 1041: 31141, 1042: 31142}
    # the 2x4 layout's second instance (ports + 10) and the 8x1 layout's last (+ 70)
    assert {port: published[port] for port in (1050, 1051, 1052)} == {1050: 31150, 1051: 31151, 1052: 31152}
    assert {port: published[port] for port in (1110, 1111, 1112)} == {1110: 31210, 1111: 31211, 1112: 31212}
    assert len(published) == 24
    assert not [name for name in node2 if name.startswith("mindie_published")], "the roles read no sandbox variables"
    assert node2["sandbox_profile"] == "800i-a2-64g"
    assert node2["mindie_image_architecture"] == "amd64"
    overrides = yaml.safe_load((tmp_path / "group_vars" / "mindie_nodes.yml").read_text())
    assert overrides["mindie_precheck_min_disk_free_gb"] < 50
    fleet.remove_inventory(tmp_path, "other-fleet")
    assert (tmp_path / "hosts.yml").exists(), "another fleet's inventory must be left alone"
    fleet.remove_inventory(tmp_path, "f")
    assert not (tmp_path / "hosts.yml").exists() and not (tmp_path / "group_vars").exists()


def test_node_container_publishes_every_slot_and_stops_like_a_server(fleet, monkeypatch):
    """docker run of a node: every instance slot's ports on 127.0.0.1, and a stop timeout long enough for the
    node's engine to stop its MindIE containers (45 s each) so that they come back when the node restarts."""
    calls = []
    monkeypatch.setattr(fleet, "docker", lambda *args, **kwargs: calls.append(args))
    node = fleet.node_plan("f", ["800i-a2-32g", "800i-a2-64g"], 31040)[1]
    fleet.create_node("f", node, "spec", "f-net")
    args = list(calls[0])
    published = [args[i + 1] for i, arg in enumerate(args) if arg == "-p"]
    assert sorted(published) == sorted("127.0.0.1:%d:%d" % (31140 + port - 1040, port) for port in node["ports"])
    assert "127.0.0.1:31150:1050" in published and "127.0.0.1:31212:1112" in published
    assert int(args[args.index("--stop-timeout") + 1]) >= 60


def test_layouts_become_host_variables_of_their_profile(fleet, tmp_path):
    layouts = fleet.parse_layouts("800i-a2-64g=2x4, 800i-a2-32g-alarm=1x8")
    plan = fleet.node_plan("f", ["800i-a2-32g", "800i-a2-64g", "800i-a2-32g-alarm"], 31040, layouts)
    fleet.write_inventory(tmp_path, "f", plan, "amd64")
    groups = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]["children"]["mindie_nodes"]["children"]
    assert groups["atlas_800i_a2_64g"]["hosts"]["f-node2"]["mindie_instance_layout"] == "2x4"
    assert groups["atlas_800i_a2_32g"]["hosts"]["f-node3"]["mindie_instance_layout"] == "1x8"
    assert "mindie_instance_layout" not in groups["atlas_800i_a2_32g"]["hosts"]["f-node1"], "the roles' default"
    # a layout does not change the node container: no recreation
    assert fleet.node_spec_hash(plan[1], "img") == fleet.node_spec_hash(
        fleet.node_plan("f", ["800i-a2-32g", "800i-a2-64g"], 31040)[1], "img")


def test_inventory_with_a_balancer_and_a_monitor_host(fleet, tmp_path):
    """LB=1 and MONITOR=1: their groups, the published ports after the nodes' spans, and the nodes' management
    address opened (with allowAllZeroIpListening) only when Prometheus must scrape them."""
    plan = fleet.node_plan("f", ["800i-a2-32g", "800i-a2-64g"], 31040)
    lb, monitor = fleet.lb_plan("f", 31040, 2), fleet.monitor_plan("f", 31040, 2)
    assert (lb["name"], lb["port"], lb["container_port"]) == ("f-lb", 31240, 8080)
    assert (monitor["name"], monitor["port"], monitor["container_port"]) == ("f-mon", 31241, 9090)
    fleet.write_inventory(tmp_path, "f", plan, "amd64", lb, monitor)
    children = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]["children"]
    assert children["mindie_lb"]["hosts"]["f-lb"]["mindie_loadbalancer_client_url"] == "http://127.0.0.1:31240"
    mon = children["mindie_monitor"]["hosts"]["f-mon"]
    assert mon["mindie_monitoring_client_url"] == "http://127.0.0.1:31241"
    assert mon["ansible_connection"] == "community.docker.docker"
    node1 = children["mindie_nodes"]["children"]["atlas_800i_a2_32g"]["hosts"]["f-node1"]
    assert node1["mindie_service_management_address"] == "0.0.0.0"
    assert node1["mindie_service_extra_settings"] == {"ServerConfig": {"allowAllZeroIpListening": True}}
    fleet.write_inventory(tmp_path, "f", plan, "amd64", lb)
    children = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]["children"]
    assert "mindie_monitor" not in children
    node1 = children["mindie_nodes"]["children"]["atlas_800i_a2_32g"]["hosts"]["f-node1"]
    assert "mindie_service_management_address" not in node1 and "mindie_service_extra_settings" not in node1


@pytest.mark.parametrize("layouts,message", [
    ("800i-a2-64g", "is not PROFILE=NxM"),
    ("800i-a2-64g=2by4", "is not PROFILE=NxM"),
    ("800i-a2-64g=0x4", "is not PROFILE=NxM"),
    ("800i-a2-128g=2x4", "unknown hardware profile '800i-a2-128g'"),
    ("800i-a2-64g=2x4,800i-a2-64g=1x8", "two layouts (2x4 and 1x8)"),
])
def test_bad_layouts_refused_before_any_docker_call(fleet, no_docker, capsys, layouts, message):
    assert fleet.main(["up", "--nodes", "2", "--profiles", "800i-a2-32g,800i-a2-64g", "--layouts", layouts]) == 1
    assert message in capsys.readouterr().err
    assert no_docker == []


def test_tree_hash_follows_content_and_exec_bit(fleet, tmp_path):
    (tmp_path / "a").write_text("one")
    first = fleet.tree_hash(tmp_path, "base1")
    assert fleet.tree_hash(tmp_path, "base1") == first
    assert fleet.tree_hash(tmp_path, "base2") != first
    os.chmod(tmp_path / "a", 0o755)
    assert fleet.tree_hash(tmp_path, "base1") != first
    os.chmod(tmp_path / "a", 0o644)
    (tmp_path / "a").write_text("two")
    assert fleet.tree_hash(tmp_path, "base1") != first


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
