import pytest

from tempmodels.params import ParameterError, assigned_names, validate


def test_assigned_names():
    src = 'a = 1\nb: int = 2  # comment\nc, d = 3, 4\nx.y = 5\n'
    assert assigned_names(src) == ["a", "b"]


def test_validate_accepts_declared():
    validate({"n": 1, "lr": 0.1, "dev": "cpu", "ws": [1, 2]}, {"n": 3, "lr": 1, "dev": "cuda", "ws": [4]})


def test_unknown_parameter_names_declared_ones():
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['no_such_param'\].*declares \['n'\]"):
        validate({"n": 1}, {"no_such_param": 1})


@pytest.mark.parametrize("default,value", [(1, "abc"), ("cpu", 3), (True, 1), (1, 0.5), ([1], 1)])
def test_wrong_type(default, value):
    with pytest.raises(ParameterError, match="expects"):
        validate({"p": default}, {"p": value})


@pytest.mark.parametrize("default,value,match", [
    ([0, 1], [], r"'p' must not be empty \(default \[0, 1\]\)"),
    (15, 0, r"'p' must be >= 1 \(default 15\), got 0"),
    (0, -1, r"'p' must not be negative"),
    (0.1, -0.5, r"'p' must not be negative"),
    (0.002, float("nan"), r"'p' must be a finite number"),
])
def test_degenerate_values_are_rejected_naming_the_parameter(default, value, match):
    with pytest.raises(ParameterError, match=match):
        validate({"p": default}, {"p": value})


@pytest.mark.parametrize("default,value", [([0, 1], [3]), (0, 0), (0.1, 0.0), (15, 1), ([], []), ("", "")])
def test_edge_values_that_are_fine(default, value):
    validate({"p": default}, {"p": value})


def test_a_list_given_as_text_says_how_to_pass_lists():
    """papermill's -p passes "[0]" as text: the message says that lists go through -y."""
    with pytest.raises(ParameterError, match=r"-y \"seeds: \[0\]\".*tempmodels.execute -p seeds=\[0\]"):
        validate({"seeds": [0, 1]}, {"seeds": "[0]"})
