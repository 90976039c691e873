"""Reading TorchScript (torch.jit.save) archives without executing them."""

from __future__ import annotations

import math
import os
import pickle
import pickletools
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from vidlift.backbones.formats.torchscript import (
    _parse_code,
    is_torchscript_archive,
    read_torchscript_state_dict,
)

W = 8  # width of the toy CLIP


class _ResBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(W)
        self.attn = nn.MultiheadAttention(W, 2)
        # OpenAI's blocks keep the causal mask as a plain attribute, not a buffer.
        self.attn_mask = torch.full((4, 4), float("-inf")).triu(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ln_1(x)


class _Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(_ResBlock(), _ResBlock())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class _Visual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, W, kernel_size=2, stride=2, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(W))
        self.positional_embedding = nn.Parameter(torch.randn(5, W))
        self.transformer = _Transformer()
        self.ln_post = nn.LayerNorm(W)
        self.proj = nn.Parameter(torch.randn(W, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).transpose(1, 2) + self.class_embedding
        return self.ln_post(self.transformer(x)) @ self.proj


class _CLIPLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.visual = _Visual()
        self.positional_embedding = nn.Parameter(torch.randn(4, W))
        self.text_projection = nn.Parameter(torch.randn(W, 4).half())  # fp16, like OpenAI's weights
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("token_ids", torch.arange(7, dtype=torch.int64))
        self.register_buffer("flags", torch.tensor([True, False, True]))
        base = torch.randn(10)
        self.register_buffer("shared_a", base[:6].view(2, 3))  # two views of one storage
        self.register_buffer("shared_b", base[4:])
        self.register_buffer("transposed", torch.randn(3, 2).t())
        self.input_resolution = 224  # plain int attribute: not in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x) * self.logit_scale.exp()


def _save(module: nn.Module, path: Path, how: str = "script") -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.* is deprecated in torch 2.x
        if how == "script":
            compiled = torch.jit.script(module)
        else:
            compiled = torch.jit.trace(module, torch.randn(1, 3, 4, 4))
        torch.jit.save(compiled, str(path))
    return path


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1).contiguous().view(torch.uint8)


def _rewrite(src: Path, dst: Path, edit: Callable[[str, bytes], bytes | None]) -> Path:
    """Copy a zip, passing each record through ``edit`` (None drops it)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for name in zin.namelist():
            data = edit(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
    return dst


def _unicode(s: str) -> bytes:  # BINUNICODE opcode
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _evil_archive(path: Path, data_pkl: bytes) -> Path:
    """A zip with the TorchScript layout around the given data.pkl."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", data_pkl)
        zf.writestr("evil/code/__torch__.py", "class M(Module):\n  __parameters__ = []\n  __buffers__ = []\n")
        zf.writestr("evil/constants.pkl", pickle.dumps((), protocol=2))
        zf.writestr("evil/version", "3\n")
    return path


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("how", ["script", "trace"])
def test_state_dict_matches_module(tmp_path: Path, how: str) -> None:
    torch.manual_seed(0)
    model = _CLIPLike().eval()
    path = _save(model, tmp_path / "ViT-toy.pt", how)
    assert is_torchscript_archive(path)

    sd = read_torchscript_state_dict(path)
    ref = model.state_dict()
    assert list(sd) == list(ref)  # same keys, same order
    for key, want in ref.items():
        got = sd[key]
        assert got.dtype == want.dtype, key
        assert got.shape == want.shape, key
        assert torch.equal(_bits(got), _bits(want)), key
        assert not got.requires_grad

    for key in (
        "visual.conv1.weight",
        "visual.class_embedding",
        "visual.transformer.resblocks.0.attn.in_proj_weight",
        "visual.transformer.resblocks.1.attn.out_proj.bias",
        "visual.transformer.resblocks.0.ln_1.weight",
        "positional_embedding",
        "text_projection",
        "logit_scale",
        "token_ids",
    ):
        assert key in sd
    # Plain attributes (the int, the unregistered mask tensor, flags) are not weights.
    assert "input_resolution" not in sd
    assert not any(k.endswith("attn_mask") or k.endswith("training") for k in sd)
    assert sd["text_projection"].dtype == torch.float16
    assert sd["logit_scale"].item() == pytest.approx(math.log(1 / 0.07))
    assert sd["token_ids"].tolist() == list(range(7))
    assert sd["flags"].tolist() == [True, False, True]
    assert sd["visual.conv1.weight"].shape == (W, 3, 2, 2)

    # Second oracle: what torch.jit.load (which runs the archive's code) reports.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path)).state_dict()
    assert list(loaded) == list(sd)
    assert all(torch.equal(_bits(loaded[k]), _bits(sd[k])) for k in sd)


def test_shared_storage_and_strides_are_kept(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = _CLIPLike()
    sd = read_torchscript_state_dict(_save(model, tmp_path / "m.pt"))
    a, b = sd["shared_a"], sd["shared_b"]
    assert a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    assert (a.storage_offset(), b.storage_offset()) == (0, 4)
    assert torch.equal(a.reshape(-1)[4:], b[:2])
    assert sd["transposed"].stride() == model.transposed.stride() == (1, 2)
    assert torch.equal(sd["transposed"], model.transposed)


def test_non_persistent_buffers_follow_torch_jit_load(tmp_path: Path) -> None:
    # TorchScript does not store buffer persistence; torch.jit.load reports such buffers too.
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(2))
            self.register_buffer("scratch", torch.full((3,), 7.0), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.weight

    path = _save(M(), tmp_path / "np.pt")
    sd = read_torchscript_state_dict(path)
    assert list(sd) == ["weight", "scratch"]
    assert sd["scratch"].tolist() == [7.0, 7.0, 7.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert list(torch.jit.load(str(path)).state_dict()) == list(sd)


def test_big_endian_archive_is_byteswapped(tmp_path: Path) -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.tensor([1.5, -2.25, 3.0e8]))
            self.bias = nn.Parameter(torch.tensor([[0.1, 0.2], [0.3, 0.4]]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.weight

    model = M()
    little = _save(model, tmp_path / "le.pt")

    def to_big(name: str, data: bytes) -> bytes:
        if name.endswith("/byteorder"):
            return b"big"
        if "/data/" in name:  # every storage here is float32
            return b"".join(data[i : i + 4][::-1] for i in range(0, len(data), 4))
        return data

    big = _rewrite(little, tmp_path / "be.pt", to_big)
    sd = read_torchscript_state_dict(big)
    assert sd["weight"].tolist() == [1.5, -2.25, 3.0e8]
    assert torch.equal(sd["bias"], model.bias.detach())


# --------------------------------------------------------------------------- refusing payloads


class _Payload:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):  # what a malicious checkpoint does
        return (os.system, (self.cmd,))


def _globals_in(data: bytes) -> list[str]:
    return [arg.replace(" ", ".") for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"]


def test_refuses_os_system_payload(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps({"visual.conv1.weight": _Payload(f"echo pwned > {marker}")}, protocol=2)
    assert f"{os.system.__module__}.system" in _globals_in(data)  # the payload is real
    path = _evil_archive(tmp_path / "evil.pt", data)
    assert is_torchscript_archive(path)

    with pytest.raises(pickle.UnpicklingError) as err:
        read_torchscript_state_dict(path)
    assert f"{os.system.__module__}.system" in str(err.value)
    assert str(path) in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "module,name",
    [("builtins", "exec"), ("__torch__evil", "M"), ("torch", "load"),
     ("torch._utils", "_rebuild_device_tensor_from_numpy")],
)
def test_refuses_globals_inside_a_module_state(tmp_path: Path, module: str, name: str) -> None:
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    # __torch__.M object whose state dict holds {"w": <module>.<name>(code)}
    data = (
        b"\x80\x02c__torch__\nM\n)\x81}(" + _unicode("w")
        + f"c{module}\n{name}\n".encode() + b"(" + _unicode(code) + b"tR"
        + b"ub."
    )
    path = _evil_archive(tmp_path / "evil.pt", data)
    with pytest.raises(pickle.UnpicklingError, match=rf"{module}\.{name}") as err:
        read_torchscript_state_dict(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_allowed_global_misuse_is_a_value_error(tmp_path: Path) -> None:
    # torch.FloatStorage maps to an inert dtype marker; calling it must not allocate anything.
    data = b"\x80\x02ctorch\nFloatStorage\nJ\x00\xca\x9a\x3b\x85R."
    path = _evil_archive(tmp_path / "odd.pt", data)
    with pytest.raises(ValueError, match="malformed data.pkl"):
        read_torchscript_state_dict(path)


# --------------------------------------------------------------------------- not TorchScript / corrupt


def test_plain_torch_save_is_not_torchscript(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(_CLIPLike().state_dict(), path)
    with zipfile.ZipFile(path) as zf:
        assert any(n.endswith("/data.pkl") for n in zf.namelist())  # a zip with data.pkl...
    assert not is_torchscript_archive(path)  # ...but no code/
    with pytest.raises(ValueError, match="not a TorchScript archive") as err:
        read_torchscript_state_dict(path)
    assert str(path) in str(err.value)


def test_non_zip_and_missing_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a zip\n" * 10)
    assert not is_torchscript_archive(text)
    with pytest.raises(ValueError, match="not a TorchScript archive") as err:
        read_torchscript_state_dict(text)
    assert str(text) in str(err.value)

    missing = tmp_path / "missing.pt"
    assert not is_torchscript_archive(missing)
    with pytest.raises(FileNotFoundError):
        read_torchscript_state_dict(missing)


def test_truncated_archive(tmp_path: Path) -> None:
    good = _save(_CLIPLike(), tmp_path / "good.pt")
    raw = good.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(raw[: len(raw) // 2])
    assert not is_torchscript_archive(cut)
    with pytest.raises(ValueError, match="truncated or corrupt") as err:
        read_torchscript_state_dict(cut)
    assert str(cut) in str(err.value)


def test_corrupt_tensor_record(tmp_path: Path) -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(64, 64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.weight

    good = _save(M(), tmp_path / "good.pt")
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        record = zf.read(next(n for n in zf.namelist() if n.endswith("/data/0")))
    at = raw.find(record)
    assert at > 0 and raw.find(record, at + 1) == -1
    raw[at + len(record) // 2] ^= 0xFF  # one flipped byte: CRC mismatch
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(raw))
    assert is_torchscript_archive(bad)  # the directory is intact
    with pytest.raises(ValueError, match="corrupt") as err:
        read_torchscript_state_dict(bad)
    assert str(bad) in str(err.value)


def test_missing_class_declaration(tmp_path: Path) -> None:
    good = _save(_CLIPLike(), tmp_path / "good.pt")

    def drop_root_class(name: str, data: bytes) -> bytes | None:
        return None if name.endswith(".py") and b"class _CLIPLike(" in data else data

    stripped = _rewrite(good, tmp_path / "stripped.pt", drop_root_class)
    with zipfile.ZipFile(good) as a, zipfile.ZipFile(stripped) as b:
        assert len(b.namelist()) == len(a.namelist()) - 1
    assert is_torchscript_archive(stripped)
    with pytest.raises(ValueError, match="declaring class __torch__") as err:
        read_torchscript_state_dict(stripped)
    assert str(stripped) in str(err.value)


def test_parse_code_without_python_syntax() -> None:
    # TorchScript source need not be valid Python; the declarations are then read line by line.
    text = (
        "class Block(Module):\n"
        '  __parameters__ = ["weight", "bias", ]\n'
        '  __buffers__ = ["running_mean", ]\n'
        "  weight : Tensor\n"
        "  def forward(self: __torch__.Block, x: Tensor) -> Tensor:\n"
        "    return x ?? self.weight\n"
        "class Helper(object):\n"
        '  __parameters__ = ["not_a_module", ]\n'
    )
    decls = _parse_code(text)
    assert decls["Block"].is_module
    assert decls["Block"].parameters == {"weight", "bias"}
    assert decls["Block"].buffers == {"running_mean"}
    assert not decls["Helper"].is_module
