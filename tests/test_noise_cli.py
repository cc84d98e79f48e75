"""python -m noise as a user runs it: config precedence, files, the report's noise sections, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from noise.__main__ import overrides, parser
from robustness.cli import flags_to_overrides
from robustness.cli import parser as run_all_parser
from robustness.errors import SuiteError
from robustness.results import KILL_AT_ENV
from robustness.validation import load_config

ROOT = Path(__file__).resolve().parents[1]


def run_noise_cli(*args):
    return subprocess.run([sys.executable, "-m", "noise", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_flags_override_toml_which_overrides_the_preset(tmp_path):
    toml = tmp_path / "n.toml"
    toml.write_text('preset = "tiny"\n[noise]\nlevels = [0.2, 0.8]\nmethods = ["erm", "dropout:0.5"]\nepochs = 3\n')
    args = parser().parse_args(["--config", str(toml), "--methods", "mixup:2+dropout:0.7", "--specs", "symmetric:0.1"])
    config = load_config(args.preset, args.config, overrides(args))
    assert config.preset == "tiny" and config.noise.levels == (0.2, 0.8) and config.noise.epochs == 3
    assert config.noise.methods == ("mixup:2+dropout:0.7",) and config.noise.specs == ("symmetric:0.1",)
    args = parser().parse_args(["--preset", "noise-grid", "--levels", "--specs", "labels:" + str(toml)])
    with pytest.raises(SuiteError, match="unknown file type"):  # checked before anything trains
        load_config(args.preset, None, overrides(args))
    args = parser().parse_args(["--preset", "noise-grid", "--levels", "--specs", "pairflip:0.2"])
    config = load_config(args.preset, None, overrides(args))
    assert config.noise.levels == () and len(config.noise.methods) == 11 and config.noise.enabled
    with pytest.raises(SuiteError, match="at least one level or spec"):
        load_config("tiny", None, overrides(parser().parse_args(["--levels"])))


SHARED = ("--preset", "--config", "--out", "--run-id", "--resume", "--device", "--threads", "--quiet")


def flag_actions(p) -> dict[str, tuple]:
    return {a.option_strings[0]: (a.dest, a.type, a.choices, a.metavar, a.nargs, a.default, a.help)
            for a in p._actions if a.option_strings and a.option_strings[0] in SHARED}


def test_the_flags_both_commands_share_read_and_set_the_same():
    """One definition (robustness/cli.py add_run_flags, add_process_flags): the same help, the same configuration keys."""
    mine, run_all = flag_actions(parser()), flag_actions(run_all_parser())
    assert sorted(mine) == sorted(run_all) == sorted(SHARED)
    for flag in set(SHARED) - {"--run-id"}:
        assert mine[flag] == run_all[flag], flag
    assert "(default: noise-<preset>-<date>-<time>)" in " ".join(mine["--run-id"][-1].split())
    assert "(default: <preset>-<date>-<time>)" in " ".join(run_all["--run-id"][-1].split())
    given = ["--out", "somewhere", "--device", "cpu", "--threads", "3"]
    noise_keys, run_all_keys = overrides(parser().parse_args(given)), flags_to_overrides(run_all_parser().parse_args(given))
    assert {k: noise_keys[k] for k in ("out", "device", "threads")} == {k: run_all_keys[k] for k in ("out", "device", "threads")}
    assert (noise_keys["out"], noise_keys["device"], noise_keys["threads"]) == ("somewhere", "cpu", 3)


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    toml = out / "mlp.toml"
    toml.write_text('[train]\narch = "mlp"\n')  # the smallest model: this checks files and report, not learning
    done = run_noise_cli("--preset", "tiny", "--config", str(toml), "--levels", "0.2", "0.5", "--specs", "pairflip:0.3",
                         "--seeds", "0", "1", "--epochs", "1", "--out", str(out), "--run-id", "n", "--quiet")
    assert done.returncode == 0, done.stderr
    return out / "n", done


def test_writes_results_and_a_noise_only_report(noise_run):
    run_dir, done = noise_run
    results = json.loads((run_dir / "results.json").read_text())
    assert results["attacks"] is None and results["models"] == {} and results["config"]["preset"] == "tiny"
    assert results["noise"]["specs"] == ["uniform:0.2", "uniform:0.5", "pairflip:0.3"]
    assert len(results["noise"]["runs"]) == 3 * 3 * 2  # specs × tiny's methods × seeds
    for name in ("noise_memorization", "noise_best_last", "noise_curves", "noise_confusion"):
        assert (run_dir / "figures" / f"{name}.png").stat().st_size > 0
    assert (run_dir / "report.html").read_text().count("data:image/png;base64,") == 4
    assert "noise 50% replaced, mixup (α=8): last test error" in done.stdout


def test_report_puts_the_papers_table2_beside_this_run(noise_run):
    text = (noise_run[0] / "report.md").read_text()
    assert "paper (CIFAR-10, PreAct ResNet-18, 200 epochs)" in text
    # The paper's ERM row at 50% noise follows this run's ERM row at 50%.
    assert "| 50% replaced | this run | ERM |" in text
    assert "| paper (CIFAR-10, PreAct ResNet-18, 200 epochs) | ERM | 18.8 | 44.6 | 0.26 | 0.64 |" in text
    # No paper row for pairflip: the paper only used uniform noise.
    pairflip_rows = [line for line in text.splitlines() if line.startswith("| pairflip:0.3 | this run")]
    assert pairflip_rows and "| pairflip:0.3 | 30.0 | 30.0 |" in text  # realized = nominal, every flip is wrong
    assert "## Reading" in text and "memorize" in text


def test_report_is_rebuilt_from_results_alone(noise_run, tmp_path):
    from robustness.__main__ import main as robustness_main

    run_dir, _ = noise_run
    (tmp_path / "results.json").write_text((run_dir / "results.json").read_text())
    assert robustness_main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").read_text() == (run_dir / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--specs", "matrix:nope.npy"], "noise matrix:nope.npy: file not found"),
    (["--levels", "1.5"], "outside [0, 1]"),
    (["--methods", "dropout:1"], "dropout p must be in [0, 1)"),
    (["--noise-model", "gauss"], "unknown noise model 'gauss'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    from noise.__main__ import main

    assert main(["--preset", "tiny", *args, "--out", str(tmp_path / "out")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.strip().count("\n") == 0 and message in stderr and stderr.startswith("python -m noise: error:")
    assert not (tmp_path / "out").exists()


def test_a_killed_run_resumes_from_its_finished_units_like_run_all(tmp_path):
    """The same pipeline as run_all.py: config.json first, a unit per finished model, and a rerun reuses them."""
    args = ["--preset", "tiny", "--epochs", "2", "--out", str(tmp_path), "--run-id", "n", "--quiet"]
    killed = subprocess.run([sys.executable, "-m", "noise", *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", KILL_AT_ENV: "train-epoch@5"})
    assert killed.returncode == -9  # SIGKILL in the third model's first epoch: two of tiny's three runs finished
    run_dir = tmp_path / "n"
    assert (run_dir / "config.json").is_file() and not (run_dir / "results.json").exists()
    assert len(list((run_dir / "units").glob("train-*.pt"))) == 2
    done = run_noise_cli(*args)
    assert done.returncode == 0, done.stderr
    results = json.loads((run_dir / "results.json").read_text())
    assert results["timing"]["units"] == {"computed": 1, "reused": 2}
    assert len(results["noise"]["runs"]) == 3 and not list(run_dir.rglob("*.tmp"))
    assert run_noise_cli("--resume", str(run_dir), "--quiet").returncode == 0
    assert json.loads((run_dir / "results.json").read_text())["timing"]["units"] == {"computed": 0, "reused": 3}
