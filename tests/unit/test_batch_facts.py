"""One round trip for every fact of a deploy (eldwyn.facts.Batch), the services read in it, the
operations made from them (eldwyn.services), and the package install that holds services back."""

import subprocess

import pytest
from pyinfra.api import FactBase

from eldwyn import services
from eldwyn.facts import Batch, FileStates, ServiceStates
from tasks import packages


class Echo(FactBase):
    @staticmethod
    def default():
        return "nothing"

    def command(self, text):
        return f"printf '%s\\n' {text}" if text else "true"

    def process(self, output):
        return list(output)


class Fails(FactBase):
    def command(self):
        return "echo broken; exit 3"

    def process(self, output):
        return output


class NeedsMissingTool(FactBase):
    @staticmethod
    def default():
        return {}

    def requires_command(self):
        return "no-such-tool-eldwyn"

    def command(self):
        return "no-such-tool-eldwyn --list"

    def process(self, output):
        raise AssertionError("not reached")


def _run(facts):
    fact = Batch()
    output = subprocess.run(["sh", "-c", fact.command(facts=facts)], capture_output=True, text=True).stdout
    return fact.process(output.splitlines())


def test_each_fact_gets_its_own_output_or_its_default(tmp_path):
    (tmp_path / "a").write_text("x")
    results = _run((("one", Echo, {"text": "a b"}), ("none", Echo, {"text": ""}),
                    ("files", FileStates, {"paths": [str(tmp_path / "a"), str(tmp_path / "missing")]}),
                    ("tool", NeedsMissingTool, {})))
    assert results["one"] == ["a", "b"]
    assert results["none"] == "nothing"
    assert list(results["files"]) == [str(tmp_path / "a")]
    assert results["tool"] == {}


def test_a_failing_fact_stops_the_run_naming_it():
    with pytest.raises(RuntimeError, match=r"fact broken \(Fails\) failed on the host \(exit status 3\): broken"):
        _run((("fine", Echo, {"text": "ok"}), ("broken", Fails, {})))


def test_an_exit_in_one_fact_does_not_end_the_others():
    results = _run((("broken", Echo, {"text": "x; exit 0"}), ("after", Echo, {"text": "y"})))
    assert results["after"] == ["y"]


SHOW = ["Id=prosody.service", "ActiveState=active", "UnitFileState=enabled", "",
        "Id=coturn.service", "ActiveState=inactive", "UnitFileState=enabled", "",
        "Id=nginx.service", "ActiveState=active", "UnitFileState="]


def test_service_states_from_systemctl_show():
    states = ServiceStates().process(SHOW)
    assert states == {"prosody.service": {"active": "active", "enabled": "enabled"},
                      "coturn.service": {"active": "inactive", "enabled": "enabled"},
                      "nginx.service": {"active": "active", "enabled": ""}}
    assert ServiceStates().command(["prosody.service", "a.timer"]).endswith("prosody.service a.timer")


@pytest.fixture
def shells(monkeypatch):
    made = []
    monkeypatch.setattr(services.server, "shell", lambda **kwargs: made.append(kwargs) or kwargs)
    monkeypatch.setattr(services, "any_changed", lambda *ops: ("changed?", ops))
    return made


def test_a_unit_up_and_enabled_costs_nothing(shells):
    states = ServiceStates().process(SHOW)
    assert services.running_and_enabled("Prosody", "prosody", states) == []
    assert shells == []


@pytest.mark.parametrize("unit", ["coturn", "nginx", "eldwyn-backup.timer"])
def test_a_unit_down_disabled_or_missing_is_enabled_and_started_once(shells, unit):
    states = ServiceStates().process(SHOW)
    services.running_and_enabled("it", unit, states, restart_after=["op"], then=["wait"])
    name = services.unit_name(unit)
    assert shells == [{"name": "it", "commands": [f"systemctl is-enabled -q {name} || systemctl enable --no-reload {name}",
                                                  f"systemctl restart {name}", "wait"]}]


def test_a_unit_up_is_restarted_only_if_its_files_changed(shells):
    states = ServiceStates().process(SHOW)
    services.running_and_enabled("Prosody", "prosody", states, restart_after=["config-op"], restart_name="Restart",
                                 then=["wait"])
    assert shells == [{"name": "Restart", "commands": ["systemctl restart prosody.service", "wait"],
                       "_if": ("changed?", ("config-op",))}]


def test_the_install_holds_services_back_and_always_lets_go(tmp_path):
    command = packages.install_command(["prosody", "nginx"])
    assert "--no-install-recommends" in command
    assert command.endswith("prosody nginx")
    # Run the policy part with apt replaced: our policy-rc.d exists during, not after.
    policy = tmp_path / "policy-rc.d"
    seen = tmp_path / "seen"
    script = (command.replace(packages.POLICY, str(policy))
              .split("apt-get update")[0] + f"cp {policy} {seen}; test -x {policy}")
    assert subprocess.run(["sh", "-c", script]).returncode == 0
    assert seen.read_text() == packages.POLICY_TEXT
    assert not policy.exists()


def test_an_existing_policy_rc_d_is_not_ours_to_touch(tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    script = packages.install_command(["x"]).replace(packages.POLICY, str(policy)).split("apt-get update")[0] + "true"
    assert subprocess.run(["sh", "-c", script]).returncode == 0
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"


def test_a_run_with_every_package_installed_asks_nothing_of_apt(monkeypatch):
    made = []
    monkeypatch.setattr(packages.server, "shell", lambda **kwargs: made.append(kwargs))

    class Config:
        packages = ("prosody", "nginx")
    packages.install(Config, {"prosody": ["13.0.1"], "nginx": ["1.26"]}, {})
    assert made == []
    packages.install(Config, {"prosody": ["13.0.1"]}, {packages.POLICY: packages._OURS.state})
    assert [m["name"] for m in made] == ["Remove the policy-rc.d an interrupted install left",
                                         "Install 1 Debian packages: nginx"]
