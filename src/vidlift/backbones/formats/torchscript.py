"""Read the weights of a TorchScript archive without running anything from it.

OpenAI's original CLIP checkpoints (``ViT-B-32.pt`` ...) were written by ``torch.jit.save``.
The usual ways to open them are unsafe for files from the internet: ``torch.jit.load``
compiles and runs the TorchScript code stored in the archive, and a plain ``pickle.load`` /
``torch.load(weights_only=False)`` of its pickle can call any importable Python function
(``os.system`` included). Here the pickle is read by an unpickler whose ``find_class`` allows
only a short list of globals, each replaced by an inert stand-in or a pure function of ours:
module classes become placeholders that only record their state, tensors are rebuilt from raw
bytes. Nothing from the archive is imported, compiled or called.

Archive layout (a zip; every entry sits under one folder ``<prefix>/``)::

    <prefix>/data.pkl        pickle (protocol 2) of the root module: for each module a
                             ``__torch__.<...>`` object whose state is a dict of every attribute
                             (tensors, submodules, ints, ``training``, ...)
    <prefix>/data/<key>      raw little-endian bytes of one storage, referenced from data.pkl by
                             a persistent id ``('storage', torch.<T>Storage, key, location, numel)``
    <prefix>/code/...        the TorchScript source; each class lists its ``__parameters__`` and
                             ``__buffers__`` (read here as text, never run)
    <prefix>/constants.pkl, version, byteorder, ...

data.pkl does not say which tensor attributes are parameters or buffers (a scripted module
may also hold plain tensor attributes, e.g. an attention mask), so the class declarations in
``code/`` are parsed (``ast`` / text, never executed) to name exactly what
``torch.jit.load(path).state_dict()`` would. TorchScript does not record buffer persistence:
buffers registered with ``persistent=False`` are stored like the others and are returned too.
"""

from __future__ import annotations

import ast
import io
import os
import pickle
import re
import sys
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["is_torchscript_archive", "read_torchscript_state_dict"]

Tensor = torch.Tensor

# ``torch.<Name>Storage`` globals in data.pkl (written as toString(scalar_type) + "Storage").
_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
}
for _name in ("Float8_e4m3fn", "Float8_e5m2", "Float8_e4m3fnuz", "Float8_e5m2fnuz", "UInt16", "UInt32", "UInt64"):
    _dt = getattr(torch, _name.lower(), None)
    if isinstance(_dt, torch.dtype):
        _STORAGE_DTYPES[_name + "Storage"] = _dt
del _name, _dt


class _RefusedGlobal(pickle.UnpicklingError):
    """data.pkl named a global outside the allow-list."""


class _InvalidArchive(ValueError):
    """Raised inside the reader; re-raised with the file name attached."""


# --------------------------------------------------------------------------- inert stand-ins


class _ScriptObject:
    """Stand-in for every ``__torch__.*`` class: records constructor args and BUILD state."""

    __slots__ = ("args", "state")
    type_name = "__torch__"

    def __new__(cls, *args: Any, **kwargs: Any) -> _ScriptObject:
        self = object.__new__(cls)
        self.args = args
        self.state = None
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<{self.type_name} placeholder>"


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.<T>Storage``; only carries the dtype (not callable)."""

    name: str
    dtype: torch.dtype


@dataclass(frozen=True, eq=False)
class _Storage:
    """One loaded ``data/<key>`` record as a flat tensor of its dtype."""

    key: str
    flat: Tensor


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, *rest: Any) -> Tensor:
    """Our own version of ``torch._utils._rebuild_tensor_v2``: a bounds-checked strided view."""
    if not isinstance(storage, _Storage):
        raise _InvalidArchive(f"_rebuild_tensor_v2 got {type(storage).__name__}, not a storage")
    size, stride = tuple(size), tuple(stride)
    ints = (storage_offset, *size, *stride)
    if not all(type(v) is int and v >= 0 for v in ints) or len(size) != len(stride):
        raise _InvalidArchive(f"bad tensor geometry offset={storage_offset} size={size} stride={stride}")
    numel = storage.flat.numel()
    if all(s > 0 for s in size):
        last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= numel:
            raise _InvalidArchive(f"tensor of size {size} runs past the end of storage {storage.key!r} "
                                  f"({numel} elements)")
    return storage.flat.as_strided(size, stride, storage_offset)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> Tensor:
    """``torch._utils._rebuild_parameter``: a state dict holds the plain (detached) tensor."""
    if not isinstance(data, Tensor):
        raise _InvalidArchive(f"_rebuild_parameter got {type(data).__name__}, not a tensor")
    return data


def _identity_list(data: Any) -> Any:
    """``torch.jit._pickle.build_{int,double,bool,tensor}list``: typed list -> the list."""
    return data


def _restore_type_tag(value: Any, type_str: Any = None) -> Any:
    """``torch.jit._pickle.restore_type_tag``: drops the static-type tag."""
    return value


_ALLOWED_FUNCTIONS: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.jit._pickle", "build_intlist"): _identity_list,
    ("torch.jit._pickle", "build_doublelist"): _identity_list,
    ("torch.jit._pickle", "build_boollist"): _identity_list,
    ("torch.jit._pickle", "build_tensorlist"): _identity_list,
    ("torch.jit._pickle", "restore_type_tag"): _restore_type_tag,
    ("collections", "OrderedDict"): OrderedDict,
}


# --------------------------------------------------------------------------- unpickler


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, source: str, load_storage: Callable[[str, torch.dtype, int], _Storage]) -> None:
        super().__init__(io.BytesIO(data))
        self._source = source
        self._load_storage = load_storage
        self._placeholder_types: dict[str, type[_ScriptObject]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if isinstance(module, str) and isinstance(name, str):
            if module == "__torch__" or module.startswith("__torch__."):
                qualname = f"{module}.{name}"
                cls = self._placeholder_types.get(qualname)
                if cls is None:
                    cls = type(name, (_ScriptObject,), {"__slots__": (), "type_name": qualname})
                    self._placeholder_types[qualname] = cls
                return cls
            if module == "torch" and name in _STORAGE_DTYPES:
                return _StorageType(name, _STORAGE_DTYPES[name])
            fn = _ALLOWED_FUNCTIONS.get((module, name))
            if fn is not None:
                return fn
        raise _RefusedGlobal(
            f"{self._source}: refusing to load global {module}.{name} from data.pkl "
            "(not on the TorchScript weights allow-list; the file may be malicious)"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise _InvalidArchive(f"unsupported persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid
        if (not isinstance(storage_type, _StorageType) or not isinstance(key, str)
                or type(numel) is not int or numel < 0):
            raise _InvalidArchive(f"malformed storage reference {pid!r:.80}")
        return self._load_storage(key, storage_type.dtype, numel)


# --------------------------------------------------------------------------- archive access


def _zip_prefix(names: list[str]) -> str | None:
    """The ``<prefix>`` whose entries have the TorchScript layout, or None."""
    names_set = set(names)
    found = []
    for n in names:
        head, sep, tail = n.partition("/")
        if sep and tail == "data.pkl" and head:
            code = head + "/code/"
            if head + "/constants.pkl" in names_set or any(m.startswith(code) for m in names):
                found.append(head)
    return found[0] if len(found) == 1 else None


def is_torchscript_archive(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a zip with the ``torch.jit.save`` layout (``data.pkl`` + ``code/``).

    A ``torch.save`` zip (data.pkl, no code/ or constants.pkl), a non-zip, an unreadable or
    missing file all give False. Nothing is unpickled.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            return _zip_prefix(zf.namelist()) is not None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


class _Archive:
    def __init__(self, zf: zipfile.ZipFile, prefix: str) -> None:
        self.zf = zf
        self.prefix = prefix
        self.names = set(zf.namelist())

    def read(self, rel: str) -> bytes:
        return self.zf.read(f"{self.prefix}/{rel}")

    def has(self, rel: str) -> bool:
        return f"{self.prefix}/{rel}" in self.names

    def read_into(self, rel: str, nbytes: int) -> bytearray:
        name = f"{self.prefix}/{rel}"
        if name not in self.names:
            raise _InvalidArchive(f"missing record {name}")
        info = self.zf.getinfo(name)
        if info.file_size < nbytes:
            raise _InvalidArchive(f"record {name} holds {info.file_size} bytes, {nbytes} expected")
        buf = bytearray(info.file_size)
        with self.zf.open(info) as f:
            view = memoryview(buf)
            got = 0
            while got < len(buf):
                n = f.readinto(view[got:])
                if not n:
                    break
                got += n
            f.read()  # reach EOF so the CRC is checked
        if got != len(buf):
            raise _InvalidArchive(f"record {name} is truncated")
        return buf


def _byteswap(flat: Tensor) -> Tensor:
    """Reverse the bytes of every element (each component for complex dtypes)."""
    width = flat.element_size() // (2 if flat.dtype.is_complex else 1)
    if width == 1:
        return flat
    raw = flat.view(torch.uint8).view(-1, width).flip(1).contiguous()
    return raw.view(-1).view(flat.dtype)


def _storage_loader(archive: _Archive) -> Callable[[str, torch.dtype, int], _Storage]:
    swap = False
    if archive.has("byteorder"):
        order = archive.read("byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise _InvalidArchive(f"unknown byteorder {order!r}")
        swap = order != sys.byteorder
    else:
        swap = sys.byteorder != "little"  # archives without the record are little-endian
    cache: dict[str, _Storage] = {}

    def load(key: str, dtype: torch.dtype, numel: int) -> _Storage:
        hit = cache.get(key)
        if hit is not None:
            if hit.flat.dtype != dtype or hit.flat.numel() != numel:
                raise _InvalidArchive(f"storage {key!r} is referenced with two different dtypes or sizes")
            return hit
        elem = dtype.itemsize
        if numel == 0:
            flat = torch.empty(0, dtype=dtype)
        else:
            buf = archive.read_into(f"data/{key}", numel * elem)
            flat = torch.frombuffer(buf, dtype=dtype, count=numel)
            if swap:
                flat = _byteswap(flat)
        cache[key] = _Storage(key, flat)
        return cache[key]

    return load


# --------------------------------------------------------------------------- class declarations


@dataclass(frozen=True)
class _ClassDecl:
    is_module: bool
    parameters: frozenset[str]
    buffers: frozenset[str]


_CLASS_RE = re.compile(r"^class\s+(\w+)\s*\(\s*([\w.]*)\s*\)\s*:")
_LIST_RE = re.compile(r"^\s+(__parameters__|__buffers__)\s*=\s*(\[.*\])\s*$")


def _parse_code(text: str) -> dict[str, _ClassDecl]:
    """Class name -> declaration, read from TorchScript source as text (never executed)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        tree = None
    found: dict[str, dict[str, Any]] = {}
    if tree is not None:
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            entry = found.setdefault(node.name, {"is_module": False, "__parameters__": [], "__buffers__": []})
            entry["is_module"] = any(isinstance(b, ast.Name) and b.id == "Module" for b in node.bases)
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                    and stmt.targets[0].id in ("__parameters__", "__buffers__")
                ):
                    entry[stmt.targets[0].id] = ast.literal_eval(stmt.value)
    else:  # TorchScript that is not valid Python syntax: scan the class headers line by line
        current = None
        for line in text.splitlines():
            m = _CLASS_RE.match(line)
            if m:
                current = found.setdefault(m.group(1), {"is_module": m.group(2) == "Module",
                                                        "__parameters__": [], "__buffers__": []})
                continue
            if line[:1] not in ("", " ", "\t"):
                current = None
            m = _LIST_RE.match(line)
            if current is not None and m:
                current[m.group(1)] = ast.literal_eval(m.group(2))
    out = {}
    for name, e in found.items():
        params, bufs = e["__parameters__"], e["__buffers__"]
        if not (isinstance(params, list) and isinstance(bufs, list) and all(isinstance(x, str) for x in params + bufs)):
            raise _InvalidArchive(f"class {name}: __parameters__/__buffers__ are not lists of names")
        out[name] = _ClassDecl(bool(e["is_module"]), frozenset(params), frozenset(bufs))
    return out


class _Declarations:
    """Looks up ``__torch__.a.b.C`` in ``code/__torch__/a/b.py`` (parsed lazily, once per file)."""

    def __init__(self, archive: _Archive) -> None:
        self.archive = archive
        self.files: dict[str, dict[str, _ClassDecl]] = {}

    def get(self, qualname: str) -> _ClassDecl:
        if qualname.startswith("__torch__.torch.classes."):
            return _ClassDecl(False, frozenset(), frozenset())  # C++ custom class, never a Module
        module, _, cls = qualname.rpartition(".")
        rel = "code/" + module.replace(".", "/") + ".py"
        if rel not in self.files:
            if not self.archive.has(rel):
                raise _InvalidArchive(f"no TorchScript source {rel} declaring class {qualname}")
            try:
                text = self.archive.read(rel).decode("utf-8")
                self.files[rel] = _parse_code(text)
            except (UnicodeDecodeError, ValueError, SyntaxError) as e:
                raise _InvalidArchive(f"cannot read the class declarations in {rel}: {e}") from e
        decl = self.files[rel].get(cls)
        if decl is None:
            raise _InvalidArchive(f"{rel} does not declare class {cls} ({qualname})")
        return decl


def _collect(obj: _ScriptObject, prefix: str, decls: _Declarations, out: dict[str, Tensor], active: set[int]) -> None:
    """Mirror ``nn.Module._save_to_state_dict``: own parameters, own buffers, then children."""
    if id(obj) in active:
        raise _InvalidArchive(f"module {prefix.rstrip('.') or '<root>'} contains itself")
    state = obj.state
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise _InvalidArchive(f"module {prefix.rstrip('.') or '<root>'} ({obj.type_name}) has no attribute dict")
    decl = decls.get(obj.type_name)
    active.add(id(obj))
    for names in (decl.parameters, decl.buffers):
        for name, value in state.items():
            if name not in names or value is None:
                continue
            if not isinstance(value, Tensor):
                raise _InvalidArchive(f"{prefix}{name} is declared a parameter/buffer but holds {type(value).__name__}")
            out[prefix + name] = value
    for name, value in state.items():
        if isinstance(value, _ScriptObject) and decls.get(value.type_name).is_module:
            _collect(value, f"{prefix}{name}.", decls, out, active)
    active.discard(id(obj))


# --------------------------------------------------------------------------- public entry point


def read_torchscript_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The ``state_dict()`` of a ``torch.jit.save`` archive, read without executing it.

    Keys and order match ``torch.jit.load(path).state_dict()``: parameters and buffers under
    dotted module paths; plain attributes (ints, flags, unregistered tensors) are skipped.
    Tensors come back on CPU, detached, and tensors that shared a storage in the archive share
    one here.

    Raises ``pickle.UnpicklingError`` if data.pkl names any global outside the allow-list
    (nothing from it is called), ``ValueError`` (naming the file) if the file is not a
    TorchScript archive or is truncated / corrupt, ``FileNotFoundError`` if it does not exist.
    """
    source = os.fspath(path)
    if not os.path.exists(source):
        raise FileNotFoundError(f"{source}: no such file")
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, EOFError, ValueError) as e:
        raise ValueError(f"{source}: not a TorchScript archive "
                         f"(not a readable zip file; truncated or corrupt?): {e}") from e
    try:
        with zf:
            prefix = _zip_prefix(zf.namelist())
            if prefix is None:
                looks_saved = any(n.endswith("/data.pkl") for n in zf.namelist())
                hint = " (it looks like a torch.save checkpoint)" if looks_saved else ""
                raise ValueError(f"{source}: not a TorchScript archive: "
                                 f"no <prefix>/data.pkl with code/ or constants.pkl{hint}")
            archive = _Archive(zf, prefix)
            data = archive.read("data.pkl")
            unpickler = _RestrictedUnpickler(data, source, _storage_loader(archive))
            try:
                root = unpickler.load()
            except (_RefusedGlobal, _InvalidArchive):
                raise
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
                raise _InvalidArchive(f"corrupt zip record: {e}") from e
            except Exception as e:  # malformed pickle stream or misuse of an allowed global
                raise _InvalidArchive(f"malformed data.pkl: {type(e).__name__}: {e}") from e
            if not isinstance(root, _ScriptObject):
                raise _InvalidArchive(f"data.pkl holds {type(root).__name__}, not a scripted module")
            out: dict[str, Tensor] = {}
            _collect(root, "", _Declarations(archive), out, set())
            return out
    except _RefusedGlobal:
        raise
    except _InvalidArchive as e:
        raise ValueError(f"{source}: invalid TorchScript archive: {e}") from e
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ValueError(f"{source}: corrupt TorchScript archive (truncated?): {e}") from e
    except RecursionError as e:
        raise ValueError(f"{source}: invalid TorchScript archive: modules nested too deeply") from e
