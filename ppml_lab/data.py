"""Offline data for the course: scikit-learn's bundled data sets and seeded generators.

Nothing here downloads. The running scenario splits a data set into named sites (hospitals in Singapore,
Malaysia, Thailand, Indonesia and Vietnam), IID or label-skewed by a Dirichlet(alpha) draw per class
(the scheme of Hsu, Qi & Brown 2019, arXiv:1909.06335), and returns plain numpy arrays.
:func:`synthetic_population` makes a seeded population with quasi-identifiers (postcode, birth date,
sex) and a sensitive attribute, for the linkage attacks of notebook 00 (after Sweeney 2000).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import check_array, check_choice, check_fraction, check_int, check_positive

__all__ = [
    "SITES",
    "DATASETS",
    "Dataset",
    "SiteData",
    "Population",
    "load_dataset",
    "train_test_split",
    "partition_indices",
    "split_sites",
    "synthetic_population",
    "Table",
    "discretised_population",
    "SECRET_FORMATS",
    "Canary",
    "ClinicalNotes",
    "random_secret",
    "clinical_notes",
]

#: The course's five hospitals, one per jurisdiction.
SITES: tuple[str, ...] = ("Singapore", "Malaysia", "Thailand", "Indonesia", "Vietnam")
DATASETS: tuple[str, ...] = ("breast_cancer", "digits", "wine")
_SCHEMES = ("iid", "dirichlet")


@dataclass(frozen=True)
class Dataset:
    """A bundled data set as numpy arrays. ``X`` is float64 (n, d); ``y`` is int64 (n,)."""

    name: str
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    feature_names: tuple[str, ...] = field(repr=False)
    target_names: tuple[str, ...]

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.target_names)


@dataclass(frozen=True)
class SiteData:
    """One site's local data."""

    name: str
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])


def load_dataset(name: str, *, standardize: bool = False) -> Dataset:
    """Load one of scikit-learn's bundled data sets (no download): breast_cancer, digits or wine.

    ``standardize=True`` scales each feature to zero mean and unit variance over the whole set; for a
    proper experiment fit the scaler on the training split only (see :func:`train_test_split`).
    """
    check_choice("name", name, DATASETS)
    from sklearn import datasets

    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "wine": datasets.load_wine,
    }[name]
    raw = loader()
    X = np.asarray(raw.data, dtype=np.float64)
    if standardize:
        sd = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    names = tuple(str(f) for f in getattr(raw, "feature_names", [f"x{i}" for i in range(X.shape[1])]))
    return Dataset(
        name=name,
        X=X,
        y=np.asarray(raw.target, dtype=np.int64),
        feature_names=names,
        target_names=tuple(str(t) for t in raw.target_names),
    )


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    Xa = check_array("X", X, ndim=2)
    ya = check_array("y", y, ndim=1, integer=True)
    if Xa.shape[0] != ya.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {Xa.shape[0]} and {ya.shape[0]}")
    return Xa, ya


def train_test_split(
    X: Any,
    y: Any,
    *,
    test_fraction: float = 0.25,
    rng: RNGLike = None,
    stratify: bool = True,
    standardize: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into (X_train, X_test, y_train, y_test), stratified by label by default.

    ``standardize=True`` fits the scaling on the training part only and applies it to both.
    """
    Xa, ya = _check_xy(X, y)
    check_fraction("test_fraction", test_fraction, high_inclusive=False)
    g = resolve_rng(rng)
    n = len(ya)
    test_idx_parts = []
    groups = [np.flatnonzero(ya == c) for c in np.unique(ya)] if stratify else [np.arange(n)]
    for idx in groups:
        perm = idx[g.permutation(len(idx))]
        k = int(round(test_fraction * len(idx)))
        test_idx_parts.append(perm[:k])
    test_idx = np.sort(np.concatenate(test_idx_parts))
    if test_idx.size == 0 or test_idx.size == n:
        raise ValueError(
            f"test_fraction={test_fraction} leaves an empty train or test set for {n} samples; "
            "choose a fraction between 1/n and 1 - 1/n"
        )
    mask = np.zeros(n, dtype=bool)
    mask[test_idx] = True
    Xtr, Xte, ytr, yte = Xa[~mask], Xa[mask], ya[~mask], ya[mask]
    if standardize:
        mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    return Xtr, Xte, ytr, yte


def partition_indices(
    y: Any,
    n_parts: int,
    *,
    scheme: str = "iid",
    alpha: float | None = None,
    min_size: int = 1,
    rng: RNGLike = None,
    max_tries: int = 100,
) -> list[np.ndarray]:
    """Split sample indices into ``n_parts`` disjoint, sorted index arrays that cover every sample.

    - ``scheme="iid"``: a random permutation cut into near-equal parts.
    - ``scheme="dirichlet"``: label skew; for each class c, proportions p_c ~ Dir(alpha * 1) decide which
      part gets how many of class c's samples (Hsu et al. 2019). Small alpha (0.1) gives parts dominated by
      one or two labels; large alpha (100) approaches IID. Draws are repeated (up to ``max_tries``) until
      every part has at least ``min_size`` samples.
    """
    ya = check_array("y", y, ndim=1, integer=True)
    n = len(ya)
    check_int("n_parts", n_parts, low=1)
    if n_parts > n:
        raise ValueError(f"n_parts must be <= the number of samples ({n}), got {n_parts}")
    check_choice("scheme", scheme, _SCHEMES)
    check_int("min_size", min_size, low=0)
    if min_size * n_parts > n:
        raise ValueError(
            f"min_size * n_parts must be <= the number of samples ({n}), got {min_size} * {n_parts}"
        )
    g = resolve_rng(rng)
    if scheme == "iid":
        if alpha is not None:
            raise ValueError("alpha applies only to scheme='dirichlet'; got alpha with scheme='iid'")
        perm = g.permutation(n)
        return [np.sort(p) for p in np.array_split(perm, n_parts)]
    if alpha is None:
        raise ValueError("alpha is required for scheme='dirichlet' (a finite number > 0, e.g. 0.5)")
    a = check_positive("alpha", alpha)
    classes = np.unique(ya)
    sampler = g if isinstance(g, np.random.Generator) else np.random.default_rng(g.integers(0, 2**62))
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_parts)]
        for c in classes:
            idx = np.flatnonzero(ya == c)
            idx = idx[sampler.permutation(len(idx))]
            p = sampler.dirichlet(np.full(n_parts, a))
            cuts = (np.cumsum(p)[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k].append(chunk)
        out = [np.sort(np.concatenate(pk)) for pk in parts]
        if min(len(o) for o in out) >= min_size:
            return out
    raise ValueError(
        f"could not give every one of {n_parts} parts at least min_size={min_size} samples with "
        f"alpha={a} in {max_tries} tries; raise alpha or lower min_size"
    )


def split_sites(
    X: Any,
    y: Any,
    *,
    sites: Sequence[str] | int = SITES,
    scheme: str = "iid",
    alpha: float | None = None,
    min_size: int = 1,
    rng: RNGLike = None,
) -> dict[str, SiteData]:
    """Split (X, y) into named sites (default: the course's five hospitals), IID or label-skewed.

    ``sites`` is a sequence of unique names or a number of sites (named ``site_0`` ...).
    Returns ``{name: SiteData(name, X, y)}`` in site order.
    """
    Xa, ya = _check_xy(X, y)
    if isinstance(sites, (int, np.integer)) and not isinstance(sites, bool):
        check_int("sites", sites, low=1)
        names = [f"site_{i}" for i in range(int(sites))]
    elif isinstance(sites, Sequence) and not isinstance(sites, str):
        names = [str(s) for s in sites]
        if len(names) < 1:
            raise ValueError("sites must name at least 1 site, got an empty sequence")
        if len(set(names)) != len(names):
            raise ValueError(f"sites must be unique names, got {names}")
    else:
        raise TypeError(f"sites must be a sequence of names or an int, got {type(sites).__name__}")
    parts = partition_indices(ya, len(names), scheme=scheme, alpha=alpha, min_size=min_size, rng=rng)
    return {name: SiteData(name, Xa[idx], ya[idx]) for name, idx in zip(names, parts)}


# ---------------------------------------------------------------------------------------------
# A synthetic population for linkage attacks
# ---------------------------------------------------------------------------------------------

_DIAGNOSES = ("none", "hypertension", "diabetes", "asthma", "depression", "HIV", "cancer")
_SYLLABLES = ("an", "bo", "chi", "da", "en", "fa", "gu", "ha", "in", "jo", "ka", "li", "mi", "nu",
              "om", "pa", "ra", "si", "ta", "wu", "ya", "zi")


@dataclass(frozen=True)
class Population:
    """Column-oriented synthetic people: every column is a numpy array of length ``n``.

    Columns: ``person_id`` (int), ``name`` (str), ``postcode`` (int, 5 digits), ``birth_date``
    (datetime64[D]), ``sex`` ('F'/'M'), ``diagnosis`` (str, the sensitive attribute).
    """

    columns: dict[str, np.ndarray] = field(repr=False)

    @property
    def n(self) -> int:
        return int(len(self.columns["person_id"]))

    def __getitem__(self, key: str) -> np.ndarray:
        return self.columns[key]

    def take(self, idx: np.ndarray) -> Population:
        return Population({k: v[idx] for k, v in self.columns.items()})

    def to_frame(self, columns: Sequence[str] | None = None) -> Any:
        import pandas as pd

        cols = list(columns) if columns is not None else list(self.columns)
        return pd.DataFrame({c: self.columns[c] for c in cols})

    def __repr__(self) -> str:
        return f"Population(n={self.n}, columns={list(self.columns)})"


def synthetic_population(
    n: int = 100_000,
    *,
    n_postcodes: int = 20,
    reference_date: str = "2026-01-01",
    rng: RNGLike = None,
) -> Population:
    """A seeded population with realistic marginals for re-identification experiments.

    - postcode: ``n_postcodes`` areas with log-normal sizes (a few large, many small);
    - age: a broad pyramid (more young adults than over-80s), birth date uniform within the year of age;
    - sex: 51 % F / 49 % M;
    - diagnosis: prevalence rising with age (hypertension, diabetes, cancer) or not (asthma, depression).

    With the defaults (about 5,000 people per postcode) uniqueness on postcode + birth date + sex lands
    near the 87 % that Sweeney (2000) found for US ZIP5 + birth date + sex — a calibration, not a claim.
    """
    check_int("n", n, low=1)
    check_int("n_postcodes", n_postcodes, low=1)
    g = resolve_rng(rng)
    gen = g if isinstance(g, np.random.Generator) else np.random.default_rng(g.integers(0, 2**62))
    sizes = gen.lognormal(mean=0.0, sigma=0.6, size=n_postcodes)
    codes = np.sort(gen.choice(np.arange(10_000, 99_999), size=n_postcodes, replace=False))
    postcode = codes[gen.choice(n_postcodes, size=n, p=sizes / sizes.sum())]
    ages = np.arange(0, 95)
    weights = np.where(ages < 60, 1.0, np.exp(-(ages - 60) / 12.0))
    age = gen.choice(ages, size=n, p=weights / weights.sum())
    ref = np.datetime64(reference_date, "D")
    offset_days = age * 365 + gen.integers(0, 365, size=n)
    birth_date = ref - offset_days.astype("timedelta64[D]")
    sex = np.where(gen.random(n) < 0.51, "F", "M")
    # age-dependent prevalence of the sensitive attribute
    a = age / 95.0
    logits = np.stack(
        [
            np.full(n, 2.2),  # none
            -2.5 + 4.0 * a,  # hypertension
            -3.0 + 3.0 * a,  # diabetes
            np.full(n, -2.5),  # asthma
            np.full(n, -2.3),  # depression
            np.full(n, -5.0),  # HIV
            -4.0 + 3.5 * a,  # cancer
        ],
        axis=1,
    )
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cum = np.cumsum(p, axis=1)
    diag_idx = np.minimum((gen.random((n, 1)) > cum).sum(axis=1), len(_DIAGNOSES) - 1)
    diagnosis = np.asarray(_DIAGNOSES)[diag_idx]
    syl = np.asarray(_SYLLABLES)
    picks = gen.integers(0, len(syl), size=(n, 4))
    name = np.char.add(
        np.char.capitalize(np.char.add(syl[picks[:, 0]], syl[picks[:, 1]])),
        np.char.add(" ", np.char.capitalize(np.char.add(syl[picks[:, 2]], syl[picks[:, 3]]))),
    )
    return Population(
        {
            "person_id": np.arange(n, dtype=np.int64),
            "name": name,
            "postcode": postcode.astype(np.int64),
            "birth_date": birth_date,
            "sex": sex,
            "diagnosis": diagnosis,
        }
    )


# ---------------------------------------------------------------------------------------------
# Discretised tables (for DP synthetic data, notebook 13)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A discretised table: ``data[i, j]`` is the code of record i's attribute j, in [0, sizes[j])."""

    columns: tuple[str, ...]
    sizes: tuple[int, ...]
    data: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.columns) != len(self.sizes) or len(set(self.columns)) != len(self.columns):
            raise ValueError("columns must be unique and match sizes one to one")
        arr = check_array("data", self.data, ndim=2, integer=True, allow_empty=True)
        if arr.shape[1] != len(self.columns):
            raise ValueError(f"data must have {len(self.columns)} columns, got {arr.shape[1]}")
        if arr.size and (arr.min() < 0 or np.any(arr.max(axis=0) >= np.asarray(self.sizes))):
            raise ValueError("data codes must lie in [0, size) for every column")
        object.__setattr__(self, "data", arr)

    @property
    def n(self) -> int:
        return int(self.data.shape[0])

    @property
    def domain_size(self) -> int:
        return int(np.prod(self.sizes))

    def axes(self, attrs: Sequence[str]) -> tuple[int, ...]:
        missing = [a for a in attrs if a not in self.columns]
        if missing:
            raise ValueError(f"attributes {missing} are not columns; columns are {list(self.columns)}")
        return tuple(self.columns.index(a) for a in attrs)

    def histogram(self) -> np.ndarray:
        """Counts over the full domain, shape ``sizes`` (vectorised with a flat index)."""
        flat = np.ravel_multi_index(tuple(self.data.T), self.sizes) if self.n else np.zeros(0, dtype=np.int64)
        return np.bincount(flat, minlength=self.domain_size).astype(np.float64).reshape(self.sizes)

    def column(self, name: str) -> np.ndarray:
        return self.data[:, self.axes([name])[0]]


def discretised_population(population: Population, *, reference_year: int = 2026) -> tuple[Table, dict[str, tuple[str, ...]]]:
    """Code a population as a categorical :class:`Table`: postcode, birth_year, sex, diagnosis.

    Returns the table and, per column, the label of each code (postcodes sorted, birth years from
    ``reference_year - 94``, sex 'F'/'M', the diagnoses of :func:`synthetic_population`).
    """
    if not isinstance(population, Population):
        raise TypeError(f"population must be a Population, got {type(population).__name__}")
    codes, pc = np.unique(population["postcode"], return_inverse=True)
    year = population["birth_date"].astype("datetime64[Y]").astype(np.int64) + 1970
    first = reference_year - 94
    by = np.clip(year - first, 0, 94)
    sex = (population["sex"] == "M").astype(np.int64)
    diag = np.searchsorted(np.asarray(_DIAGNOSES_SORTED), population["diagnosis"])
    diag = np.asarray(_DIAG_ORDER)[diag]
    table = Table(("postcode", "birth_year", "sex", "diagnosis"), (len(codes), 95, 2, len(_DIAGNOSES)),
                  np.stack([pc, by, sex, diag], axis=1))
    labels = {
        "postcode": tuple(str(c) for c in codes),
        "birth_year": tuple(str(first + i) for i in range(95)),
        "sex": ("F", "M"),
        "diagnosis": _DIAGNOSES,
    }
    return table, labels


_DIAGNOSES_SORTED = tuple(sorted(_DIAGNOSES))
_DIAG_ORDER = tuple(_DIAGNOSES.index(d) for d in _DIAGNOSES_SORTED)


# ---------------------------------------------------------------------------------------------
# Synthetic clinical notes with canaries (for the memorisation notebook)
# ---------------------------------------------------------------------------------------------
#
# Canaries follow Carlini, Liu, Erlingsson, Kos & Song 2019, "The Secret Sharer: Evaluating and Testing
# Unintended Memorization in Neural Networks", USENIX Security, arXiv:1802.08232, Sec. 3: a secret of a
# known format, drawn uniformly from its candidate space R, inserted a chosen number of times.

#: Secret formats: name -> (pattern, sentence stem). '#' is a digit drawn uniformly; other characters are
#: literal. The stem is what an attacker would know ("Patient 4821's national ID is ").
SECRET_FORMATS: dict[str, tuple[str, str]] = {
    "record_number": ("#####", "Patient {pid}'s record number is "),
    "phone": ("########", "Patient {pid}'s phone number is "),
    "national_id": ("S#######", "Patient {pid}'s national ID is "),
}
_NOTE_DIAGNOSES = ("hypertension", "type 2 diabetes", "asthma", "migraine", "pneumonia", "anaemia",
                   "gastritis", "dengue fever", "back pain", "bronchitis", "eczema", "gout")
_NOTE_MEDICATIONS = (("amlodipine", (5, 10)), ("metformin", (500, 850)), ("salbutamol", (2, 4)),
                     ("ibuprofen", (200, 400)), ("amoxicillin", (250, 500)), ("paracetamol", (500, 1000)),
                     ("omeprazole", (20, 40)), ("allopurinol", (100, 300)))
_NOTE_TEMPLATES = (
    "{date}, {site}. Patient {pid} ({age}, {sex}) presented with {dx}. Started {med} {dose} mg.",
    "{date}, {site}. Patient {pid}, {age} {sex}, follow-up for {dx}; continue {med} {dose} mg.",
    "{date}, {site}. Patient {pid} ({age}, {sex}) admitted with {dx}. Given {med} {dose} mg.",
)


@dataclass(frozen=True)
class Canary:
    """One inserted secret: ``text`` = ``prefix`` + ``secret`` + '.', in ``repetitions`` notes."""

    patient_id: int
    secret_format: str
    secret: str = field(repr=False)
    repetitions: int
    prefix: str

    @property
    def pattern(self) -> str:
        return SECRET_FORMATS[self.secret_format][0]

    @property
    def text(self) -> str:
        return self.prefix + self.secret + "."


@dataclass(frozen=True)
class ClinicalNotes:
    """Notes (one string each, one training example each), the hospital of each, and the canaries inside.

    ``canary_notes[i]`` lists the indices of the notes that contain canary ``i``.
    """

    notes: tuple[str, ...] = field(repr=False)
    sites: tuple[str, ...] = field(repr=False)
    canaries: tuple[Canary, ...]
    canary_notes: tuple[tuple[int, ...], ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.notes)


def random_secret(pattern: str, *, rng: RNGLike = None) -> str:
    """A secret of ``pattern`` ('#' = uniform digit, other characters literal), uniform over its space."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str, got {type(pattern).__name__}")
    if "#" not in pattern:
        raise ValueError(f"pattern must contain at least one '#' (a digit slot), got {pattern!r}")
    g = resolve_rng(rng)
    digits = iter(np.asarray(g.integers(0, 10, size=pattern.count("#"))).tolist())
    return "".join(str(next(digits)) if c == "#" else c for c in pattern)


def _note_sentence(g: Any, pid: int) -> tuple[str, str]:
    site = SITES[int(g.integers(0, len(SITES)))]
    template = _NOTE_TEMPLATES[int(g.integers(0, len(_NOTE_TEMPLATES)))]
    med, doses = _NOTE_MEDICATIONS[int(g.integers(0, len(_NOTE_MEDICATIONS)))]
    date = f"2025-{int(g.integers(1, 13)):02d}-{int(g.integers(1, 29)):02d}"
    text = template.format(
        date=date, site=site, pid=pid, age=int(g.integers(18, 90)), sex="FM"[int(g.integers(0, 2))],
        dx=_NOTE_DIAGNOSES[int(g.integers(0, len(_NOTE_DIAGNOSES)))], med=med,
        dose=doses[int(g.integers(0, len(doses)))],
    )
    return text, site


def clinical_notes(
    n_notes: int = 2000,
    *,
    repetitions: Sequence[int] = (1, 4, 16),
    canaries_per_setting: int = 2,
    formats: Sequence[str] = tuple(SECRET_FORMATS),
    identifier_rate: float = 0.3,
    rng: RNGLike = None,
) -> ClinicalNotes:
    """Seeded synthetic clinical notes from the five hospitals, with canaries inserted (Carlini et al. 2019).

    Every note is one templated sentence (date, hospital, 4-digit patient number, age, sex, diagnosis,
    medication). A fraction ``identifier_rate`` of notes also states a random identifier of one of
    ``formats`` for its patient (so the model learns the format, as real notes would teach it). Then for
    every format and every count r in ``repetitions``, ``canaries_per_setting`` canaries (fresh patient, fresh
    uniform secret) are each appended to r notes. ``n_notes`` is the total, canary notes included.
    """
    n = check_int("n_notes", n_notes, low=1)
    reps = [check_int("repetitions[i]", r, low=1) for r in repetitions]
    per = check_int("canaries_per_setting", canaries_per_setting, low=0)
    fmts = [check_choice("formats[i]", f, tuple(SECRET_FORMATS)) for f in formats]
    rate = check_fraction("identifier_rate", identifier_rate, low_inclusive=True)
    n_canary_notes = per * len(fmts) * sum(reps)
    if n_canary_notes > n:
        raise ValueError(f"n_notes must be at least the {n_canary_notes} canary notes "
                         f"(canaries_per_setting x formats x sum(repetitions)), got {n}")
    n_canary_patients = per * len(fmts) * len(reps)
    if n_canary_patients >= 9000:  # each canary has its own 4-digit patient, and other notes need one left
        raise ValueError(f"canaries_per_setting x formats x repetitions must be < 9000 (distinct 4-digit "
                         f"patient numbers), got {n_canary_patients}")
    g = resolve_rng(rng)
    pids = np.asarray(g.permutation(9000)) + 1000  # distinct 4-digit patient numbers
    canary_pids, other_pids = pids[: per * len(fmts) * len(reps)], pids[per * len(fmts) * len(reps):]
    notes: list[str] = []
    sites: list[str] = []
    for _ in range(n):
        pid = int(other_pids[int(g.integers(0, len(other_pids)))])
        text, site = _note_sentence(g, pid)
        if float(g.random()) < rate and fmts:
            fmt = fmts[int(g.integers(0, len(fmts)))]
            pattern, stem = SECRET_FORMATS[fmt]
            text += " " + stem.format(pid=pid) + random_secret(pattern, rng=g) + "."
        notes.append(text)
        sites.append(site)
    canaries: list[Canary] = []
    slots = np.asarray(g.permutation(n))  # each canary note is a distinct note
    used = 0
    canary_notes: list[tuple[int, ...]] = []
    k = 0
    for fmt in fmts:
        pattern, stem = SECRET_FORMATS[fmt]
        for r in reps:
            for _ in range(per):
                pid = int(canary_pids[k])
                k += 1
                c = Canary(pid, fmt, random_secret(pattern, rng=g), r, stem.format(pid=pid))
                idx = tuple(int(i) for i in slots[used: used + r])
                used += r
                for i in idx:  # the canary's patient appears in the note, then the secret
                    text, site = _note_sentence(g, pid)
                    notes[i], sites[i] = text + " " + c.text, site
                canaries.append(c)
                canary_notes.append(idx)
    return ClinicalNotes(tuple(notes), tuple(sites), tuple(canaries), tuple(canary_notes))
