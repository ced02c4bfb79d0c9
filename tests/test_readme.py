"""The README shows real behaviour: its example spec gives the output it shows."""

import re
from pathlib import Path

from pvdsl.cli.main import main
from pvdsl.sema.modules import SPECS_ROOT

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _block_after(marker: str, fence: str) -> str:
    start = README.index(marker)
    start = README.index(fence, start) + len(fence)
    return README[start:README.index("```", start)]


def test_bad_example_output(tmp_path, monkeypatch, capsys):
    spec = _block_after("A mistake is reported the way a compiler would.", "```pv\n")
    shown = _block_after("`pvdsl check bad.pv` prints, and exits 1:", "```\n")
    (tmp_path / "bad.pv").write_text(spec)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "bad.pv"]) == 1
    err = capsys.readouterr().err
    # The README is read from the repository root, where the library is pvdsl/specs.
    err = err.replace(str(SPECS_ROOT) + "/", "pvdsl/specs/")
    assert err == shown


def test_main_job_command_is_the_documented_one():
    commands = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert commands[0] == ("tools/bootstrap && pvdsl check examples/irq.pv && pvdsl abi examples/irq.pv "
                           "--arch x86_64 && pvdsl build examples/irq.pv --target all -o build/ && "
                           "pvdsl run examples/irq.pv --target x86_64-domu && "
                           "pvdsl run examples/irq.pv --target i386-domu")
    assert commands[1] == "tools/bootstrap && python3 -m pytest -q"
    assert "python3 -m pytest -q" in (ROOT / ".ci" / "run").read_text()
