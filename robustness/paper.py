"""The mixup paper's numbers (Zhang et al., ICLR 2018, arXiv v1), for side-by-side tables.

Source: ../shared/reference/mixup-paper.md. Errors in percent.
"""

PAPER = "paper (arXiv v1)"

# Table 2: CIFAR-10, PreAct ResNet-18, 200 epochs, `uniform` noise; the best model of each family's grid.
TABLE2_SETUP = "CIFAR-10, PreAct ResNet-18, 200 epochs"
TABLE2_COLUMNS = ("best_test_error", "last_test_error", "last_train_error_real", "last_train_error_corrupted")
TABLE2 = [
    # noise, family, method, test best, test last, train error (real labels), train error (corrupted labels)
    (0.2, "erm", "ERM", 12.7, 16.6, 0.05, 0.28),
    (0.2, "dropout", "ERM + dropout (p=0.7)", 8.8, 10.4, 5.26, 83.55),
    (0.2, "mixup", "mixup (α=8)", 5.9, 6.4, 2.27, 86.32),
    (0.5, "erm", "ERM", 18.8, 44.6, 0.26, 0.64),
    (0.5, "dropout", "ERM + dropout (p=0.8)", 14.1, 15.5, 12.71, 86.98),
    (0.5, "mixup", "mixup (α=32)", 11.3, 12.7, 5.84, 85.71),
    (0.8, "erm", "ERM", 36.5, 73.9, 0.62, 0.83),
    (0.8, "dropout", "ERM + dropout (p=0.8)", 30.9, 35.1, 29.84, 86.37),
    (0.8, "mixup", "mixup (α=32)", 25.3, 30.9, 18.92, 85.44),
]


def table2_row(level: float, family: str) -> tuple | None:
    """The paper's Table 2 row for a noise level and method family, or None (no such row)."""
    return next((row for row in TABLE2 if abs(row[0] - level) < 1e-9 and row[1] == family), None)


# Table 3: ImageNet, ResNet-101, ε = 4/255, I-FGSM 10 steps. Black box = crafted on ERM model #1.
TABLE3_SETUP = "ImageNet, ResNet-101, ε = 4/255"
TABLE3_TOP1 = {
    ("white-box", "erm", "fgsm"): 90.7,
    ("white-box", "erm", "ifgsm"): 99.9,
    ("white-box", "mixup", "fgsm"): 75.2,
    ("white-box", "mixup", "ifgsm"): 99.6,
    ("transfer", "erm", "fgsm"): 57.0,  # ERM #1 -> ERM #2
    ("transfer", "erm", "ifgsm"): 57.3,
    ("transfer", "mixup", "fgsm"): 46.0,  # ERM #1 -> mixup
    ("transfer", "mixup", "ifgsm"): 40.9,
}
TABLE3_TOP5 = {
    ("white-box", "erm", "fgsm"): 63.1,
    ("white-box", "erm", "ifgsm"): 93.4,
    ("white-box", "mixup", "fgsm"): 49.1,
    ("white-box", "mixup", "ifgsm"): 95.8,
    ("transfer", "erm", "fgsm"): 24.8,
    ("transfer", "erm", "ifgsm"): 18.1,
    ("transfer", "mixup", "fgsm"): 17.4,
    ("transfer", "mixup", "ifgsm"): 11.8,
}

# The paper's ablation of mixup (its section 4: all or same-class partners, random or nearest-neighbour
# partners, mixing inputs or labels only, mixing at a layer; CIFAR-10, PreAct ResNet-18). Its numbers are not in
# ../shared/reference/mixup-paper.md, the one copy of the paper this suite's numbers are read from, so none are
# shown: a number typed from memory is not a number read from the paper.
ABLATION_TABLE: dict | None = None
ABLATION_NOTE = ("The paper's own ablation table (Zhang et al., ICLR 2018, section 4: CIFAR-10, PreAct ResNet-18, clean "
                 "test error only) could not be read from the copy of the paper this suite quotes from, so no paper "
                 "numbers stand beside this run's; compare with the paper itself. Its rows are the methods named "
                 "here: all-class (AC) or same-class (SC) partners, random (RP) or k-nearest-neighbour (KNN, k = 200) "
                 "pairing, inputs or labels mixed alone, mixing at a layer, input noise and label smoothing.")
