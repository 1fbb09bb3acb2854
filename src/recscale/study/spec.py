"""Study specs: a TOML file → a validated, frozen :class:`StudySpec` → a list of trials.

A spec names a dataset (a shards directory, or an inline synthetic world that is generated on first
use), a base model, the paper's four scaling schemes, the data checkpoints and the seeds::

    name = "tiny"
    seeds = [0]

    [data.synthetic]                 # or: [data] path = "data/criteo"
    rows = 50_000
    eval_rows = 10_000
    seed = 0
    max_cardinality = 20_000         # any synthetic-world field may be overridden

    [train]                          # any TrainConfig field except device
    batch_size = 256
    checkpoints = { start = 1024, stop = 49152, per_doubling = 1 }

    [model]                          # the base model
    embedding_dim = 16
    embedding_rows = 10_000
    bottom_mlp = [64]
    top_mlp = [64]

    [schemes]                        # each a list of values; the base model stands in every scheme
    mlp_width = [32, 128]            # every hidden layer of the bottom MLP
    overarch_width = [32, 128]       # every hidden layer of the top MLP
    embedding_dim = [8, 32]
    embedding_rows = [1_000, 100_000]

Several architectures in one study (default ``["dlrm"]``; same data, same order, same eval rows)::

    architectures = ["dlrm", "dcnv2", "wukong"]

    [model.dcnv2]                    # each architecture's own base fields (its config's defaults)
    cross_layers = 3
    cross_rank = 32                  # or "full"

    [model.wukong]
    layers = 3
    fmb_embeddings = 8               # n_F
    lcb_embeddings = 8               # n_L

    [schemes.dcnv2]                  # schemes of one architecture; [schemes] scales every one
    cross_rank = [8, 64]

    [schemes.wukong]
    embeddings = [4, 16]             # n_F = n_L together
    fmb_mlp_width = [32, 256]        # every hidden layer of the FMB's MLP (also: layers, fm_rank)

    [train.dcnv2]                    # one architecture's learning rates and optimisers
    lr_dense = 0.001

A user's own architecture (a plugin, :mod:`recscale.model.plugin`) is named by import path, by a
file beside the spec, or by an entry point an installed package registers in
``recscale.architectures``; its keyword arguments are its base and any of them can be a scheme::

    architectures = ["dlrm", "mypkg.towers:GatedCross"]   # or "towers.py:GatedCross", "gated_cross"

    [model.GatedCross]               # its constructor's keywords (recscale's tables: [model])
    hidden = 64

    [schemes.GatedCross]             # its own schemes; of [schemes], embedding_dim and embedding_rows
    hidden = [16, 256]               # scale it too (mlp_width and overarch_width are the built-ins')

TOML is parsed here once; everything downstream takes typed objects. Every problem is collected
and reported together, each with its key path, the value and what is allowed. A relative
``data.path`` is resolved against the folder of the spec file (as a relative path inside any file
is), so a study runs the same from any working directory. A packaged example (run by name,
``recscale study run criteo``, or through the repository's ``examples/`` links) is not a folder of
the user's, and its ``data.path`` is resolved against the working directory.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from recscale import examples
from recscale.data.synthetic import WorldConfig
from recscale.errors import SpecError
from recscale.model.config import ARCHITECTURES, INTERACTIONS, DCNConfig, DLRMConfig, PluginConfig, WukongConfig, frozen_value
from recscale.train.config import DENSE_OPTIMIZERS, MLP_BIAS_INITS, SPARSE_OPTIMIZERS, STREAMS, TrainConfig

SCHEMES = ("mlp_width", "overarch_width", "embedding_dim", "embedding_rows")  # shared: scale every architecture
ARCH_SCHEMES = {  # each architecture's own schemes, in [schemes.<architecture>]
    "dlrm": (),
    "dcnv2": ("cross_layers", "cross_rank"),
    "wukong": ("layers", "embeddings", "fm_rank", "fmb_mlp_width"),
}
_SHARED_MODEL_FIELDS = ("embedding_dim", "embedding_rows", "bottom_mlp", "top_mlp")  # [model]: every architecture's
_LAYER_COUNTS = ("cross_layers", "layers")  # 0 is a real size (the top MLP reads the input embeddings)
_RUNTIME_TRAIN_FIELDS = ("device", "eval_batch_size", "precision", "compile")  # how it runs (CLI options): not in the spec
# What [train.<architecture>] may change: how one architecture optimises, never what data it sees or when it is evaluated.
ARCH_TRAIN_FIELDS = ("lr_embedding", "lr_dense", "dense_optimizer", "sparse_optimizer", "warmup_samples")
PLUGIN_SHARED_SCHEMES = ("embedding_dim", "embedding_rows")  # of [schemes], the ones that scale a plugin (recscale's tables)


@dataclass(frozen=True)
class SyntheticData:
    """An inline synthetic world: generated once and cached beside the ledger."""

    rows: int
    eval_rows: int
    seed: int = 0
    world: WorldConfig = field(default_factory=WorldConfig)

    def key(self) -> str:
        """Short content hash naming the cached dataset."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class DataSpec:
    """Exactly one of ``path`` (an existing shards dataset) or ``synthetic``."""

    path: str | None = None
    synthetic: SyntheticData | None = None


@dataclass(frozen=True)
class CheckpointSpec:
    """Log-spaced evaluation points: start · 2^(k / per_doubling) up to stop, on batch boundaries."""

    start: int
    stop: int
    per_doubling: int = 2

    def samples(self, batch_size: int) -> list[int]:
        """The checkpoints, rounded to multiples of ``batch_size`` (so prefix evaluation is exact)."""
        n = math.floor(math.log2(self.stop / self.start) * self.per_doubling + 1e-9)
        raw = [self.start * 2 ** (k / self.per_doubling) for k in range(n + 1)] + [self.stop]
        last = self.stop // batch_size * batch_size
        return sorted({min(max(batch_size, round(x / batch_size) * batch_size), last) for x in raw})


def _config_default(config_class: type, name: str) -> Any:
    """The default of ``config_class``'s field ``name``: the config class is its only home."""
    return next(f.default for f in fields(config_class) if f.name == name)


@dataclass(frozen=True)
class ModelSpec:
    """The dataset-independent part of a DLRM config (the base model, or one trial's model).

    Its fields are :class:`DLRMConfig`'s minus what the dataset decides (``n_dense``,
    ``cardinalities``, ``base_ctr``), with DLRMConfig's defaults; :meth:`dlrm` adds the dataset's
    part back. Another architecture slots in as a spec class of the same shape over its own config
    (``config_class`` and the fields its schemes scale).
    """

    config_class: ClassVar[type] = DLRMConfig
    architecture: ClassVar[str] = "dlrm"

    embedding_dim: int = _config_default(DLRMConfig, "embedding_dim")
    embedding_rows: int | None = _config_default(DLRMConfig, "embedding_rows")
    bottom_mlp: tuple[int, ...] = _config_default(DLRMConfig, "bottom_mlp")
    top_mlp: tuple[int, ...] = _config_default(DLRMConfig, "top_mlp")
    interaction: str = _config_default(DLRMConfig, "interaction")

    def scaled(self, scheme: str, value: int) -> "ModelSpec":
        """This model with one scheme's dimension set to ``value``."""
        if scheme == "mlp_width":
            return replace(self, bottom_mlp=(value,) * max(1, len(self.bottom_mlp)))
        if scheme == "overarch_width":
            return replace(self, top_mlp=(value,) * max(1, len(self.top_mlp)))
        if scheme in ("embedding_dim", "embedding_rows"):
            return replace(self, **{scheme: value})
        raise ValueError(f"unknown scheme {scheme!r}")

    def label(self) -> str:
        return f"{_shared_label(self)}-{self.interaction}"

    def config(self, n_dense: int, cardinalities: list[int] | tuple[int, ...]):
        """The full config of this model on a dataset with ``n_dense`` dense and these sparse features."""
        return self.config_class(n_dense=n_dense, cardinalities=tuple(cardinalities), **asdict(self))

    dlrm = config  # the name from before other architectures


def _shared_label(m) -> str:
    rows = "all" if m.embedding_rows is None else str(m.embedding_rows)
    return (
        f"D{m.embedding_dim}-R{rows}-B{'x'.join(map(str, m.bottom_mlp)) or '0'}"
        f"-T{'x'.join(map(str, m.top_mlp)) or '0'}"
    )


@dataclass(frozen=True)
class DCNSpec:
    """The dataset-independent part of a :class:`DCNConfig`, with its defaults (see :class:`ModelSpec`)."""

    config_class: ClassVar[type] = DCNConfig
    architecture: ClassVar[str] = "dcnv2"

    embedding_dim: int = _config_default(DCNConfig, "embedding_dim")
    embedding_rows: int | None = _config_default(DCNConfig, "embedding_rows")
    bottom_mlp: tuple[int, ...] = _config_default(DCNConfig, "bottom_mlp")
    top_mlp: tuple[int, ...] = _config_default(DCNConfig, "top_mlp")
    cross_layers: int = _config_default(DCNConfig, "cross_layers")
    cross_rank: int | None = _config_default(DCNConfig, "cross_rank")  # None: full rank

    def scaled(self, scheme: str, value: int) -> "DCNSpec":
        if scheme in ("cross_layers", "cross_rank"):
            return replace(self, **{scheme: value})
        return ModelSpec.scaled(self, scheme, value)

    def label(self) -> str:
        rank = "full" if self.cross_rank is None else str(self.cross_rank)
        return f"dcnv2-{_shared_label(self)}-X{self.cross_layers}r{rank}"

    config = ModelSpec.config


@dataclass(frozen=True)
class WukongSpec:
    """The dataset-independent part of a :class:`WukongConfig`, with its defaults (see :class:`ModelSpec`).

    The ``embeddings`` scheme sets n_F = n_L (``fmb_embeddings`` and ``lcb_embeddings``) together,
    as the Wukong paper scales them; ``fmb_mlp_width`` sets every hidden layer of the FMB's MLP.
    """

    config_class: ClassVar[type] = WukongConfig
    architecture: ClassVar[str] = "wukong"

    embedding_dim: int = _config_default(WukongConfig, "embedding_dim")
    embedding_rows: int | None = _config_default(WukongConfig, "embedding_rows")
    bottom_mlp: tuple[int, ...] = _config_default(WukongConfig, "bottom_mlp")
    top_mlp: tuple[int, ...] = _config_default(WukongConfig, "top_mlp")
    dense_embeddings: int = _config_default(WukongConfig, "dense_embeddings")
    layers: int = _config_default(WukongConfig, "layers")
    fmb_embeddings: int = _config_default(WukongConfig, "fmb_embeddings")
    lcb_embeddings: int = _config_default(WukongConfig, "lcb_embeddings")
    fm_rank: int = _config_default(WukongConfig, "fm_rank")
    fmb_mlp: tuple[int, ...] = _config_default(WukongConfig, "fmb_mlp")

    def scaled(self, scheme: str, value: int) -> "WukongSpec":
        if scheme in ("layers", "fm_rank"):
            return replace(self, **{scheme: value})
        if scheme == "embeddings":
            return replace(self, fmb_embeddings=value, lcb_embeddings=value)
        if scheme == "fmb_mlp_width":
            return replace(self, fmb_mlp=(value,) * max(1, len(self.fmb_mlp)))
        return ModelSpec.scaled(self, scheme, value)

    def label(self) -> str:
        n = str(self.fmb_embeddings) if self.fmb_embeddings == self.lcb_embeddings else f"{self.fmb_embeddings}x{self.lcb_embeddings}"
        mlp = "x".join(map(str, self.fmb_mlp)) or "0"
        return f"wukong-{_shared_label(self)}-L{self.layers}n{n}k{self.fm_rank}m{mlp}e{self.dense_embeddings}"

    config = ModelSpec.config


MODEL_SPECS: dict[str, type] = {"dlrm": ModelSpec, "dcnv2": DCNSpec, "wukong": WukongSpec}  # keys: ARCHITECTURES


@dataclass(frozen=True)
class PluginSpec:
    """The dataset-independent part of a :class:`PluginConfig`: a user architecture and its keywords.

    ``embedding_dim`` and ``embedding_rows`` size recscale's tables ([model], and the shared schemes
    of the same names); every other knob is one of ``kwargs`` ([model.<name>], [schemes.<name>]).
    ``search_path`` (the spec's folder) says where to import from, not what is trained, so it is
    not part of the spec's hash.
    """

    architecture: str
    target: str
    embedding_dim: int = _config_default(PluginConfig, "embedding_dim")
    embedding_rows: int | None = _config_default(PluginConfig, "embedding_rows")
    kwargs: tuple[tuple[str, Any], ...] = ()
    search_path: str | None = field(default=None, compare=False)

    def scaled(self, scheme: str, value: int) -> "PluginSpec":
        if scheme in PLUGIN_SHARED_SCHEMES:
            return replace(self, **{scheme: value})
        return replace(self, kwargs=tuple(sorted({**dict(self.kwargs), scheme: value}.items())))

    def label(self) -> str:
        rows = "all" if self.embedding_rows is None else str(self.embedding_rows)
        own = "".join(f"-{k}{_value_label(v)}" for k, v in self.kwargs)
        raw = f"{self.architecture}-D{self.embedding_dim}-R{rows}{own}"
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in raw)
        # Trial ids name snapshot files: keep them to safe characters, and unique when that changed them.
        return safe if safe == raw else f"{safe}-{hashlib.sha256(raw.encode()).hexdigest()[:6]}"

    def config(self, n_dense: int, cardinalities: list[int] | tuple[int, ...]) -> PluginConfig:
        return PluginConfig(self.architecture, self.target, n_dense, tuple(cardinalities), self.embedding_dim,
                            self.embedding_rows, self.kwargs, self.search_path)  # fmt: skip


def _value_label(v: Any) -> str:
    return "x".join(map(_value_label, v)) if isinstance(v, tuple) else str(v)


@dataclass(frozen=True)
class Trial:
    """One model trained with one seed; it may stand in several schemes (the base model does)."""

    trial_id: str
    model: ModelSpec | DCNSpec | WukongSpec | PluginSpec
    seed: int
    memberships: tuple[tuple[str, int], ...]

    @property
    def architecture(self) -> str:
        return self.model.architecture


@dataclass(frozen=True)
class StudySpec:
    """A validated study. Build with :func:`load_spec` or :func:`parse_spec`."""

    name: str
    seeds: tuple[int, ...]
    data: DataSpec
    train: TrainConfig
    checkpoints: CheckpointSpec
    model: ModelSpec
    schemes: dict[str, tuple[int, ...]]
    source: str | None = None
    architectures: tuple[str, ...] = ("dlrm",)
    arch_models: dict[str, Any] = field(default_factory=dict)  # architecture → its base model (not DLRM's)
    arch_schemes: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)  # [schemes.<arch>]
    arch_train: dict[str, TrainConfig] = field(default_factory=dict)  # [train.<arch>]: [train] with its overrides
    goal: str | None = None  # [goal] target: what a goal-driven run is for (recscale.laws.design.parse_goal)
    budget: str | None = None  # [goal] budget: what it may spend (recscale.laws.design.parse_budget)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        for k in ("goal", "budget"):  # what a study is for changes no trial's numbers, nor the spec's hash
            d.pop(k)
        for k in _RUNTIME_TRAIN_FIELDS:
            d["train"].pop(k)
            for t in d["arch_train"].values():
                t.pop(k)
        for m in d["arch_models"].values():
            m.pop("search_path", None)  # where a plugin is imported from is not what it trains
        if not self.arch_train:  # specs without [train.<arch>] keep the dict (and hash) they always had
            d.pop("arch_train")
        if self.architectures == ("dlrm",):  # a DLRM-only spec keeps the dict (and hash) it always had
            for k in ("architectures", "arch_models", "arch_schemes"):
                d.pop(k)
        return d

    def train_for(self, architecture: str) -> TrainConfig:
        """The training settings of ``architecture``: [train] with its [train.<architecture>] overrides."""
        return self.arch_train.get(architecture, self.train)

    def plugins(self) -> list[str]:
        """The architectures that are user plugins, in spec order."""
        return [a for a in self.architectures if a not in ARCHITECTURES]

    def base_model(self, architecture: str):
        """The base model of ``architecture``: [model] plus its own [model.<architecture>] fields."""
        return self.model if architecture == "dlrm" else self.arch_models[architecture]

    def hash(self) -> str:
        """Identity of everything that changes the numbers (not where it runs or how fast)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def numbers_hash(self, architecture: str) -> str:
        """Identity of what changes the numbers of ``architecture``'s trials (see :func:`numbers_identity`).

        It names the folder of their kept states and running snapshots: unlike :meth:`hash`, adding a
        seed, a size, a scheme, another architecture or a later stop leaves it unchanged.
        """
        return arch_numbers_hash(self.to_dict(), architecture)

    def checkpoint_samples(self) -> list[int]:
        return self.checkpoints.samples(self.train.batch_size)

    def trials(self) -> list[Trial]:
        """Expand architectures × schemes × values × seeds into trials; identical models are trained once.

        Each architecture's schemes are the shared ones followed by its own (a plugin takes only the
        shared ones that size recscale's tables, PLUGIN_SHARED_SCHEMES).
        """
        out = []
        for arch in self.architectures:
            base = self.base_model(arch)
            members: dict[Any, list[tuple[str, int]]] = {}
            shared = self.schemes if arch in ARCHITECTURES else {k: v for k, v in self.schemes.items() if k in PLUGIN_SHARED_SCHEMES}
            for scheme, values in {**shared, **self.arch_schemes.get(arch, {})}.items():
                for v in values:
                    members.setdefault(base.scaled(scheme, v), []).append((scheme, v))
            out += [Trial(f"{m.label()}-s{seed}", m, seed, tuple(ms)) for m, ms in members.items() for seed in self.seeds]
        return out


# ---- growth: what a ledger may gain, and what it must keep ---------------------------------------
# A ledger grows with its spec: seeds, scheme values, schemes, architectures, checkpoints.stop and the
# name may change, since each only adds trials or data points. What would change a finished trial's
# numbers may not: its data, its training recipe, its architecture's base model, and the checkpoint
# grid's start and spacing (precision is checked apart: it is a run option). These functions read the
# spec's ``to_dict()`` form, so a ledger's stored spec (older recscale included) is compared the same way.


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = value


# [train] fields added after ledgers were written, with the value every trial had before the field existed
# (a ledger stored without the field is read as having it, so its numbers identity is unchanged).
_BEFORE_THEY_EXISTED = {"mlp_bias_init": "reference", "batch_ramp": 1, "batch_ramp_steps": 128, "stream": "shared"}


def numbers_identity(d: dict[str, Any]) -> list[tuple[str, Any, str | None]]:
    """(field path, value, architecture or None) of everything in a spec dict that changes a finished
    trial's numbers, in the order a refusal names them: [data], [train], the grid, [model], then each
    architecture's [train.<arch>] (its effective rates and optimisers) and [model.<arch>].

    Args:
        d: A :meth:`StudySpec.to_dict` (or a ledger's stored ``spec``).
    """
    d = json.loads(json.dumps(d))  # tuples become lists, as in a stored spec
    flat: dict[str, Any] = {}
    _flatten("data", d["data"], flat)
    out = [(k, v, None) for k, v in flat.items()]
    out += [(f"train.{k}", v, None) for k, v in {**_BEFORE_THEY_EXISTED, **d["train"]}.items()]
    out += [(f"train.checkpoints.{k}", d["checkpoints"][k], None) for k in ("start", "per_doubling")]
    flat = {}
    _flatten("model", d["model"], flat)
    out += [(k, v, None) for k, v in flat.items()]
    for arch in d.get("architectures", ["dlrm"]):
        t = d.get("arch_train", {}).get(arch, d["train"])
        out += [(f"train.{arch}.{k}", t.get(k), arch) for k in ARCH_TRAIN_FIELDS]
        if arch != "dlrm":
            flat = {}
            _flatten(f"model.{arch}", d["arch_models"][arch], flat)
            out += [(k, v, arch) for k, v in flat.items()]
    return out


def arch_numbers_hash(d: dict[str, Any], architecture: str) -> str:
    """SHA-256 of the numbers identity of one architecture's trials in spec dict ``d``: the shared
    fields and that architecture's own, so another architecture joining the study leaves it as it was."""
    # [model] is the DLRM's base; another architecture's base ([model.<arch>]) holds the shared fields it uses.
    ident = [(k, v) for k, v, a in numbers_identity(d)
             if a == architecture or (a is None and (architecture == "dlrm" or not k.startswith("model.")))]
    return hashlib.sha256(json.dumps(sorted(dict(ident).items()), sort_keys=True).encode()).hexdigest()


def first_numbers_change(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """The first field (path, old value, new value) whose change would alter a trial that ``old``
    trained and ``new`` keeps; None when ``new`` only grows ``old``.

    An architecture's own fields count only when both specs have it (one added is new trials; one
    dropped keeps its trials as they are). A field absent on one side reads as None.
    """
    archs = set(old.get("architectures", ["dlrm"])) & set(new.get("architectures", ["dlrm"]))
    a = {k: v for k, v, arch in numbers_identity(old) if arch is None or arch in archs}
    b = {k: v for k, v, arch in numbers_identity(new) if arch is None or arch in archs}
    for k in [*b, *(k for k in a if k not in b)]:
        if a.get(k) != b.get(k):
            return k, a.get(k), b.get(k)
    return None


# ---- parsing ------------------------------------------------------------------------------------


def resolve_spec(path: str | Path) -> Path:
    """The spec file ``path``, or else the packaged example of that name (``tiny``, ``quick.toml``).

    A file that exists always wins, so an edited copy in the working directory is never shadowed.

    Raises:
        SpecError: If there is neither such a file nor such an example (the message lists the examples).
    """
    p = Path(path)
    if p.is_file():
        return p
    packaged = examples.path(str(path)) if p.name == str(path) else None  # a bare name, not a path
    if packaged is not None:
        return packaged
    raise SpecError([f"spec file {p} does not exist; or name a packaged example: {', '.join(examples.names())} "
                     "(`recscale example NAME > NAME.toml` copies one to edit)"])


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a TOML spec file or packaged example; raises SpecError listing every problem."""
    p = resolve_spec(path)
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError([f"invalid TOML: {e}"], source=str(p)) from None
    spec = parse_spec(raw, source=str(p))
    data_path = spec.data.path
    packaged = examples.path(p.name)
    if data_path is not None and not Path(data_path).is_absolute() and not (packaged and packaged.resolve() == p.resolve()):
        spec = replace(spec, data=replace(spec.data, path=str(p.parent / data_path)))  # relative to the spec file
    return spec


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pos_int(v: Any, key: str, problems: list[str]) -> int | None:
    if not _is_int(v) or v < 1:
        problems.append(f"{key}: must be a positive integer, got {v!r}")
        return None
    return v


def _unknown(d: dict, allowed: tuple[str, ...] | list[str], where: str, problems: list[str]) -> None:
    for k in d:
        if k not in allowed:
            problems.append(f"{where}{k}: unknown field; allowed: {', '.join(allowed)}")


def _table(raw: dict, key: str, problems: list[str]) -> dict:
    v = raw.get(key, {})
    if not isinstance(v, dict):
        problems.append(f"{key}: must be a table, got {v!r}")
        return {}
    return v


def _parse_data(raw: dict, problems: list[str]) -> DataSpec:
    if "data" not in raw:
        problems.append("data: missing; give data.path (a shards dataset) or a [data.synthetic] table")
        return DataSpec()
    d = _table(raw, "data", problems)
    _unknown(d, ("path", "synthetic"), "data.", problems)
    has_path, has_synth = "path" in d, "synthetic" in d
    if has_path == has_synth:
        problems.append("data: give exactly one of data.path or data.synthetic")
        return DataSpec()
    if has_path:
        if not isinstance(d["path"], str) or not d["path"]:
            problems.append(f"data.path: must be a directory path, got {d['path']!r}")
            return DataSpec()
        return DataSpec(path=d["path"])
    s = d["synthetic"]
    if not isinstance(s, dict):
        problems.append(f"data.synthetic: must be a table, got {s!r}")
        return DataSpec()
    rows = _pos_int(s.get("rows"), "data.synthetic.rows", problems)
    eval_rows = _pos_int(s.get("eval_rows"), "data.synthetic.eval_rows", problems)
    seed = s.get("seed", 0)
    if not _is_int(seed):
        problems.append(f"data.synthetic.seed: must be an integer, got {seed!r}")
    world_d = {k: v for k, v in s.items() if k not in ("rows", "eval_rows", "seed")}
    try:
        world = WorldConfig.from_dict(world_d, where="data.synthetic")
    except SpecError as e:
        problems.extend(e.problems)
        world = WorldConfig()
    if rows is None or eval_rows is None or not _is_int(seed):
        return DataSpec()
    return DataSpec(synthetic=SyntheticData(rows, eval_rows, seed, world))


def _train_kwargs(t: dict, allowed: list[str] | tuple[str, ...], where: str, problems: list[str]) -> dict[str, Any]:
    """The valid TrainConfig fields of table ``t`` (key path prefix ``where``); problems for the rest."""
    kw: dict[str, Any] = {}
    for k in allowed:
        if k not in t:
            continue
        v = t[k]
        if k in ("lr_embedding", "lr_dense"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                problems.append(f"{where}{k}: must be a positive number, got {v!r}")
                continue
            kw[k] = float(v)
        elif k in ("dense_optimizer", "sparse_optimizer"):
            names = DENSE_OPTIMIZERS if k == "dense_optimizer" else SPARSE_OPTIMIZERS
            if v not in names:
                problems.append(f"{where}{k}: must be one of {', '.join(names)}; got {v!r}")
                continue
            kw[k] = v
        elif k == "embedding_init":
            if v == "reference":  # the DLRM reference's U(±1/sqrt(rows)) (TOML has no null)
                kw[k] = None
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                problems.append(f"train.{k}: must be a positive number (the rows' U(±x) initialisation) or "
                                f"\"reference\" (U(±1/sqrt(rows))); got {v!r}")
                continue
            else:
                kw[k] = float(v)
        elif k in ("mlp_bias_init", "stream"):
            names = MLP_BIAS_INITS if k == "mlp_bias_init" else STREAMS
            if v not in names:
                problems.append(f"{where}{k}: must be one of {', '.join(repr(x) for x in names)}; got {v!r}")
                continue
            kw[k] = v
        elif k == "batch_ramp":
            if not _is_int(v) or v < 1 or v & (v - 1):
                problems.append(f"{where}{k}: must be a power of two (1: no ramp; the first batches hold batch_size / "
                                f"batch_ramp samples), got {v!r}")
                continue
            kw[k] = v
        elif k in ("warmup_samples",):
            if not _is_int(v) or v < 0:
                problems.append(f"{where}{k}: must be a non-negative integer, got {v!r}")
                continue
            kw[k] = v
        else:
            got = _pos_int(v, f"{where}{k}", problems)
            if got is not None:
                kw[k] = got
    return kw


def _parse_train(raw: dict, architectures: tuple[str, ...], problems: list[str]) -> tuple[TrainConfig, CheckpointSpec | None, dict]:
    """[train], its checkpoints, and each architecture's [train.<architecture>] (its overrides applied)."""
    t = dict(_table(raw, "train", problems))
    cp_raw = t.pop("checkpoints", None)
    subs = {k: t.pop(k) for k in list(t) if isinstance(t[k], dict) or k in architectures or k in ARCHITECTURES}
    allowed = [f.name for f in fields(TrainConfig) if f.name not in _RUNTIME_TRAIN_FIELDS]
    _unknown(t, [*allowed, "checkpoints"], "train.", problems)
    kw = _train_kwargs(t, allowed, "train.", problems)
    cfg = TrainConfig(**kw)
    arch_train = {}
    for arch, sub in subs.items():
        key = f"train.{arch}"
        if arch not in architectures:
            problems.append(_not_listed(key, arch, architectures) if arch in ARCHITECTURES or isinstance(sub, dict)
                            else f"{key}: unknown field; allowed: {', '.join(allowed)}, checkpoints")  # fmt: skip
        elif not isinstance(sub, dict):
            problems.append(f"{key}: must be a table of {arch}'s overrides ({', '.join(ARCH_TRAIN_FIELDS)}), got {sub!r}")
        else:
            _unknown(sub, ARCH_TRAIN_FIELDS, f"{key}.", problems)
            if own := _train_kwargs(sub, ARCH_TRAIN_FIELDS, f"{key}.", problems):
                arch_train[arch] = TrainConfig(**{**kw, **own})
    if cp_raw is None:
        problems.append("train.checkpoints: missing; e.g. checkpoints = { start = 1024, stop = 100000, per_doubling = 2 }")
        return cfg, None, arch_train
    if not isinstance(cp_raw, dict):
        problems.append(f"train.checkpoints: must be a table {{start, stop, per_doubling}}, got {cp_raw!r}")
        return cfg, None, arch_train
    _unknown(cp_raw, ("start", "stop", "per_doubling"), "train.checkpoints.", problems)
    start = _pos_int(cp_raw.get("start"), "train.checkpoints.start", problems)
    stop = _pos_int(cp_raw.get("stop"), "train.checkpoints.stop", problems)
    per = _pos_int(cp_raw.get("per_doubling", 2), "train.checkpoints.per_doubling", problems)
    if None in (start, stop, per):
        return cfg, None, arch_train
    if stop < start:
        problems.append(f"train.checkpoints.stop: must be >= start ({start}), got {stop}")
        return cfg, None, arch_train
    if stop < cfg.batch_size:
        problems.append(f"train.checkpoints.stop: must be >= train.batch_size ({cfg.batch_size}), got {stop}")
        return cfg, None, arch_train
    return cfg, CheckpointSpec(start, stop, per), arch_train


def _width_list(v: Any, key: str, problems: list[str], allow_empty: bool) -> tuple[int, ...] | None:
    if not isinstance(v, list) or (not v and not allow_empty):
        problems.append(f"{key}: must be a list of positive integers, got {v!r}")
        return None
    ok = True
    for i, w in enumerate(v):
        if not _is_int(w) or w < 1:
            problems.append(f"{key}[{i}]: must be a positive integer, got {w!r}")
            ok = False
    return tuple(v) if ok else None


def _parse_architectures(raw: dict, search_path: str | None, problems: list[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    """The architectures' names, and each plugin's target (import path, file or entry point) by name.

    A plugin's name is its class name (``pkg.mod:Class``, ``file.py:Class``) or its entry point's;
    its class is loaded here (this imports the plugin, and torch), so a bad name fails at load.
    """
    v = raw.get("architectures", ["dlrm"])
    allowed = ", ".join(ARCHITECTURES)
    if not isinstance(v, list) or not v:
        problems.append(f"architectures: must be a non-empty list of architecture names ({allowed}), got {v!r}")
        return (), {}
    out: list[str] = []
    targets: dict[str, str] = {}
    for i, a in enumerate(v):
        key = f"architectures[{i}]"
        if not isinstance(a, str) or not a:
            problems.append(f"{key}: must be an architecture name ({allowed}) or an import path pkg.module:Class, got {a!r}")
            continue
        if a in ARCHITECTURES:
            name = a
        else:
            from recscale.model import plugin  # the one place a spec imports torch: it names a plugin

            if ":" not in a and a not in plugin.entry_point_names():
                installed = ", ".join(plugin.entry_point_names()) or "none installed"
                problems.append(f"{key}: unknown architecture {a!r}; allowed: {allowed}, an import path pkg.module:Class, "
                                f"a file path/file.py:Class beside the spec, or an entry point in {plugin.ENTRY_POINT_GROUP} ({installed})")  # fmt: skip
                continue
            name = plugin.short_name(a)
            if name in ARCHITECTURES:
                problems.append(f"{key}: {a!r} has the name {name!r} of a built-in architecture; rename the class or entry point")
                continue
            try:
                plugin.load_class(a, search_path)
            except plugin.PluginError as e:
                problems.append(f"{key} {name} ({a}): {e}")
                continue
        if name in out:
            problems.append(f"{key}: {a!r} is listed twice" if a == name or targets.get(name) == a
                            else f"{key}: {a!r} has the name {name!r} of another architecture; each needs its own name")  # fmt: skip
            continue
        out.append(name)
        if name != a or a not in ARCHITECTURES:
            targets[name] = a
    return tuple(out), targets


def _not_listed(key: str, arch: str, architectures: tuple[str, ...]) -> str:
    return f"{key}: given but {arch} is not in architectures {list(architectures)}; add it there or remove {key}"


def _plugin_value(v: Any, key: str, problems: list[str]) -> Any:
    """A plugin keyword's TOML value: a number, string, boolean or list of them (tables are refused)."""
    if isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict) for x in v)):
        problems.append(f"{key}: must be a number, string, boolean or list of them, got a table {v!r}")
        return None
    return frozen_value(v)


def _parse_model(raw: dict, architectures: tuple[str, ...], targets: dict[str, str], search_path: str | None,
                 problems: list[str]) -> tuple[ModelSpec, dict[str, Any]]:  # fmt: skip
    """The shared base ([model], the DLRM's) and each other listed architecture's ([model] + [model.<arch>])."""
    m = dict(_table(raw, "model", problems))
    subs = {a: m.pop(a) for a in [*ARCHITECTURES, *targets] if a != "dlrm" and a in m}
    subs |= {k: m.pop(k) for k in list(m) if isinstance(m[k], dict)}  # [model.<name>] of an architecture not listed
    allowed = [f.name for f in fields(ModelSpec)]
    _unknown(m, [*allowed, *(a for a in ARCHITECTURES if a != "dlrm")], "model.", problems)
    kw: dict[str, Any] = {}
    if "embedding_dim" in m and (d := _pos_int(m["embedding_dim"], "model.embedding_dim", problems)):
        kw["embedding_dim"] = d
    if "embedding_rows" in m and (r := _pos_int(m["embedding_rows"], "model.embedding_rows", problems)):
        kw["embedding_rows"] = r
    for k in ("bottom_mlp", "top_mlp"):
        if k in m and (w := _width_list(m[k], f"model.{k}", problems, allow_empty=True)) is not None:
            kw[k] = w
    if "interaction" in m:
        if m["interaction"] not in INTERACTIONS:
            problems.append(f"model.interaction: must be {' or '.join(map(repr, INTERACTIONS))}, got {m['interaction']!r}")
        else:
            kw["interaction"] = m["interaction"]
    shared = {k: v for k, v in kw.items() if k != "interaction"}  # interaction is the DLRM's own
    others: dict[str, Any] = {}
    for arch in architectures:
        if arch == "dlrm":
            continue
        sub = subs.get(arch, {})
        key = f"model.{arch}"
        if not isinstance(sub, dict):
            problems.append(f"{key}: must be a table, got {sub!r}")
            sub = {}
        if arch in targets:  # a plugin: every key is a keyword of its constructor (the probe checks them)
            for k in sub:
                if k in PLUGIN_SHARED_SCHEMES:
                    problems.append(f"{key}.{k}: recscale's embedding tables are sized in [model] for every architecture; move {k} there")
            pkw = {k: _plugin_value(v, f"{key}.{k}", problems) for k, v in sub.items() if k not in PLUGIN_SHARED_SCHEMES}
            others[arch] = PluginSpec(arch, targets[arch], **{k: v for k, v in shared.items() if k in PLUGIN_SHARED_SCHEMES},
                                      kwargs=tuple(sorted(pkw.items())), search_path=search_path)  # fmt: skip
            continue
        spec_class = MODEL_SPECS[arch]
        own = [f.name for f in fields(spec_class) if f.name not in _SHARED_MODEL_FIELDS]
        _unknown(sub, own, f"{key}.", problems)
        akw: dict[str, Any] = {}
        for k, v in sub.items():
            if k not in own:
                continue
            if k == "fmb_mlp":
                if (w := _width_list(v, f"{key}.{k}", problems, allow_empty=True)) is not None:
                    akw[k] = w
            elif k == "cross_rank" and v == "full":
                akw[k] = None
            elif k in _LAYER_COUNTS:
                if not _is_int(v) or v < 0:
                    problems.append(f"{key}.{k}: must be a non-negative integer, got {v!r}")
                else:
                    akw[k] = v
            elif (got := _pos_int(v, f"{key}.{k}", problems)) is not None:
                akw[k] = got
        others[arch] = spec_class(**shared, **akw)
    for arch, sub in subs.items():
        if arch not in architectures:
            problems.append(_not_listed(f"model.{arch}", arch, architectures))
    return ModelSpec(**kw), others


def _scheme_values(v: Any, key: str, scheme: str, problems: list[str]) -> tuple[int, ...] | None:
    if scheme in _LAYER_COUNTS:
        if not isinstance(v, list) or not v or not all(_is_int(x) and x >= 0 for x in v):
            problems.append(f"{key}: must be a non-empty list of non-negative integers, got {v!r}")
            return None
        return tuple(sorted(set(v)))
    w = _width_list(v, key, problems, allow_empty=False)
    return None if w is None else tuple(sorted(set(w)))


def _parse_schemes(raw: dict, architectures: tuple[str, ...], targets: dict[str, str], problems: list[str]) -> tuple[dict, dict]:
    """The shared schemes ([schemes]) and each architecture's own ([schemes.<architecture>])."""
    s = _table(raw, "schemes", problems)
    out, per_arch = {}, {}
    for k, v in s.items():
        if k in targets:  # a plugin: any keyword of its constructor, over non-negative integers
            if not isinstance(v, dict):
                problems.append(f"schemes.{k}: must be a table of {k}'s keywords, each a list of sizes, got {v!r}")
                continue
            own = {}
            for name, values in v.items():
                if name in PLUGIN_SHARED_SCHEMES:
                    problems.append(f"schemes.{k}.{name}: recscale's embedding tables are scaled in [schemes] for every architecture; move {name} there")
                elif not isinstance(values, list) or not values or not all(_is_int(x) and x >= 0 for x in values):
                    problems.append(f"schemes.{k}.{name}: must be a non-empty list of non-negative integers, got {values!r}")
                else:
                    own[name] = tuple(sorted(set(values)))
            per_arch[k] = own
            continue
        if isinstance(v, dict) and k not in ARCH_SCHEMES:
            problems.append(_not_listed(f"schemes.{k}", k, architectures))
            continue
        if k in ARCH_SCHEMES and k != "dlrm":
            if k not in architectures:
                problems.append(_not_listed(f"schemes.{k}", k, architectures))
                continue
            if not isinstance(v, dict):
                problems.append(f"schemes.{k}: must be a table of {k}'s schemes ({', '.join(ARCH_SCHEMES[k])}), got {v!r}")
                continue
            own = {}
            for name, values in v.items():
                if name not in ARCH_SCHEMES[k]:
                    problems.append(f"schemes.{k}.{name}: unknown scheme for {k}; allowed: {', '.join(ARCH_SCHEMES[k])}")
                elif (w := _scheme_values(values, f"schemes.{k}.{name}", name, problems)) is not None:
                    own[name] = w
            per_arch[k] = own
            continue
        if k not in SCHEMES:
            tables = ", ".join(f"[schemes.{a}]" for a in ARCH_SCHEMES if a != "dlrm")
            problems.append(f"schemes.{k}: unknown scheme; allowed: {', '.join(SCHEMES)} (each architecture's own go in {tables})")
            continue
        w = _width_list(v, f"schemes.{k}", problems, allow_empty=False)
        if w is not None:
            out[k] = tuple(sorted(set(w)))
    return out, per_arch


def _parse_goal(raw: dict, problems: list[str]) -> tuple[str | None, str | None]:
    """[goal]: ``target`` (what the study is for) and ``budget``, as text; their syntax is the
    design's (recscale.laws.design), checked where the design is built (the study does not import it)."""
    g = _table(raw, "goal", problems)
    _unknown(g, ("target", "budget"), "goal", problems)
    out = []
    for key in ("target", "budget"):
        v = g.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            problems.append(f"goal.{key}: must be a non-empty string, e.g. "
                            + ("'ne at compute 10x within 2%'" if key == "target" else "'50%' or '1e15 flops'") + f"; got {v!r}")
            v = None
        out.append(v)
    if out[1] is not None and out[0] is None and not any(p.startswith("goal") for p in problems):
        problems.append("goal.budget: a budget needs a goal.target to spend it on")
    return out[0], out[1]


def parse_spec(raw: dict[str, Any], source: str | None = None) -> StudySpec:
    """Validate a parsed TOML document; raises SpecError listing every problem with its key path."""
    problems: list[str] = []
    _unknown(raw, ("name", "seeds", "architectures", "data", "train", "model", "schemes", "goal"), "", problems)
    search_path = str(Path(source).resolve().parent) if source else None
    name = raw.get("name", Path(source).stem if source else "study")
    if not isinstance(name, str) or not name:
        problems.append(f"name: must be a non-empty string, got {name!r}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(x) and x >= 0 for x in seeds):
        problems.append(f"seeds: must be a non-empty list of non-negative integers, got {seeds!r}")
        seeds = [0]
    data = _parse_data(raw, problems)
    architectures, targets = _parse_architectures(raw, search_path, problems)
    train, checkpoints, arch_train = _parse_train(raw, architectures, problems)
    model, arch_models = _parse_model(raw, architectures, targets, search_path, problems)
    schemes, arch_schemes = _parse_schemes(raw, architectures, targets, problems)
    if not schemes and not any(arch_schemes.values()) and not any(p.startswith("schemes") for p in problems):
        problems.append(
            "schemes: give at least one scheme (mlp_width, overarch_width, embedding_dim, embedding_rows); "
            "to study one model, list its own value, e.g. embedding_dim = [16]"
        )
    elif not schemes and not any(p.startswith("schemes") for p in problems):
        for arch in architectures:
            if not arch_schemes.get(arch) and arch in ARCHITECTURES:
                problems.append(
                    f"schemes: {arch} has no scheme; give a shared one in [schemes] ({', '.join(SCHEMES)})"
                    + (f" or one of its own in [schemes.{arch}] ({', '.join(ARCH_SCHEMES[arch])})" if ARCH_SCHEMES[arch] else "")
                )
    for arch in targets:
        if arch in architectures and not arch_schemes.get(arch) and not set(schemes) & set(PLUGIN_SHARED_SCHEMES) \
                and not any(p.startswith("schemes") for p in problems):
            problems.append(f"schemes: {arch} has no scheme; give embedding_dim or embedding_rows in [schemes], or one of its "
                            f"keywords in [schemes.{arch}] (mlp_width and overarch_width scale the built-ins' MLPs only)")  # fmt: skip
    if data.synthetic is not None and checkpoints is not None and checkpoints.stop > data.synthetic.rows:
        problems.append(
            f"train.checkpoints.stop: {checkpoints.stop:,} exceeds the {data.synthetic.rows:,} rows of data.synthetic.rows"
        )
    goal, budget = _parse_goal(raw, problems)
    if problems:
        raise SpecError(problems, source=source)
    spec = StudySpec(str(name), tuple(sorted(set(seeds))), data, train, checkpoints, model, schemes, source,
                     architectures, arch_models, arch_schemes, arch_train, goal, budget)
    if data.synthetic is not None and spec.plugins():  # the schema is known: probe every plugin configuration now
        w = data.synthetic.world
        check_plugins(spec, w.n_dense, w.cardinalities)
    return spec


def check_plugins(spec: StudySpec, n_dense: int, cardinalities: list[int] | tuple[int, ...]) -> None:
    """Build every plugin configuration of ``spec`` on this schema and run it on a probe batch.

    Called at spec load (synthetic data), before a run writes anything, and by the dry run; each
    configuration is probed once per process (:func:`recscale.model.plugin.probe` caches it).

    Raises:
        SpecError: One line per failing configuration, naming the architecture, the configuration
            (its trial label) and the problem.
    """
    if not spec.plugins():
        return
    from recscale.model.plugin import PluginError, probe

    problems = []
    for t in spec.trials():
        if t.architecture in ARCHITECTURES or t.seed != spec.seeds[0]:
            continue
        try:
            probe(t.model.config(n_dense, cardinalities))
        except PluginError as e:
            problems.append(f"model.{t.architecture} ({t.model.label()}): {e}")
    if problems:
        raise SpecError(problems, source=spec.source)
