"""The device registry and `edgebench device add|list|remove` (no SSH needed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.devices.agent import PACKAGES
from edgebench.devices.registry import Device, DeviceRegistry
from edgebench.errors import NotFoundError, UserInputError
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_add_list_remove_round_trip(devices_file: Path) -> None:
    r = runner.invoke(app, ["device", "add", "pi4", "ssh://pi@raspberrypi.local:2222", "--workdir", "/opt/eb",
                            "--python", "python3.11"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["device", "add", "jetson", "ssh://orin"])
    assert r.exit_code == 0, r.output
    data = tomllib.loads(devices_file.read_text())
    assert data["devices"]["pi4"] == {"url": "ssh://pi@raspberrypi.local:2222", "python": "python3.11",
                                      "workdir": "/opt/eb"}
    assert data["devices"]["jetson"]["workdir"] == "~/edgebench"
    out = runner.invoke(app, ["device", "list"]).output
    assert "pi4" in out and "ssh://orin" in out
    r = runner.invoke(app, ["device", "remove", "jetson"])
    assert r.exit_code == 0, r.output
    assert list(DeviceRegistry(devices_file).devices) == ["pi4"]
    assert [p.name for p in devices_file.parent.iterdir()] == ["devices.toml"]  # no temporary file left


def test_config_option_overrides_the_default(tmp_path: Path, devices_file: Path) -> None:
    other = tmp_path / "other.toml"
    assert runner.invoke(app, ["device", "add", "pi5", "ssh://pi5", "--config", str(other)]).exit_code == 0
    assert "pi5" in DeviceRegistry(other).devices and not devices_file.exists()


def test_unknown_device_suggests_the_closest(devices_file: Path) -> None:
    DeviceRegistry(devices_file).add(Device("pi4", "ssh://pi4"))
    with pytest.raises(NotFoundError, match="Did you mean 'pi4'"):
        DeviceRegistry(devices_file).get("pi3")
    r = runner.invoke(app, ["device", "check", "pi3"])
    assert r.exit_code == 2 and "Did you mean 'pi4'" in r.output and "edgebench device add" in r.output
    assert "Traceback" not in r.output and r.output.count("\n") == 1
    r = runner.invoke(app, ["bench", "model.onnx", "--on", "pi3"])
    assert r.exit_code == 2 and "Did you mean 'pi4'" in r.output


@pytest.mark.parametrize("url", ["http://pi", "ssh://", "ssh://pi:notaport", "ssh://pi:secret@pi4", "ssh://pi/x"])
def test_bad_urls_are_refused(url: str, devices_file: Path) -> None:
    with pytest.raises(UserInputError, match="ssh://"):
        Device("pi", url)
    r = runner.invoke(app, ["device", "add", "pi", url])
    assert r.exit_code == 2 and r.output.startswith("edgebench: error:")
    assert not devices_file.exists()


def test_duplicate_needs_force_and_names_are_checked(devices_file: Path) -> None:
    assert runner.invoke(app, ["device", "add", "pi4", "ssh://a"]).exit_code == 0
    r = runner.invoke(app, ["device", "add", "pi4", "ssh://b"])
    assert r.exit_code == 2 and "--force" in r.output
    assert runner.invoke(app, ["device", "add", "pi4", "ssh://b", "--force"]).exit_code == 0
    assert DeviceRegistry(devices_file).get("pi4").url == "ssh://b"
    assert runner.invoke(app, ["device", "add", "bad name", "ssh://b"]).exit_code == 2


def test_odd_values_survive_the_toml_round_trip(devices_file: Path) -> None:
    d = Device("pi4", "ssh://pi4", workdir='/srv/"eb" \\ é', python="/usr/bin/python3.11")
    DeviceRegistry(devices_file).add(d)
    assert DeviceRegistry(devices_file).get("pi4") == d


def test_broken_file_is_one_line(devices_file: Path) -> None:
    devices_file.write_text("[devices.pi4\nurl=")
    r = runner.invoke(app, ["device", "list"])
    assert r.exit_code == 2 and "not valid TOML" in r.output


def test_agent_packages_match_pyproject() -> None:
    with open(REPO / "pyproject.toml", "rb") as f:
        assert set(PACKAGES) == set(tomllib.load(f)["tool"]["setuptools"]["packages"])


@pytest.mark.parametrize("url", ["ssh://pi@host;rm -rf x", "ssh://h h", "ssh://-oProxyCommand=id", "ssh://pi@-oX=y",
                                 "ssh://pi@host$(id)", "ssh://pi@a..b", "ssh://-pi@host", "ssh://p;i@host",
                                 "ssh://pi@host%0Aevil", "ssh://pi@[fe80::1"])
def test_hosts_and_users_that_are_not_names_are_refused_at_add(url: str, devices_file: Path) -> None:
    with pytest.raises(UserInputError, match=r"is not (a host name or IP address|a user name|ssh://)"):
        Device("pi", url)
    r = runner.invoke(app, ["device", "add", "pi", url])
    assert r.exit_code == 2 and r.output.startswith("edgebench: error:") and r.output.count("\n") == 1, r.output
    assert not devices_file.exists()


@pytest.mark.parametrize("url", ["ssh://pi@raspberrypi.local:2222", "ssh://my_pi-alias", "ssh://pi@192.168.1.20",
                                 "ssh://pi@[fe80::1]:22", "ssh://pi.user@host.example.org."])
def test_ordinary_hosts_are_accepted(url: str) -> None:
    assert Device("pi", url).host


def test_hints_are_shell_quoted() -> None:
    from edgebench.devices.transport import Ssh, classify

    ssh = Ssh(Device("pi", "ssh://pi@[fe80::1]:2222"))
    assert ssh.interactive_command().endswith("-p 2222 -- pi@fe80::1 true")
    err = str(classify("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!", ssh, "check"))
    assert "ssh-keygen -R '[fe80::1]:2222' " in err


def test_unknown_device_hint_quotes_the_name(devices_file: Path) -> None:
    with pytest.raises(NotFoundError, match=r"edgebench device add 'pi 3;x' ssh://"):
        DeviceRegistry(devices_file).get("pi 3;x")
