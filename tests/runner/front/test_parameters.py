"""Parameters: defaults, then samconfig, then overrides; constraints checked with an
error naming the parameter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from asyncrun.stack.samconfig import parse_parameter_overrides, read_samconfig
from asyncrun.stack.template import TemplateError, load_stack

TEMPLATE = """
    Parameters:
      Stage:
        Type: String
        Default: dev
        AllowedValues: [dev, staging, prod]
      Retries:
        Type: Number
        Default: 2
        MinValue: 0
        MaxValue: 2
      Label:
        Type: String
        Default: plain
      Sizes:
        Type: CommaDelimitedList
        Default: "a,b"
    Resources:
      Queue:
        Type: AWS::SQS::Queue
    Outputs:
      Stage:
        Value: !Ref Stage
      Retries:
        Value: !Ref Retries
      Label:
        Value: !Ref Label
      Second:
        Value: !Select [1, !Ref Sizes]
"""

SAMCONFIG = """
    version = 0.1
    [default.global.parameters]
    stack_name = "from-global"
    region = "eu-west-1"
    parameter_overrides = "Stage=staging Label=global"

    [default.deploy.parameters]
    stack_name = "from-deploy"
    parameter_overrides = "Label='from deploy'"

    [prod.deploy.parameters]
    stack_name = "prod-stack"
    parameter_overrides = ["Stage=prod", "Retries=1"]
"""


def test_defaults_apply_without_samconfig_or_overrides(write_template: Callable[..., Path]) -> None:
    # Given a template alone
    path = write_template(TEMPLATE)

    # When it is loaded
    stack = load_stack(path)

    # Then every parameter has its default, lists resolve to lists
    assert stack.parameters == {"Stage": "dev", "Retries": "2", "Label": "plain", "Sizes": "a,b"}
    assert stack.outputs["Second"] == "b"
    assert (stack.name, stack.region) == ("sam-app", "us-east-1")


def test_samconfig_deploy_wins_over_global_and_overrides_win_over_both(
    write_template: Callable[..., Path],
) -> None:
    # Given samconfig values in global and deploy sections
    path = write_template(TEMPLATE, samconfig=SAMCONFIG)

    # When loaded with an override for one parameter
    stack = load_stack(path, parameter_overrides={"Stage": "prod"})

    # Then the override wins, deploy beats global, global beats the default
    assert stack.parameters["Stage"] == "prod"
    assert stack.parameters["Label"] == "from deploy"
    assert stack.name == "from-deploy"
    assert stack.region == "eu-west-1"


def test_config_env_selects_its_own_section(write_template: Callable[..., Path]) -> None:
    path = write_template(TEMPLATE, samconfig=SAMCONFIG)

    stack = load_stack(path, config_env="prod")

    assert stack.name == "prod-stack"
    assert stack.parameters["Stage"] == "prod"
    assert stack.parameters["Retries"] == "1"


def test_explicit_stack_name_and_region_win_over_samconfig(write_template: Callable[..., Path]) -> None:
    path = write_template(TEMPLATE, samconfig=SAMCONFIG)

    stack = load_stack(path, stack_name="given", region="ap-south-1")

    assert (stack.name, stack.region) == ("given", "ap-south-1")


def test_unknown_config_env_is_an_error(write_template: Callable[..., Path]) -> None:
    path = write_template(TEMPLATE, samconfig=SAMCONFIG)

    with pytest.raises(TemplateError, match="no config environment 'qa'"):
        load_stack(path, config_env="qa")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Stage": "qa"}, r"parameter Stage: 'qa' is not one of the allowed values \(dev, staging, prod\)"),
        ({"Retries": "3"}, "parameter Retries: 3 is above the maximum 2"),
        ({"Retries": "-1"}, "parameter Retries: -1 is below the minimum 0"),
        ({"Retries": "two"}, "parameter Retries: 'two' is not a number"),
        ({"Nope": "1"}, "parameter Nope: the template declares no such parameter"),
    ],
)
def test_invalid_values_raise_an_error_naming_the_parameter(
    write_template: Callable[..., Path], overrides: dict[str, str], message: str
) -> None:
    path = write_template(TEMPLATE)

    with pytest.raises(TemplateError, match=message):
        load_stack(path, parameter_overrides=overrides)


def test_a_parameter_without_default_or_value_is_an_error(write_template: Callable[..., Path]) -> None:
    path = write_template("""
        Parameters:
          Needed:
            Type: String
        Resources:
          Queue:
            Type: AWS::SQS::Queue
    """)

    with pytest.raises(TemplateError, match="parameter Needed has no default"):
        load_stack(path)


def test_number_parameters_accept_allowed_values_written_as_numbers(
    write_template: Callable[..., Path],
) -> None:
    # Given AllowedValues written as YAML numbers
    path = write_template("""
        Parameters:
          Days:
            Type: Number
            Default: 30
            AllowedValues: [7, 30]
        Resources:
          Queue:
            Type: AWS::SQS::Queue
    """)

    # When the override is text, as on a command line
    stack = load_stack(path, parameter_overrides={"Days": "7"})

    assert stack.parameters["Days"] == "7"


def test_sam_style_override_strings_are_parsed() -> None:
    overrides = parse_parameter_overrides("Stage=prod Label='two words' Other=\"x=y\"")
    assert overrides == {"Stage": "prod", "Label": "two words", "Other": "x=y"}


def test_cloudformation_style_overrides_are_parsed() -> None:
    overrides = parse_parameter_overrides(["ParameterKey=Stage,ParameterValue=prod"])
    assert overrides == {"Stage": "prod"}


def test_malformed_override_is_an_error() -> None:
    with pytest.raises(TemplateError, match="'Stage' is not KEY=VALUE"):
        parse_parameter_overrides("Stage")


def test_samconfig_yaml_is_read_when_there_is_no_toml(tmp_path: Path) -> None:
    (tmp_path / "samconfig.yaml").write_text(
        "version: 0.1\ndefault:\n  deploy:\n    parameters:\n      stack_name: from-yaml\n"
    )

    assert read_samconfig(tmp_path).stack_name == "from-yaml"


def test_broken_samconfig_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text("[default\n")

    with pytest.raises(TemplateError, match=r"samconfig\.toml"):
        read_samconfig(tmp_path)
