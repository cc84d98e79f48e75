"""``python -m robustness benchmark`` and ``robustness.benchmark``: RobustBench's clean and AutoAttack accuracy of a
checkpoint (robustness/benchmark_record.py), written beside results.json, and shown on the leaderboard with entries
dropped in from RobustBench's model_info (robustness/benchmark_board.py)."""

import json
import shutil

import pytest
import torch
from conftest import single_thread

import robustness

from attacks import make_attack
from attacks.seeding import craft_seed
from robustness.__main__ import main
from robustness.benchmark_board import find_entries
from robustness.benchmark_record import MODEL_INFO_FIELDS
from robustness.config import AttackConfig
from robustness.seeding import seeded
from robustness.train import predict

CPU = torch.device("cpu")
FAST = "autoattack-fast"  # torchattacks' 10 iterations (the standard autoattack runs the reference's 100)
# The first 16 digits test images in batches of 8: two units. At ε = 0.2 APGD-CE breaks every image, so AutoAttack's
# Square (5,000 queries on each image still standing) has nothing left to do and the test takes seconds.
N, EPS, BATCH = 16, 0.2, 8
# Carmon et al.'s entry in RobustBench's model_info/cifar10/Linf/, as RobustBench ships it.
CARMON = {"link": "https://arxiv.org/abs/1905.13736", "name": "Unlabeled Data Improves Adversarial Robustness",
          "authors": "Yair Carmon, Aditi Raghunathan, Ludwig Schmidt, Percy Liang, John C. Duchi", "additional_data": True,
          "number_forward_passes": 1, "dataset": "cifar10", "venue": "NeurIPS 2019", "architecture": "WideResNet-28-10",
          "eps": "8/255", "clean_acc": "89.69", "reported": "62.5", "autoattack_acc": "59.53", "unreliable": False}


def command(tmp_path, checkpoint, *extra):
    return ["benchmark", "--model", f"erm={checkpoint}", "--dataset", "digits", "--n-examples", str(N), "--eps", str(EPS),
            "--attack", FAST, "--batch-size", str(BATCH), "--out", str(tmp_path / "reports"), "--device", "cpu", "--quiet",
            *extra]


@pytest.fixture(scope="module")
def benchmarked(tmp_path_factory, tiny_models):
    """A benchmark of the tiny ERM model, given as a state_dict the test saves: its run directory."""
    tmp = tmp_path_factory.mktemp("bench")
    torch.save(tiny_models["erm_s0"].state_dict(), tmp / "erm.pt")
    with single_thread():
        assert main(command(tmp, f"digits_cnn:{tmp / 'erm.pt'}", "--run-id", "b")) == 0
    return tmp / "reports" / "b"


def test_the_record_holds_robustbench_fields_and_its_definitions_of_both_accuracies(benchmarked, tiny_models, digits):
    record = json.loads((benchmarked / "benchmark.json").read_text())
    assert list(record)[: len(MODEL_INFO_FIELDS)] == list(MODEL_INFO_FIELDS)  # RobustBench's ModelInfo, in its order
    for key in ("clean_acc", "autoattack_acc", "eps", "threat_model", "dataset", "n_examples", "suite_version", "seed",
                "autoattack_variant"):
        assert record[key] is not None, key
    assert (record["dataset"], record["threat_model"], record["eps"], record["n_examples"]) == ("digits", "Linf", EPS, N)
    assert (record["autoattack_variant"], record["seed"], record["name"]) == (FAST, 0, "erm")

    # RobustBench: the first N test images in order; clean = argmax right; robust = right clean and right under the
    # attack (AutoAttack returns a wrong image as it is). By hand, batch by batch with the suite's seeds.
    model, x, y = tiny_models["erm_s0"], digits.test_x[:N], digits.test_y[:N]
    clean_right = predict(model, x) == y
    robust = torch.zeros(N, dtype=torch.bool)
    attack = make_attack(FAST, AttackConfig(attacks=(FAST,)))
    with single_thread():
        for start in range(0, N, BATCH):
            seed = craft_seed(0, FAST, EPS, "erm", start)
            xb, yb = x[start : start + BATCH], y[start : start + BATCH]
            with seeded(seed, CPU):
                adv = attack.build(model, EPS, seed)(xb, yb)
            robust[start : start + BATCH] = (predict(model, adv) == yb) & clean_right[start : start + BATCH]
    assert record["clean_correct"] == int(clean_right.sum()) and record["clean_accuracy"] == int(clean_right.sum()) / N
    assert record["autoattack_robust"] == int(robust.sum()) and record["autoattack_accuracy"] == int(robust.sum()) / N
    assert record["clean_acc"] == str(round(int(clean_right.sum()) / N * 100, 2))  # as RobustBench's update_json writes
    assert record["autoattack_acc"] == str(round(int(robust.sum()) / N * 100, 2))
    assert 0 < record["clean_correct"] < N and record["autoattack_robust"] <= record["clean_correct"]
    assert (benchmarked / "results.json").is_file() and (benchmarked / "report.md").is_file()
    assert json.loads((benchmarked / "config.json").read_text())["preset"] == "benchmark"


def test_resume_reuses_every_batch_and_writes_the_same_record(benchmarked, tmp_path, capsys):
    run_dir = tmp_path / "b"
    shutil.copytree(benchmarked, run_dir)
    (run_dir / "benchmark.json").unlink()
    with single_thread():
        assert main(["benchmark", "--resume", str(run_dir), "--quiet"]) == 0
    assert "AutoAttack robust accuracy" in capsys.readouterr().out
    assert json.loads((run_dir / "results.json").read_text())["timing"]["units"] == {"computed": 0, "reused": 4}
    assert (run_dir / "benchmark.json").read_text() == (benchmarked / "benchmark.json").read_text()


def test_the_leaderboard_ranks_the_record_beside_dropped_in_model_info(benchmarked, tmp_path, capsys):
    root = tmp_path / "runs"
    shutil.copytree(benchmarked, root / "b")
    folder = root / "model_info" / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    (folder / "Carmon2019Unlabeled.json").write_text(json.dumps(CARMON))
    hostile = CARMON | {"name": "<script>x</script>", "link": "javascript:alert(1)", "autoattack_acc": "61.0"}
    (folder / "Hostile.json").write_text(json.dumps(hostile))
    (root / "model_info" / "cifar10" / "corruptions").mkdir()
    (root / "model_info" / "cifar10" / "corruptions" / "Standard.json").write_text(json.dumps(CARMON))
    assert main(["leaderboard", str(root)]) == 0
    err = capsys.readouterr().err
    assert "leaves out" in err and "corruptions/Standard.json" in err  # not an AutoAttack entry: named, not shown
    page = (root / "leaderboard.html").read_text()
    record = json.loads((benchmarked / "benchmark.json").read_text())
    ours = page.split("<h3>digits, Linf")[1].split("</table>")[0]
    assert f"{float(record['autoattack_acc']):.2f}%" in ours and FAST in ours and f">{N}<" in ours
    theirs = page.split("<h3>cifar10, Linf, ε = 0.0314 (8.0/255)")[1].split("</table>")[0]
    rows = theirs.split("<tr>")[2:]
    assert "61.00%" in rows[0] and "59.53%" in rows[1]  # ranked by AutoAttack robust accuracy
    assert '<a href="https://arxiv.org/abs/1905.13736">Unlabeled Data Improves Adversarial Robustness</a>' in rows[1]
    assert "<script>x" not in page and "javascript:" not in page and "&lt;script&gt;x" in rows[0]


@pytest.mark.parametrize("change, message", [
    ({"--model": "erm=digits_cnn:missing.pt"}, "checkpoint missing.pt does not exist"),
    ({"--eps": "2"}, "ε 2 is outside [0, 1]"),
    ({"--eps": "0"}, "ε must be > 0"),
    ({"--n-examples": "100000"}, "the first 100,000 test images were asked for"),
    ({"--threat-model": "L1"}, "unknown threat model 'L1'"),
    ({"--attack": "pgd"}, "the benchmark runs AutoAttack"),
])
def test_bad_input_is_one_line_before_anything_is_written(tmp_path, capsys, tiny_models, change, message):
    torch.save(tiny_models["erm_s0"].state_dict(), tmp_path / "erm.pt")
    args = command(tmp_path, f"digits_cnn:{tmp_path / 'erm.pt'}")
    for flag, value in change.items():
        args += [flag, value]  # given again: argparse takes the last
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "reports").exists()


def test_a_model_with_another_class_count_is_refused_in_one_line(tmp_path, capsys):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))  # 3 logits for 10 digits
    program = torch.export.export(net.eval(), (torch.rand(2, 1, 8, 8),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, tmp_path / "three.pt2")
    assert main(command(tmp_path, tmp_path / "three.pt2")) == 2
    err = capsys.readouterr().err.strip()
    assert "3" in err and "10" in err and len(err.splitlines()) == 1, err


def test_the_python_api_takes_a_module_and_keys_its_units_by_its_weights(benchmarked, tiny_models, tmp_path):
    def run(model):
        with single_thread():
            return robustness.benchmark(model, N, "digits", eps=EPS, model_name="erm", attack=FAST, batch_size=BATCH,
                                        out=tmp_path, run_id="api", device="cpu", progress=False)

    result = run(tiny_models["erm_s0"])
    expected = json.loads((benchmarked / "benchmark.json").read_text())
    assert (result.clean_acc, result.autoattack_acc) == (expected["clean_accuracy"], expected["autoattack_accuracy"])
    assert result.record == json.loads((tmp_path / "api" / "benchmark.json").read_text())
    assert run(tiny_models["erm_s0"]).record == result.record
    units = json.loads((tmp_path / "api" / "results.json").read_text())["timing"]["units"]
    assert units == {"computed": 0, "reused": 4}  # the same weights: every unit reused
    run(tiny_models["mixup_a1_s0"])  # other weights under the same name: nothing of the first model's is reused
    assert json.loads((tmp_path / "api" / "results.json").read_text())["timing"]["units"] == {"computed": 4, "reused": 0}


def test_a_model_info_folder_that_is_a_link_is_not_followed(tmp_path):
    outside = tmp_path / "elsewhere" / "cifar10" / "Linf"
    outside.mkdir(parents=True)
    (outside / "Carmon2019Unlabeled.json").write_text(json.dumps(CARMON))
    root = tmp_path / "runs"
    root.mkdir()
    (root / "model_info").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert find_entries(root) == []  # a link could lead anywhere on the disk: read nothing through it
    shutil.copytree(tmp_path / "elsewhere", root / "copied" / "model_info")
    assert [e["name"] for e in find_entries(root)] == [CARMON["name"]]  # the same files, not linked: read
