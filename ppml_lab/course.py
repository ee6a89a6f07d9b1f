"""The course map: one list that notebook 00, the README and the book all show.

``COURSE`` lists the notebooks in order (file, topic, what you will be able to do). ``PREREQUISITES`` says
what to have studied (or know) before each one, ``GLOSSARY`` defines the course's terms in one sentence
each with the notebook that introduces them, and :func:`study_minutes` *estimates* how long a notebook
takes to study — computed from the notebook itself, so the estimate follows the text when it changes.

The study-time estimate is an estimate, not a measurement of any learner. Its basis, stated so it can be
argued with: the notebook's markdown words read at :data:`READING_WORDS_PER_MINUTE`, its non-blank code
lines read and run at :data:`CODE_LINES_PER_MINUTE`, plus :data:`MINUTES_PER_EXERCISE` for each exercise
and :data:`MINUTES_PER_CODING_EXERCISE` for each coding exercise (a "## Coding exercise" section). These rates are the course's own assumptions (chosen for dense technical text with mathematics),
not figures from a study of reading speed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "COURSE",
    "CODE_LINES_PER_MINUTE",
    "GLOSSARY",
    "GlossaryEntry",
    "MINUTES_PER_CODING_EXERCISE",
    "MINUTES_PER_EXERCISE",
    "PREREQUISITES",
    "READING_WORDS_PER_MINUTE",
    "StudyTime",
    "course_map",
    "glossary_frame",
    "readme_course_table",
    "study_minutes",
    "study_time",
]

#: (file, title, what you will be able to do afterwards)
COURSE: tuple[tuple[str, str, str], ...] = (
    ("00_why_ppml.ipynb", "Why privacy-preserving ML", "re-identify a 'de-identified' release; run a membership-inference attack"),
    ("01_differential_privacy.ipynb", "Differential privacy", "calibrate Laplace, Gaussian and exponential mechanisms; attack a float sampler"),
    ("02_privacy_accounting.ipynb", "Privacy accounting", "compose releases with RDP and zCDP; keep a privacy ledger"),
    ("03_dp_sgd.ipynb", "DP-SGD", "train a private model from scratch and with Opacus; read a privacy-utility curve"),
    ("04_privacy_auditing.ipynb", "Privacy auditing", "lower-bound epsilon with a likelihood-ratio membership attack"),
    ("05_paillier.ipynb", "Paillier encryption", "add encrypted numbers; compute a private average across banks"),
    ("06_ckks.ipynb", "CKKS with TenSEAL", "choose CKKS parameters; run packed encrypted inference"),
    ("07_secret_sharing.ipynb", "Secret sharing and MPC", "share, multiply with Beaver triples, infer securely between two parties"),
    ("08_federated_learning.ipynb", "Federated learning", "run FedAvg on non-IID hospitals, side by side with Flower"),
    ("09_secure_aggregation.ipynb", "Secure aggregation", "mask updates so the server learns only the sum, despite dropouts"),
    ("10_gradient_inversion.ipynb", "Gradient inversion", "reconstruct images from one update; measure the defences"),
    ("11_dp_federated_learning.ipynb", "DP federated learning", "add client-level DP to FedAvg and count the clients it needs"),
    ("12_flower_deployment.ipynb", "Flower deployment", "run the task across processes with TLS, node auth and SecAgg+"),
    ("13_dp_synthetic_data.ipynb", "DP synthetic data", "release synthetic tables with a DP guarantee; test them for leaks"),
    ("14_zero_knowledge.ipynb", "Zero-knowledge proofs", "prove an update is bounded without revealing it; forge a weak Fiat-Shamir proof; compare with a zkML SNARK"),
    ("15_memorisation.ipynb", "Models that remember", "extract a memorised identifier from a language model; stop it with DP fine-tuning and DP-LoRA"),
    ("16_choosing_and_combining.ipynb", "Choosing and combining", "pick and combine techniques from measurements; map them to regulation"),
)

#: notebook -> (earlier notebooks to study first, background knowledge assumed)
PREREQUISITES: dict[str, tuple[tuple[str, ...], str]] = {
    "00_why_ppml.ipynb": ((), "Python with numpy and pandas; basic probability"),
    "01_differential_privacy.ipynb": (("00",), "expectation, variance, the Laplace and normal distributions"),
    "02_privacy_accounting.ipynb": (("01",), "logarithms and exponentials; reading a plot on log axes"),
    "03_dp_sgd.ipynb": (("02",), "gradient descent; PyTorch basics (tensors, a training loop)"),
    "04_privacy_auditing.ipynb": (("03",), "hypothesis tests; ROC curves (true and false positive rates)"),
    "05_paillier.ipynb": (("00",), "modular arithmetic (remainders, inverses); big integers in Python"),
    "06_ckks.ipynb": (("05",), "vectors and polynomials; floating-point error"),
    "07_secret_sharing.ipynb": (("05",), "modular arithmetic; fixed-point numbers"),
    "08_federated_learning.ipynb": (("03",), "gradient descent; PyTorch basics"),
    "09_secure_aggregation.ipynb": (("07", "08"), "modular arithmetic; what a key exchange does"),
    "10_gradient_inversion.ipynb": (("08",), "backpropagation; optimising an input by gradient descent"),
    "11_dp_federated_learning.ipynb": (("02", "03", "08", "09"), "as for notebooks 02, 03 and 08"),
    "12_flower_deployment.ipynb": (("09", "11"), "processes and ports; what TLS certificates are for"),
    "13_dp_synthetic_data.ipynb": (("02",), "marginal and joint distributions of a table"),
    "14_zero_knowledge.ipynb": (("07", "09"), "modular arithmetic; groups and hash functions at the level of notebook 09"),
    "15_memorisation.ipynb": (("03", "04"), "what a language model predicts; low-rank matrices"),
    "16_choosing_and_combining.ipynb": (("03", "05", "06", "09", "11"), "the rest of the course; no legal training needed"),
}


class GlossaryEntry(NamedTuple):
    """One glossary term: its one-sentence definition and the notebook that introduces it.

    ``mentions`` are the spellings under which the notebook uses the term (case-insensitive); a test checks
    that the notebook exists and uses at least one of them.
    """

    term: str
    notebook: str
    definition: str
    mentions: tuple[str, ...]


#: The course's terms, alphabetical by term, each one sentence.
GLOSSARY: tuple[GlossaryEntry, ...] = tuple(sorted((
    GlossaryEntry("epsilon (ε)", "01_differential_privacy.ipynb",
                  "The privacy-loss bound of differential privacy: no output becomes more than e^ε times likelier "
                  "when one privacy unit's data is added or removed.", ("epsilon", "ε", "\\varepsilon")),
    GlossaryEntry("delta (δ)", "01_differential_privacy.ipynb",
                  "The probability slack of approximate DP: the ε bound may fail on events of total probability "
                  "at most δ, which is why δ is set far below one over the number of privacy units.", ("delta", "δ")),
    GlossaryEntry("sensitivity", "01_differential_privacy.ipynb",
                  "The most a query's answer can change between neighbouring data sets (one privacy unit more or "
                  "less); noise is scaled to it.", ("sensitivity",)),
    GlossaryEntry("privacy unit", "02_privacy_accounting.ipynb",
                  "What one neighbouring step adds or removes — a record, a patient, a hospital — and so whom an "
                  "epsilon protects; epsilons in different units do not add up.", ("privacy unit",)),
    GlossaryEntry("composition", "02_privacy_accounting.ipynb",
                  "The rule for the total privacy loss of several releases about the same data; basic composition "
                  "adds the epsilons, accountants give tighter totals.", ("composition",)),
    GlossaryEntry("RDP (Rényi differential privacy)", "02_privacy_accounting.ipynb",
                  "A relaxation of DP that bounds the Rényi divergence of order α between neighbouring output "
                  "distributions; it composes by addition and converts to (ε, δ).", ("RDP", "Rényi")),
    GlossaryEntry("zCDP (zero-concentrated DP)", "02_privacy_accounting.ipynb",
                  "A relaxation of DP with one parameter ρ that bounds every Rényi order at once (ρα); Gaussian "
                  "releases compose by adding their ρ.", ("zCDP",)),
    GlossaryEntry("PLD (privacy loss distribution)", "02_privacy_accounting.ipynb",
                  "The distribution of a mechanism's privacy-loss random variable; composing PLDs numerically "
                  "gives the tightest (ε, δ) accounting the course uses.", ("PLD", "privacy loss distribution")),
    GlossaryEntry("clipping norm", "03_dp_sgd.ipynb",
                  "The bound C (max_grad_norm) to which DP-SGD scales down each example's gradient, which fixes "
                  "the sensitivity the noise is calibrated to.", ("clipping norm", "max_grad_norm")),
    GlossaryEntry("noise multiplier", "03_dp_sgd.ipynb",
                  "The ratio z of the Gaussian noise's standard deviation to the clipping norm in DP-SGD and "
                  "DP-FedAvg; with the sampling rate and steps it determines epsilon.", ("noise multiplier",)),
    GlossaryEntry("membership inference", "00_why_ppml.ipynb",
                  "An attack that decides whether a given record was in a model's training set, here from the "
                  "model's loss or output on that record.", ("membership inference", "membership-inference")),
    GlossaryEntry("LiRA (likelihood-ratio attack)", "04_privacy_auditing.ipynb",
                  "A membership-inference attack that compares a record's score with the score distributions of "
                  "shadow models trained with and without it.", ("LiRA",)),
    GlossaryEntry("canary", "04_privacy_auditing.ipynb",
                  "A record planted in the training data on purpose so that an audit or an extraction attack can "
                  "test whether the model reveals it.", ("canary", "canaries")),
    GlossaryEntry("exposure", "15_memorisation.ipynb",
                  "Carlini et al.'s measure of how memorised a canary is: log2 of the number of candidates minus "
                  "log2 of the canary's rank among them.", ("exposure",)),
    GlossaryEntry("Paillier encryption", "05_paillier.ipynb",
                  "A public-key scheme whose ciphertexts multiply to an encryption of the sum of their plaintexts "
                  "(additively homomorphic).", ("Paillier",)),
    GlossaryEntry("CKKS", "06_ckks.ipynb",
                  "A homomorphic encryption scheme for approximate arithmetic on packed vectors of real numbers, "
                  "supporting additions and a limited depth of multiplications.", ("CKKS",)),
    GlossaryEntry("rescaling", "06_ckks.ipynb",
                  "The CKKS step after a multiplication that divides the ciphertext by the scale and drops one "
                  "prime of the modulus chain, so each multiplication uses up one level.", ("rescal",)),
    GlossaryEntry("secret sharing", "07_secret_sharing.ipynb",
                  "Splitting a value into random shares so that any authorised set of parties can rebuild it and "
                  "any smaller set learns nothing about it.", ("secret sharing", "secret-sharing")),
    GlossaryEntry("Beaver triple", "07_secret_sharing.ipynb",
                  "Pre-shared random values a, b and c = ab that let parties multiply two secret-shared numbers "
                  "by opening only masked differences.", ("Beaver",)),
    GlossaryEntry("FedAvg", "08_federated_learning.ipynb",
                  "Federated averaging: clients train locally for a few steps and the server averages their "
                  "models, weighted by data size, each round.", ("FedAvg",)),
    GlossaryEntry("SecAgg (secure aggregation)", "09_secure_aggregation.ipynb",
                  "Bonawitz et al.'s protocol in which clients mask their updates with pairwise masks so the "
                  "server learns only the sum, even if some clients drop out.", ("SecAgg", "secure aggregation")),
    GlossaryEntry("SecAgg+", "09_secure_aggregation.ipynb",
                  "The variant of secure aggregation in which each client shares masks with a sparse random "
                  "set of neighbours instead of with every other client, cutting the cost.", ("SecAgg+",)),
    GlossaryEntry("client-level DP", "11_dp_federated_learning.ipynb",
                  "Differential privacy whose privacy unit is a whole client's data set (here a hospital), "
                  "obtained by clipping and noising each client's update.", ("client-level",)),
    GlossaryEntry("SuperLink", "12_flower_deployment.ipynb",
                  "Flower's long-running server process that SuperNodes connect to and that relays tasks and "
                  "results between the server app and the clients.", ("SuperLink",)),
    GlossaryEntry("SuperNode", "12_flower_deployment.ipynb",
                  "Flower's long-running client process at each data holder, which connects to the SuperLink "
                  "and runs the client app on local data.", ("SuperNode",)),
    GlossaryEntry("synthetic data (DP)", "13_dp_synthetic_data.ipynb",
                  "A table sampled from a model fitted with differential privacy, so that releasing it costs no "
                  "more privacy than releasing the model.", ("synthetic data", "synthetic table")),
    GlossaryEntry("zero-knowledge proof", "14_zero_knowledge.ipynb",
                  "A proof that convinces a verifier a statement is true (e.g. an update is bounded) without "
                  "revealing anything else, such as the update itself.", ("zero-knowledge",)),
    GlossaryEntry("Sigma protocol", "14_zero_knowledge.ipynb",
                  "A three-move zero-knowledge proof — commitment, challenge, response — such as Schnorr's proof "
                  "of knowledge of a discrete logarithm.", ("Sigma protocol", "Σ-protocol")),
    GlossaryEntry("Fiat–Shamir transform", "14_zero_knowledge.ipynb",
                  "Making a Sigma protocol non-interactive by deriving the challenge from a hash of the statement "
                  "and commitment; hashing too little of them lets a prover forge proofs.", ("Fiat-Shamir", "Fiat–Shamir")),
    GlossaryEntry("Pedersen commitment", "14_zero_knowledge.ipynb",
                  "A commitment g^m h^r that hides m perfectly and binds the committer to it unless discrete "
                  "logarithms can be computed; commitments add homomorphically.", ("Pedersen",)),
    GlossaryEntry("gradient inversion", "10_gradient_inversion.ipynb",
                  "Reconstructing a client's training inputs from a shared gradient or model update by optimising "
                  "dummy inputs until their gradient matches.", ("gradient inversion",)),
    GlossaryEntry("quasi-identifier", "00_why_ppml.ipynb",
                  "An ordinary attribute (postcode, birth date, sex) that is not a name but, combined with others, "
                  "singles people out and enables linkage.", ("quasi-identifier",)),
    GlossaryEntry("LoRA (low-rank adaptation)", "15_memorisation.ipynb",
                  "Fine-tuning that trains a low-rank update B·A added to frozen weights, so far fewer parameters "
                  "are trained (and noised, in DP-LoRA).", ("LoRA",)),
), key=lambda e: e.term.lower()))

#: Assumed reading rate for the notebooks' prose (dense technical text with mathematics).
READING_WORDS_PER_MINUTE = 100
#: Assumed rate for reading, running and inspecting the code cells (non-blank lines).
CODE_LINES_PER_MINUTE = 10
#: Assumed time per exercise (attempt, check, retry).
MINUTES_PER_EXERCISE = 10
#: Assumed time per coding exercise (write the code, run its tests, fix, retry).
MINUTES_PER_CODING_EXERCISE = 20

_DEFAULT_NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*(.+?)\s*$")
_EXERCISE_PROMPT = re.compile(r"^\s*(\*\*\s*(exercise\s*)?\d+[.)]?\s*\*\*|#{1,6}\s*exercise\s*\d+)", re.IGNORECASE)


class StudyTime(NamedTuple):
    """The parts of a study-time estimate, each counted from the notebook."""

    words: int
    code_lines: int
    exercises: int
    coding_exercises: int
    minutes: float


def study_time(path: str | Path) -> StudyTime:
    """Estimate the study time of one notebook from its text (an estimate: see the module docstring).

    Exercises are the numbered prompts (``**1.**``, ``### Exercise 1``) in the section headed "Exercises";
    when a notebook numbers none, each code cell of that section counts as one. Each section headed
    "Coding exercise" counts as one coding exercise.
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    words = code_lines = prompts = exercise_code_cells = coding = 0
    in_exercises = False
    for cell in nb.cells:
        lines = cell.source.splitlines()
        if cell.cell_type == "markdown":
            words += len(re.findall(r"\w+", cell.source))
            for line in lines:
                heading = _HEADING.match(line)
                if heading and not line.lstrip().startswith("#### "):
                    title = heading.group(1).lower()
                    if title.startswith("coding exercise"):
                        coding += 1
                        in_exercises = False
                        continue
                    if title.startswith("exercise") and not re.match(r"exercise\s*\d", title):
                        in_exercises = True
                        continue
                    if re.match(r"exercise\s*\d", title):
                        if in_exercises:
                            prompts += 1
                        continue
                    in_exercises = False
                elif in_exercises and _EXERCISE_PROMPT.match(line):
                    prompts += 1
        elif cell.cell_type == "code":
            code_lines += sum(1 for line in lines if line.strip())
            if in_exercises:
                exercise_code_cells += 1
    exercises = prompts or exercise_code_cells
    minutes = (words / READING_WORDS_PER_MINUTE + code_lines / CODE_LINES_PER_MINUTE
               + exercises * MINUTES_PER_EXERCISE + coding * MINUTES_PER_CODING_EXERCISE)
    return StudyTime(words, code_lines, exercises, coding, minutes)


def study_minutes(path: str | Path, *, round_to: int = 5) -> int:
    """The study-time estimate of one notebook in minutes, rounded up to a multiple of ``round_to``."""
    if not isinstance(round_to, int) or isinstance(round_to, bool) or round_to < 1:
        raise ValueError(f"round_to must be an integer >= 1, got {round_to!r}")
    return int(math.ceil(study_time(path).minutes / round_to) * round_to)


def _prerequisite_text(file: str) -> str:
    notebooks, background = PREREQUISITES[file]
    before = ", ".join(notebooks) if notebooks else "none"
    return f"{before}; {background}"


def course_map(notebook_dir: str | Path | None = None) -> Any:
    """The course map as a pandas DataFrame.

    Columns: notebook, topic, you will, prerequisites (earlier notebooks; background), and — when
    ``notebook_dir`` is given — whether each notebook is present there and its estimated study time in
    minutes (computed from the notebook by :func:`study_minutes`; empty when the notebook is absent).
    """
    import pandas as pd

    rows = [{"notebook": f, "topic": t, "you will": g, "prerequisites": _prerequisite_text(f)} for f, t, g in COURSE]
    frame = pd.DataFrame(rows)
    if notebook_dir is not None:
        paths = [Path(notebook_dir) / f for f, _, _ in COURSE]
        frame["available"] = [p.exists() for p in paths]
        frame["study time (est., min)"] = pd.array(
            [study_minutes(p) if p.exists() else None for p in paths], dtype="Int64")
    return frame


def glossary_frame() -> Any:
    """The glossary as a pandas DataFrame: term, definition, and the notebook that introduces it."""
    import pandas as pd

    return pd.DataFrame([{"term": e.term, "definition": e.definition, "introduced in": e.notebook[:2]}
                         for e in GLOSSARY])


def readme_course_table(readme: str, notebook_dir: str | Path | None = None) -> str:
    """``readme`` with its course table's learner columns (prerequisites, study time) recomputed.

    The table is the one whose header starts ``| # | notebook |``; its measured columns (run time, peak
    memory) are kept as they are, since they come from ``scripts/budget.py``, not from this module.
    """
    nb_dir = Path(notebook_dir) if notebook_dir is not None else _DEFAULT_NOTEBOOK_DIR
    lines = readme.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("| # | notebook |"))
    except StopIteration:
        raise ValueError("readme must contain a course table whose header starts '| # | notebook |'") from None
    end = start + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    old_header = [h.strip() for h in lines[start].strip("|").split("|")]
    old = {}
    for line in lines[start + 2:end]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        old[cells[0]] = dict(zip(old_header, cells))
    header = ["#", "notebook", "topic", "you will", "prerequisites", "study (est., min)", "time (s)",
              "peak memory (MB)"]
    table = ["| " + " | ".join(header) + " |", "|---|---|---|---|---|---:|---:|---:|"]
    for file, topic, goal in COURSE:
        number = file[:2]
        earlier, _ = PREREQUISITES[file]
        measured = old.get(number, {})
        path = nb_dir / file
        row = [number, f"[{file[:-6]}](notebooks/{file})", topic, goal, ", ".join(earlier) if earlier else "—",
               str(study_minutes(path)) if path.exists() else "", measured.get("time (s)", ""),
               measured.get("peak memory (MB)", "")]
        table.append("| " + " | ".join(row) + " |")
    lines[start:end] = table
    return "\n".join(lines) + ("\n" if readme.endswith("\n") else "")


if __name__ == "__main__":  # python -m ppml_lab.course README.md
    import sys

    for name in sys.argv[1:] or ["README.md"]:
        readme_path = Path(name)
        readme_path.write_text(readme_course_table(readme_path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"rewrote the course table of {readme_path}")
