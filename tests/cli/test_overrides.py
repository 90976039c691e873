"""One override syntax: `vidlift transfers --set` reads KEY=VALUE as `vidlift fit` overrides do
(OmegaConf dotlist, values read as YAML); and the one table printer."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from vidlift.cli import main
from vidlift.engine.config import ConfigError, load_config, parse_override
from vidlift.table import render_table


def test_parse_override_reads_values_as_yaml():
    assert parse_override("transfer.0.alpha=5e-3") == ("transfer.0.alpha", 5e-3)  # a number, not the string
    assert parse_override('task.prompt="1.5"') == ("task.prompt", "1.5")  # quoted: stays a string
    assert parse_override("task.prompt=1.5") == ("task.prompt", 1.5)
    assert parse_override("targets=[q_proj, v_proj]") == ("targets", ["q_proj", "v_proj"])
    assert parse_override("transfer={name: lora, r: 8}") == ("transfer", {"name": "lora", "r": 8})
    assert parse_override("head=null") == ("head", None) and parse_override("train=true") == ("train", True)
    with pytest.raises(ConfigError, match="must look like key.sub=value"):
        parse_override("r")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_override("targets=[q_proj")
    # The same reading as a fit override of the same value.
    cfg = load_config(None, ["task.name=recognition", "transfer=[{name: lora}]", "transfer.0.alpha=5e-3"])
    assert cfg["transfer"][0]["alpha"] == parse_override("alpha=5e-3")[1]


def test_transfers_set_takes_yaml_values(capsys):
    args = ["transfers", "--backbone", "random:tiny-clip", "--strategy", "lora", "--json"]
    assert main([*args, "--set", "r=2", "--set", "targets=[q_proj]"]) == 0
    rows = json.loads(capsys.readouterr().out)
    # r=2 on the query projection of 2 blocks of width 64: 2 * 2 * (64 + 64) = 512 parameters.
    assert rows[0]["trainable"] == 512 and rows[0]["defaults"]["r"] == 2
    assert main(["transfers", "--strategy", "lora", "--set", "r"]) == 2
    assert "--set: override 'r' must look like key.sub=value" in capsys.readouterr().err


def test_render_table_pads_and_aligns():
    text = render_table(["name", "params", "%"], [["lora", "1,024", "0.50"], ["temporal_conv", "24,768", "12.00"]],
                        align="<>>")
    assert text.splitlines() == [
        "name           params      %",
        "-------------  ------  -----",
        "lora            1,024   0.50",
        "temporal_conv  24,768  12.00",
    ]
    # Numeric columns right-aligned by default, text left.
    text = render_table(["a", "b", "c"], [["x", 1, "yy"], ["zzz", 22, "w"]])
    assert text.splitlines()[2:] == ["x     1  yy", "zzz  22  w"]
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        render_table(["a", "b"], [["x"]])
