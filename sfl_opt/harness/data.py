"""A seeded E2E-style data-to-text task with its own word-level tokenizer (no downloads).

Each sample is a restaurant *meaning representation* (MR), e.g.
``name = the eagle | eattype = pub | food = french | area = riverside``, followed by a
sentence realising it, e.g. ``the eagle is a french pub in the riverside area .``.
Attribute values and sentence templates follow the style of the E2E NLG challenge;
every choice is drawn from a ``numpy`` generator, so a seed fixes the data set.

Encoding (``seq`` tokens per sample): ``<bos> MR <sep> sentence <eos> <pad>...``.
Labels are the token ids of the sentence and ``<eos>`` and ``-100`` elsewhere (the MR
is the prompt, padding is ignored). Samples longer than ``seq`` are truncated.

Non-IID split: clients get different mixtures of the venue type (``eattype``): for
each type, its samples are divided among the clients in Dirichlet(``concentration``)
proportions, so client data sizes differ too (FedAvg weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import positive_int, scalar
from ..errors import ValidationError

NAMES = ("the eagle", "alimentum", "aromi", "bibimbap house", "blue spice", "browns cambridge",
         "clowns", "cocum", "cotto", "fitzbillies", "giraffe", "green man", "loch fyne",
         "midsummer house", "strada", "the cricketers", "the golden curry", "the mill",
         "the phoenix", "the plough", "the punter", "the rice boat", "the twenty two",
         "the vaults", "the waterman", "wildwood", "zizzi", "the olive grove")
EAT_TYPES = ("restaurant", "coffee shop", "pub")
FOODS = ("english", "french", "italian", "indian", "chinese", "japanese", "fast food")
PRICES = ("cheap", "moderate", "high", "less than 20 pounds", "20 to 25 pounds",
          "more than 30 pounds")
RATINGS = ("low", "average", "high", "1 out of 5", "3 out of 5", "5 out of 5")
AREAS = ("city centre", "riverside")
NEAR = ("burger king", "cafe rouge", "crowne plaza hotel", "express by holiday inn",
        "rainbow vegetarian cafe", "raja indian cuisine", "the bakers", "the sorrento",
        "yippee noodle bar", "all bar one", "avalon", "cafe sicilia", "clare hall",
        "ranch", "the portland arms")
ATTRS = ("name", "eattype", "food", "pricerange", "customer rating", "area",
         "familyfriendly", "near")

# Sentence pieces: {x} is the attribute value.
_OPENERS = ("{name} is a {eattype}", "{name} is a {food} {eattype}",
            "there is a {eattype} called {name}", "a {food} {eattype} named {name}")
_CLAUSES = {
    "food": ("it serves {food} food", "they offer {food} food", "it has {food} food"),
    "pricerange": ("prices are {pricerange}", "it has a {pricerange} price range",
                   "the price range is {pricerange}"),
    "customer rating": ("it has a {customer rating} customer rating",
                        "customers rate it {customer rating}",
                        "its rating is {customer rating}"),
    "area": ("it is in the {area}", "it is located in the {area} area",
             "you can find it in the {area}"),
    "familyfriendly": ("it is {familyfriendly}", "this place is {familyfriendly}"),
    "near": ("it is near {near}", "it is close to {near}", "you can find it by {near}"),
}
_FAMILY = {"yes": ("family friendly", "kid friendly"), "no": ("not family friendly",
                                                             "not kid friendly")}
_CONNECT = (".", "and", ",")

SPECIALS = ("<pad>", "<bos>", "<sep>", "<eos>", "<unk>")
PAD, BOS, SEP, EOS, UNK = range(5)


def _words(text: str) -> list[str]:
    return text.replace(".", " . ").replace(",", " , ").split()


class WordTokenizer:
    """Word-level tokenizer over a fixed vocabulary built from the generator's word lists.

    Ids 0..4 are ``<pad> <bos> <sep> <eos> <unk>``; the rest are the task's words in
    sorted order, so the vocabulary is the same on every machine.
    """

    def __init__(self) -> None:
        words: set[str] = {"=", "|", ".", ",", "yes", "no"}
        for group in (NAMES, EAT_TYPES, FOODS, PRICES, RATINGS, AREAS, NEAR, ATTRS):
            for item in group:
                words.update(_words(item))
        for item in _OPENERS + sum(_CLAUSES.values(), ()) + _CONNECT + sum(_FAMILY.values(), ()):
            for w in _words(item):
                if not w.startswith("{"):
                    words.add(w)
        # Placeholder fragments such as "{customer" and "rating}" are not words.
        words = {w for w in words if "{" not in w and "}" not in w}
        self.itos: list[str] = list(SPECIALS) + sorted(words)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        """Number of token ids."""
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (unknown words map to ``<unk>``)."""
        return [self.stoi.get(w, UNK) for w in _words(text)]

    def decode(self, ids: list[int]) -> str:
        """Words of ``ids`` joined by spaces (padding dropped)."""
        return " ".join(self.itos[i] for i in ids if i != PAD)


def _fill(template: str, mr: dict[str, str]) -> str:
    out = template
    for key, val in mr.items():
        out = out.replace("{" + key + "}", val)
    return out


def generate_samples(n: int, seed: int, attrs: tuple[str, ...] | None = None
                     ) -> list[tuple[str, str, int]]:
    """``n`` samples ``(mr_text, sentence, eattype_index)`` drawn with ``seed``.

    Each optional attribute (food, price, rating, area, family, near) is kept with
    probability 0.6; ``attrs`` instead keeps exactly those optional attributes in every
    sample (a data set of one *kind*, e.g. ``("food",)``)."""
    n = positive_int("n", n)
    if attrs is not None:
        bad = [a for a in attrs if a not in ATTRS[2:]]
        if bad:
            raise ValidationError("attrs", f"optional attributes from {ATTRS[2:]}", bad)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError("seed", "an integer >= 0", seed)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        et = int(rng.integers(len(EAT_TYPES)))
        mr = {"name": NAMES[rng.integers(len(NAMES))], "eattype": EAT_TYPES[et]}
        optional = {
            "food": FOODS[rng.integers(len(FOODS))],
            "pricerange": PRICES[rng.integers(len(PRICES))],
            "customer rating": RATINGS[rng.integers(len(RATINGS))],
            "area": AREAS[rng.integers(len(AREAS))],
            "familyfriendly": ("yes", "no")[rng.integers(2)],
            "near": NEAR[rng.integers(len(NEAR))],
        }
        keep = rng.random(len(optional)) < 0.6
        if attrs is not None:
            keep = np.array([key in attrs for key in optional])
        for (key, val), k in zip(optional.items(), keep, strict=True):
            if k:
                mr[key] = val
        mr_text = " | ".join(f"{k} = {mr[k]}" for k in ATTRS if k in mr)
        fill = dict(mr)
        if "familyfriendly" in mr:
            choices = _FAMILY[mr["familyfriendly"]]
            fill["familyfriendly"] = choices[rng.integers(len(choices))]
        openers = [o for o in _OPENERS if "{food}" not in o or "food" in mr]
        opener = openers[rng.integers(len(openers))]
        parts = [_fill(opener, fill)]
        rest = [k for k in _CLAUSES if k in mr and not (k == "food" and "{food}" in opener)]
        for k in rng.permutation(rest):
            tmpl = _CLAUSES[str(k)]
            parts.append(_CONNECT[rng.integers(len(_CONNECT))])
            parts.append(_fill(tmpl[rng.integers(len(tmpl))], fill))
        out.append((mr_text, " ".join(parts) + " .", et))
    return out


@dataclass(frozen=True)
class TaskData:
    """Encoded samples: ``input_ids``, ``labels`` (``(n, seq)`` int64 arrays), ``group``."""

    input_ids: np.ndarray
    labels: np.ndarray
    group: np.ndarray

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def subset(self, idx: np.ndarray) -> TaskData:
        """The samples at ``idx``."""
        return TaskData(self.input_ids[idx], self.labels[idx], self.group[idx])


def encode_samples(samples: list[tuple[str, str, int]], seq: int,
                   tokenizer: WordTokenizer | None = None) -> TaskData:
    """Encode samples into fixed-length id/label arrays of ``seq`` tokens."""
    seq = positive_int("seq", seq)
    if seq < 4:
        raise ValidationError("seq", "at least 4 tokens", seq)
    tok = tokenizer or WordTokenizer()
    ids = np.full((len(samples), seq), PAD, dtype=np.int64)
    labels = np.full((len(samples), seq), -100, dtype=np.int64)
    for i, (mr, text, _) in enumerate(samples):
        prompt = [BOS] + tok.encode(mr) + [SEP]
        target = tok.encode(text) + [EOS]
        row = (prompt + target)[:seq]
        ids[i, :len(row)] = row
        lab = ([-100] * len(prompt) + target)[:seq]
        labels[i, :len(lab)] = lab
    group = np.array([s[2] for s in samples], dtype=np.int64)
    return TaskData(ids, labels, group)


def make_task(n_train: int, n_val: int, seq: int, seed: int = 0) -> tuple[TaskData, TaskData]:
    """Training and validation sets (independent draws from seeds derived from ``seed``)."""
    train = encode_samples(generate_samples(n_train, 2 * seed), seq)
    val = encode_samples(generate_samples(n_val, 2 * seed + 1), seq)
    return train, val


def non_iid_split(data: TaskData, clients: int, seed: int = 0,
                  concentration: float = 0.5) -> list[TaskData]:
    """Split ``data`` among ``clients`` by venue type with Dirichlet proportions.

    Every client gets at least one sample (a client left empty takes one from the
    largest). Smaller ``concentration`` (> 0) means more skew.
    """
    k = positive_int("clients", clients)
    conc = scalar("concentration", concentration, positive=True)
    if len(data) < k:
        raise ValidationError("clients", f"at most the number of samples ({len(data)})", k)
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(k)]
    for g in np.unique(data.group):
        idx = rng.permutation(np.flatnonzero(data.group == g))
        prop = rng.dirichlet(np.full(k, conc))
        cuts = (np.cumsum(prop)[:-1] * len(idx)).astype(int)
        for c, chunk in enumerate(np.split(idx, cuts)):
            parts[c].extend(chunk.tolist())
    for c in range(k):
        if not parts[c]:
            donor = max(range(k), key=lambda j: len(parts[j]))
            parts[c].append(parts[donor].pop())
    return [data.subset(np.array(sorted(p), dtype=np.int64)) for p in parts]


def make_pretrain_corpus(n: int, seq: int, seed: int) -> TaskData:
    """Unpaired pre-training text: ``n`` MRs and ``n`` sentences as separate lines.

    Each line is ``<bos> text <eos>`` with labels on every token, so a model trained on
    it learns both "languages" but not the MR -> sentence mapping that the fine-tuning
    task asks for. Drawn with seeds disjoint from :func:`make_task`'s (``10**6 + seed``).
    """
    seq = positive_int("seq", seq)
    tok = WordTokenizer()
    samples = generate_samples(n, 10**6 + seed)
    lines = [m for m, _, _ in samples] + [t for _, t, _ in samples]
    ids = np.full((len(lines), seq), PAD, dtype=np.int64)
    labels = np.full((len(lines), seq), -100, dtype=np.int64)
    for i, text in enumerate(lines):
        row = ([BOS] + tok.encode(text) + [EOS])[:seq]
        ids[i, :len(row)] = row
        labels[i, :len(row)] = row
    return TaskData(ids, labels, np.zeros(len(lines), dtype=np.int64))
