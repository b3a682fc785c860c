"""Loading a plan: hostile YAML refused, pydantic errors turned into one line with the file, line and fix, every
path checked inside the repository before anything is opened (README "Safety")."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from evalaction.exceptions import InvalidPlan
from evalaction.plan.schema import Plan, _cut, _FieldError

# --------------------------------------------------------------------------------------------------------------
# Loading, with line numbers


class LoadedPlan(BaseModel):
    """A validated plan together with where it came from."""

    model_config = ConfigDict(frozen=True)

    plan: Plan
    path: Path
    base_dir: Path

    def resolve(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()


# Limits of the plan's YAML (a pull request controls the plan): a real plan is a few KB, a few levels deep, and
# has no use for anchors. A 289-byte alias bomb expands to billions of nodes, so aliases are refused outright
# rather than budgeted: `<<: *defaults` is the only idiom lost, and spelling the keys out keeps a reviewer's
# view of the plan the same as the parser's.
MAX_PLAN_BYTES = 1 << 20
MAX_PLAN_DEPTH = 32


class _YamlRefused(Exception):
    """A YAML construct the plan loader refuses: the line, what was found and the fix."""

    def __init__(self, line: int | None, found: str, fix: str) -> None:
        super().__init__(found)
        self.line, self.found, self.fix = line, found, fix


def _plan_loader(text: str) -> Any:
    """A SafeLoader that refuses anchors, aliases, duplicate keys and nesting deeper than MAX_PLAN_DEPTH."""
    import yaml

    class PlanLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types (Any to mypy)
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent):
                raise _YamlRefused(
                    line,
                    f"the alias `*{event.anchor}`",
                    "anchors and aliases are not allowed; write the value out",
                )
            if getattr(event, "anchor", None) is not None:
                raise _YamlRefused(
                    line,
                    f"the anchor `&{event.anchor}`",
                    "anchors and aliases are not allowed; write the value out",
                )
            self.depth += 1
            try:
                if self.depth > MAX_PLAN_DEPTH:
                    raise _YamlRefused(
                        line,
                        f"nesting deeper than {MAX_PLAN_DEPTH} levels",
                        "flatten the plan (see `evalaction schema`)",
                    )
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:  # an unhashable key; SafeConstructor names it below
                    continue
                if first is not None:
                    raise _YamlRefused(
                        line,
                        f"the key `{_cut(str(key))}` twice (lines {first} and {line})",
                        "keep one of them (YAML would silently use the last)",
                    )
            return super().construct_mapping(node, deep=deep)

    return PlanLoader(text)


def _plan_text(raw: bytes, plan_file: Path) -> str:
    """The plan's bytes as text: refused when too large, binary or not UTF-8 (one line, with the line number)."""
    name = plan_file.name
    if len(raw) > MAX_PLAN_BYTES:
        raise InvalidPlan(
            f"{name}: expected a plan under {MAX_PLAN_BYTES >> 10} KiB, found {len(raw) >> 10} KiB; "
            "a plan names files, it does not hold data"
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidPlan(f"{name} line 1: expected UTF-8 text, found UTF-16 or UTF-32; save the plan as UTF-8")
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw[:nul].count(b"\n") + 1
        raise InvalidPlan(
            f"{name} line {line}: expected a YAML text file, found a binary file (a NUL byte); "
            "pass the plan with `-c`"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidPlan(
            f"{name} line {line}: expected UTF-8 text, found the byte 0x{raw[exc.start]:02x}; "
            "save the plan as UTF-8"
        ) from None


# Bidirectional-text controls make a line display differently from how it parses ("Trojan Source",
# CVE-2021-42574): a reviewer could read `accuracy: '>= 0.99'` where the parser sees another rule.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _load_yaml(text: str, plan_file: Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    """Parse the plan's YAML once: the data and the line of every key path."""
    import yaml

    bidi = _BIDI.search(text)
    if bidi is not None:
        line = text.count("\n", 0, bidi.start()) + 1
        raise InvalidPlan(
            f"{plan_file.name} line {line}: found the invisible bidirectional control U+{ord(bidi.group()):04X}, "
            "which makes the line read differently from how it parses; delete it"
        )

    loader = None
    try:
        loader = _plan_loader(text)  # the reader refuses control characters here
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except _YamlRefused as exc:
        where = f"{plan_file.name} line {exc.line}" if exc.line else plan_file.name
        raise InvalidPlan(f"{where}: found {exc.found}; {exc.fix}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            at = f" line {mark.line + 1}"
        elif isinstance(exc, yaml.reader.ReaderError):
            at = f" line {text[: exc.position].count(chr(10)) + 1}"
        else:
            at = ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidPlan(f"{plan_file.name}{at}: not valid YAML ({problem}); fix the syntax") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise InvalidPlan(
            f"{plan_file.name}: a value cannot be read ({_cut(str(exc).splitlines()[0] if str(exc) else '', 80)}); "
            "fix the value"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, _line_index(root)


def _line_index(root: Any) -> dict[tuple[str, ...], int]:
    """Map every key path of a composed YAML tree (no aliases: the loader refuses them) to its 1-based line.

    Iterative, and every node is visited once, so neither depth nor a shared node can blow it up.
    """
    import yaml

    lines: dict[tuple[str, ...], int] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())] if root is not None else []
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                sub = (*path, str(key.value))
                lines.setdefault(sub, key.start_mark.line + 1)
                stack.append((value, sub))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, str(i))] = item.start_mark.line + 1
                stack.append((item, (*path, str(i))))
    return lines


def _line_for(lines: dict[tuple[str, ...], int], loc: tuple[str, ...]) -> int | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _allowed_keys(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    """The field names allowed at the mapping that holds `loc[-1]` (for did-you-mean)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            ann = current.model_fields[part].annotation
            current = _unwrap_model(ann)
        elif current is dict or current is None:
            return []
        else:
            current = (
                _unwrap_model(current)
                if not (isinstance(current, type) and issubclass(current, BaseModel))
                else None
            )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap_model(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    args = typing.get_args(ann)
    origin = typing.get_origin(ann)
    if origin is dict and len(args) == 2:
        return _unwrap_model(args[1]) if _is_model(args[1]) else None
    for a in args:
        if _is_model(a):
            return a
    return None


def _is_model(a: Any) -> bool:
    return isinstance(a, type) and issubclass(a, BaseModel)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _near_miss(data: Any, loc: tuple[str, ...]) -> str | None:
    """For a missing key: a key of the same mapping spelt almost like it (`metircs` for `metrics`)."""
    node = data
    for part in loc[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    present = [str(k) for k in node if str(k) != loc[-1]]
    hint = difflib.get_close_matches(loc[-1], present, n=1, cutoff=0.6)
    return hint[0] if hint else None


def _first_error(
    exc: ValidationError, plan_file: Path, lines: dict[tuple[str, ...], int], data: Any = None
) -> InvalidPlan:
    err = exc.errors(include_url=False)[0]
    loc = tuple(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    # pydantic puts the union/literal tag into loc for some errors; keep only real keys
    loc = tuple(p for p in loc if not p.startswith(("function", "constrained")) and p != "[key]")
    field = ".".join(loc) or "(top level)"
    etype = err["type"]
    ctx_err = err.get("ctx", {}).get("error") if err.get("ctx") else None
    where = f"{plan_file.name}"
    line = _line_for(lines, loc)
    where += f" line {line}" if line else ""
    if isinstance(ctx_err, _FieldError):
        line = _line_for(lines, tuple(ctx_err.field.split(".")))
        where = plan_file.name + (f" line {line}" if line else "")
        return InvalidPlan(
            f"{where}: `{ctx_err.field}`: expected {ctx_err.expected}, found {ctx_err.found}; {ctx_err.fix}"
        )
    if etype == "extra_forbidden":
        key = loc[-1]
        allowed = _allowed_keys(Plan, loc)
        hint = difflib.get_close_matches(key, allowed, n=1)
        fix = f"did you mean `{hint[0]}`?" if hint else f"allowed keys: {', '.join(allowed)}"
        return InvalidPlan(f"{where}: `{field}`: unknown key; {fix}")
    if etype == "missing":
        typo = _near_miss(data, loc) if loc else None
        if typo is not None:
            line = _line_for(lines, (*loc[:-1], typo))
            where = plan_file.name + (f" line {line}" if line else "")
            return InvalidPlan(
                f"{where}: `{field}`: required, but missing; found `{_cut(typo)}`: did you mean `{loc[-1]}`?"
            )
        return InvalidPlan(f"{where}: `{field}`: required, but missing; add it (see `evalaction schema`)")
    found = _describe(err.get("input"))
    msg = err["msg"]
    if etype in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", msg)
        bad = str(err.get("input"))
        options = re.findall(r"'([^']+)'", str(expected))
        hint = difflib.get_close_matches(bad, options, n=1)
        fix = f"did you mean `{hint[0]}`?" if hint else "use one of the listed values"
        return InvalidPlan(f"{where}: `{field}`: expected one of {expected}, found {found}; {fix}")
    if etype == "value_error":
        text = msg.removeprefix("Value error, ")
        return InvalidPlan(f"{where}: `{field}`: {text}")
    return InvalidPlan(f"{where}: `{field}`: expected {msg.lower()}, found {found}; fix the value")


def parse_plan(text: str, plan_file: Path) -> Plan:
    """Validate YAML text as a plan (no file checks)."""
    return _parse(text, plan_file)[0]


def _parse(text: str, plan_file: Path) -> tuple[Plan, dict[tuple[str, ...], int]]:
    """The validated plan and the line of every key; text handed in directly gets the same size limit."""
    if len(text) > MAX_PLAN_BYTES // 4:  # 4 bytes per character at most: only then can it be over the limit
        _plan_text(text.encode("utf-8", "surrogatepass"), plan_file)
    data, lines = _load_yaml(text, plan_file)
    if not isinstance(data, dict):
        raise InvalidPlan(
            f"{plan_file.name}: expected a mapping with task, dataset, models, metrics; "
            f"found {type(data).__name__}; see `evalaction schema`"
        )
    try:
        return Plan.model_validate(data), lines
    except ValidationError as exc:
        raise _first_error(exc, plan_file, lines, data) from None


def _read_plan_bytes(path: Path) -> bytes:
    """The plan file's bytes; a missing path, a folder or a special file (FIFO, device) is refused unopened."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        raise InvalidPlan(
            f"{path}: plan file not found; pass the path with `-c` (default evalaction.yml)"
        ) from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a special file (FIFO, socket or device)"
        raise InvalidPlan(f"{path}: expected a plan file, found {kind}; pass the plan's YAML file with `-c`")
    try:
        with path.open("rb") as f:
            return f.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise InvalidPlan(f"{path}: cannot read the plan ({exc.strerror}); check its permissions") from None


def load_plan(path: Path, *, root: Path | None = None) -> LoadedPlan:
    """Read, validate and check a plan against the files it names.

    Every path the plan names must stay inside `root`, the repository under evaluation: by default the
    nearest folder above the plan holding `.git`, else the plan's own folder (see `_check_paths`).
    """
    path = Path(path)
    text = _plan_text(_read_plan_bytes(path), path)
    plan, lines = _parse(text, path)
    base_dir = path.resolve().parent
    loaded = LoadedPlan(plan=plan, path=path.resolve(), base_dir=base_dir)
    _check_paths(loaded, lines, (root or repository_root(base_dir)).resolve())
    _check_files(loaded, lines)
    return loaded


def repository_root(start: Path) -> Path:
    """The repository a plan belongs to: the nearest folder at or above `start` holding `.git`, else `start`."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _plan_paths(plan: Plan) -> list[tuple[tuple[str, ...], str]]:
    """Every file or folder path the plan names, with its key path: fields named `path`, `*_path`, `*_dir` or
    `*_manifest`, in any section (so a path field added later is checked too)."""
    found: list[tuple[tuple[str, ...], str]] = []

    def walk(obj: Any, loc: tuple[str, ...]) -> None:
        if isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                value = getattr(obj, name)
                if isinstance(value, str) and (name == "path" or name.endswith(("_path", "_dir", "_manifest"))):
                    found.append(((*loc, name), value))
                else:
                    walk(value, (*loc, name))
        elif isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, (*loc, str(key)))
        elif isinstance(obj, list | tuple):
            for i, value in enumerate(obj):
                walk(value, (*loc, str(i)))

    walk(plan, ())
    return found


def _check_paths(loaded: LoadedPlan, lines: dict[tuple[str, ...], int], root: Path) -> None:
    """Refuse, before anything is opened, a plan path that leaves the repository or names a special file.

    The plan comes from the pull request, so `dataset.path: /etc/passwd`, `../../secrets.csv` or a symlink
    pointing out of the checkout must not reach a reader (whose errors may quote what it read).
    """
    import os
    import stat

    name = loaded.path.name
    for loc, value in _plan_paths(loaded.plan):
        line = _line_for(lines, loc)
        where = f"{name} line {line}" if line else name
        field = ".".join(loc)
        shown = _cut(value, 80)
        if not value.strip() or "\x00" in value:
            raise InvalidPlan(f"{where}: `{field}`: expected a relative path, found {shown!r}; fix the path")
        if os.path.isabs(value) or value.startswith("~"):
            raise InvalidPlan(
                f"{where}: `{field}`: expected a path relative to the plan's folder, found the absolute path "
                f"{shown!r}; move the file into the repository and name it relative to the plan"
            )
        target = loaded.resolve(value)
        if not target.is_relative_to(root):
            how = "through a symlink" if ".." not in Path(value).parts else "through `..`"
            raise InvalidPlan(
                f"{where}: `{field}`: expected a path inside the repository ({root}), found {shown!r}, which "
                f"leaves it {how}; keep the plan's files inside the repository"
            )
        try:
            mode = target.stat().st_mode
        except OSError:
            continue  # missing: `_check_files` says so for the paths that must exist
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise InvalidPlan(
                f"{where}: `{field}`: expected a regular file or folder, found {shown!r}, a special file "
                "(FIFO, socket or device); point it at a real file"
            )
    for role in ("candidate", "baseline"):
        spec = getattr(loaded.plan.models, role)
        if spec is not None and spec.module is not None:
            _check_module(spec.module, loaded, root, ("models", role, "module"), lines)


def _check_module(
    ref: str, loaded: LoadedPlan, root: Path, loc: tuple[str, ...], lines: dict[tuple[str, ...], int]
) -> None:
    """`module:` must name Python code of the repository: a `.py` file under it, or a module found under the
    plan's folder (where the runner imports it from); standard-library and installed modules are refused."""
    import sys

    line = _line_for(lines, loc)
    where = loaded.path.name + (f" line {line}" if line else "")
    field = ".".join(loc)
    target, _, _ = ref.partition(":")
    fix = "name a class defined in a Python file of the repository (`path/to/file.py:Class` or `package.module:Class`)"
    if target.endswith(".py"):
        if Path(target).is_absolute() or ".." in Path(target).parts:
            raise InvalidPlan(f"{where}: `{field}`: expected a file inside the repository, found {ref!r}; {fix}")
        file = loaded.resolve(target)
    else:
        top = target.split(".")[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names or top in {"evalaction", "torch"}:
            raise InvalidPlan(
                f"{where}: `{field}`: expected a module of the repository, found {ref!r} ({top} is not the "
                f"repository's code); {fix}"
            )
        base = loaded.base_dir.joinpath(*target.split("."))
        file = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
    if not file.is_file() or not file.resolve().is_relative_to(root):
        raise InvalidPlan(
            f"{where}: `{field}`: expected a Python file inside the repository, found {ref!r} with no such file "
            f"under {loaded.base_dir}; {fix}"
        )


def _check_files(loaded: LoadedPlan, lines: dict[tuple[str, ...], int]) -> None:
    plan, name = loaded.plan, loaded.path.name

    def at(*loc: str) -> str:
        line = _line_for(lines, loc)
        return f"{name} line {line}" if line else name

    for key in ("train_path", "train_manifest"):
        value = getattr(plan.dataset, key)
        if value is not None and not loaded.resolve(value).exists():
            raise InvalidPlan(
                f"{at('dataset', key)}: `dataset.{key}`: expected an existing file or folder, found no "
                f"{value!r} next to the plan; fix the path (relative to {loaded.base_dir})"
            )
    if plan.dataset.path is None:
        pass  # a Roboflow version: downloaded (or found in the cache) by the plan stage
    elif not (data := loaded.resolve(plan.dataset.path)).exists():
        raise InvalidPlan(
            f"{at('dataset', 'path')}: `dataset.path`: expected an existing file or folder, found no "
            f"{plan.dataset.path!r} next to the plan; fix the path (relative to {loaded.base_dir})"
        )
    elif plan.dataset.resolved_format == "image_folder" and not data.is_dir():
        raise InvalidPlan(
            f"{at('dataset', 'path')}: `dataset.path`: expected a folder of class subfolders (or a .csv, "
            f".parquet, .npz, .npy file), found {plan.dataset.path!r}; set `dataset.format`"
        )
    roles = [("candidate", plan.models.candidate)]
    if plan.models.baseline is not None:
        roles.append(("baseline", plan.models.baseline))
    for role, spec in roles:
        p = loaded.resolve(spec.path)
        if not p.is_file():
            raise InvalidPlan(
                f"{at('models', role, 'path')}: `models.{role}.path`: expected a model file, found no "
                f"{spec.path!r}; fix the path (relative to {loaded.base_dir})"
            )
    if plan.metrics.primary in plan.gates.vs_baseline and plan.models.baseline is None:
        pass  # gates against a missing baseline are skipped, not failed (the verdict says so)


def load_plan_text(text: str | bytes, path: Path) -> LoadedPlan:
    """A plan given as content (the base commit's copy, read with `git show`), its paths resolved next to `path`.

    The GitHub Action reads the trusted plan from the PR's base commit; the data and models it names are
    still the checked-out workspace's, so they are checked as `load_plan` checks them, where `path` would be.
    """
    path = Path(path)
    if isinstance(text, bytes):
        text = _plan_text(text, path)
    plan, lines = _parse(text, path)
    loaded = LoadedPlan(plan=plan, path=path.resolve(), base_dir=path.resolve().parent)
    # trusted rules, untrusted files: the workspace may hold a symlink or a FIFO where the plan names a file
    _check_paths(loaded, lines, repository_root(loaded.base_dir).resolve())
    _check_files(loaded, lines)
    return loaded


def check_loaded(loaded: LoadedPlan) -> LoadedPlan:
    """Run the path rules of `load_plan` on a plan changed in memory (the action points its test set at the
    base commit's copy, a folder it wrote inside the repository); no line numbers, there is no text."""
    _check_paths(loaded, {}, repository_root(loaded.base_dir).resolve())
    _check_files(loaded, {})
    return loaded
