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
