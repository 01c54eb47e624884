import pytest

from glasskit.util.arrayspec import format_ranges, parse_array
from glasskit.util.errors import GlasskitError


@pytest.mark.parametrize("text, expected, throttle", [
    ("0-7", list(range(8)), None),
    ("0-9,20,40-50", list(range(10)) + [20] + list(range(40, 51)), None),
    ("0-19999%50", list(range(20000)), 50),
    ("0-10:5", [0, 5, 10], None),
    ("3,1,2,3", [1, 2, 3], None),
    (" 5 ", [5], None),
])
def test_parse_valid(text, expected, throttle):
    spec = parse_array(text)
    assert list(spec.indices) == expected
    assert spec.throttle == throttle


@pytest.mark.parametrize("text", ["5-1", "0-", "a-b", "0-19999%0", "0-3;rm -rf /", "$(reboot)",
                                  "", "-1", "0-3%", "0-3%x", "1,,2", "0-10:0", "0-3 && ls", "1e3",
                                  "`id`", "0-999999999"])
def test_parse_invalid_names_the_problem(text):
    with pytest.raises(GlasskitError) as err:
        parse_array(text)
    assert "--array" in err.value.problem
    assert err.value.fix and "0-19999" in err.value.fix


@pytest.mark.parametrize("indices", [[0], [0, 1, 2, 3, 7, 9, 10], list(range(0, 100, 3)), [5, 6, 100]])
def test_format_roundtrip(indices):
    assert list(parse_array(format_ranges(indices)).indices) == sorted(indices)


def test_format_compacts():
    assert format_ranges([0, 1, 2, 3, 7, 9, 10]) == "0-3,7,9-10"
