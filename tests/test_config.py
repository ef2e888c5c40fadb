import pytest
import yaml

from winwin.engine.config import ConfigError, dump_config, load_config, parse_overrides


def test_defaults_file_and_overrides_merge_once(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        yaml.safe_dump({"task": {"num_classes": 8}, "model": {"arch": "demo"}, "train": {"steps": 50, "batch_size": 4}})
    )
    cfg = load_config(path, ["train.steps=20", "windows.window_size=[3, 4]", "optim.lr=0.002"])
    assert cfg.name == "exp"  # from the file name
    assert cfg.model.embed_dim == 128  # from the demo arch
    assert cfg.task.num_classes == cfg.model.out_channels == 8  # from the file, through the task
    assert cfg.train.steps == 20 and cfg.train.batch_size == 4  # override beats file
    assert cfg.windows.window_size == [3, 4]
    assert cfg.optim.lr == 0.002
    # the saved config round-trips to the same experiment
    again = tmp_path / "again.yaml"
    again.write_text(dump_config(cfg))
    assert load_config(again) == load_config(again)
    assert load_config(again).train.steps == 20


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.stepz=3"], "unknown setting 'train.stepz'"),
        (["train.steps=abc"], "train.steps: expected int"),
        (["train.steps=0"], "train.steps"),
        (["model.arch=huge"], "unknown model 'huge'"),
        (["model.head=mlp"], "model.head must be one of"),
        (["model.num_heads=5"], "divisible"),
        (["optim.warmup_steps=-1"], "optim.warmup_steps"),
        (["optim.betas=[0.9]"], "optim.betas"),
        (["windows.mode=grid"], "windows.mode"),
        (["train.steps"], "key=value"),
        (["nonsense=1"], "unknown setting 'nonsense'"),
        (["train.precision=fp8"], "train.precision"),
        (["model.init=dinov3.pth"], "no setting 'model.init': pretrained weights are train.init"),
        (["model.rope_coords=pixels"], "model.rope_coords must be one of"),
        (["model.arch=dinov3_demo", "model.pos_embed=rope_mixed"], "class / storage tokens"),
    ],
)
def test_config_errors_say_what_is_wrong(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/cfg.yaml")


def test_overrides_are_parsed_as_yaml_not_evaluated():
    out = parse_overrides(["a.b=1", "c=[1, 2]", "d=__import__('os')", "e=true"])
    assert out == {"a": {"b": 1}, "c": [1, 2], "d": "__import__('os')", "e": True}


def test_float_settings_accept_yaml_exponents_without_a_dot():
    """YAML 1.1 reads ``1e-4`` as a string; a float setting takes it as the number it says."""
    from winwin.engine.config import ConfigError, load_config

    assert load_config(None, ["optim.lr=1e-4", "optim.min_lr=0"]).optim.lr == 1e-4
    import pytest

    with pytest.raises(ConfigError, match="optim.lr: expected float, got 'fast'"):
        load_config(None, ["optim.lr=fast"])


def test_an_override_that_is_not_yaml_is_a_config_error():
    import pytest

    from winwin.engine.config import ConfigError, parse_overrides

    with pytest.raises(ConfigError, match=r"'data.image_size=\[64,'.* is not a YAML value"):
        parse_overrides(["data.image_size=[64,"])
