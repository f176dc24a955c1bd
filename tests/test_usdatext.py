"""The usda text printed for the USD writer parses back to exactly the values printed."""

import math

import numpy as np
import pytest

from twin3d.usd import usdatext as ut


def parse(body: str):
    """``body`` inside a prim ``/P`` parsed by Sdf's text parser; returns the layer."""
    from pxr import Sdf

    layer = Sdf.Layer.CreateAnonymous("t.usda")
    assert layer.ImportFromString(f'{ut.HEADER}def "P"\n{{\n{body}\n}}\n')
    return layer


STRINGS = ["", "plain", 'quote " inside', "back\\slash", "new\nline\r\ttab", "\x00\x01\x1f\x7f controls",
           "unicode \u00e9\u00fc\u00df \u2103 \u6e29\u5ea6 \U0001f525", "'single' and \"double\"", "trailing \\"]


@pytest.mark.parametrize("text", STRINGS)
def test_strings_read_back_exactly(text):
    layer = parse(f"string s = {ut.string(text)}")
    assert layer.GetAttributeAtPath("/P.s").default == text


def test_numbers_read_back_exactly():
    rng = np.random.default_rng(0)
    doubles = [0.0, -0.0, 1.0, 0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, -2.5, math.pi,
               *rng.standard_normal(20).tolist()]
    layer = parse("\n".join(f"double d{i} = {ut.number(v)}" for i, v in enumerate(doubles))
                  + f"\ndouble nan = {ut.number(float('nan'))}\ndouble inf = {ut.number(np.inf)}"
                  + f"\ndouble ninf = {ut.number(-np.inf)}\nint i = {ut.number(np.int64(-7))}"
                  + f"\nfloat f = {ut.number(np.float64(0.1))}")
    for i, v in enumerate(doubles):
        got = layer.GetAttributeAtPath(f"/P.d{i}").default
        assert got == v and math.copysign(1, got) == math.copysign(1, v)
    assert math.isnan(layer.GetAttributeAtPath("/P.nan").default)
    assert layer.GetAttributeAtPath("/P.inf").default == math.inf
    assert layer.GetAttributeAtPath("/P.ninf").default == -math.inf
    assert layer.GetAttributeAtPath("/P.i").default == -7
    # a float attribute stores the double's float32 rounding, as the Sdf API does
    assert layer.GetAttributeAtPath("/P.f").default == float(np.float32(0.1))


def test_vectors_matrices_arrays_and_time_samples():
    m = np.arange(16, dtype=float).reshape(4, 4) / 7
    tokens = ut.string_array(["a", "b c", 'd"e'])
    samples = ut.time_samples([1.25, float("nan"), 3.0])
    layer = parse(f"double3 v = {ut.vector((1.5, -2, 1e-9))}\nmatrix4d m = {ut.matrix(m)}\n"
                  f"token[] t = {tokens}\ndouble s.timeSamples = {samples}")
    assert tuple(layer.GetAttributeAtPath("/P.v").default) == (1.5, -2.0, 1e-9)
    np.testing.assert_array_equal(np.array(layer.GetAttributeAtPath("/P.m").default), m)
    assert list(layer.GetAttributeAtPath("/P.t").default) == ["a", "b c", 'd"e']
    samples = layer.GetAttributeAtPath("/P.s").GetInfo("timeSamples")
    assert list(samples) == [0.0, 1.0, 2.0] and samples[0.0] == 1.25 and math.isnan(samples[1.0])
    colors = ut.time_samples_text([f"[(0.1, 0.25, {float(np.float32(0.3))!r})]", "[(1.0, 0.0, -0.0)]"])
    arrays = ut.time_samples(np.array([[0.5], [1e-9]]).tolist())
    layer = parse(f"color3f[] c.timeSamples = {colors}\nfloat[] f.timeSamples = {arrays}")
    c = layer.GetAttributeAtPath("/P.c").GetInfo("timeSamples")
    assert [tuple(v[0]) for v in c.values()] == [tuple(np.float32([0.1, 0.25, 0.3]).tolist()), (1.0, 0.0, 0.0)]
    f = layer.GetAttributeAtPath("/P.f").GetInfo("timeSamples")
    assert [list(v) for v in f.values()] == [[0.5], [float(np.float32(1e-9))]]


def test_typed_dictionaries():
    d = {"unit": 'k"g', "n": 3, "ok": True, "x": 0.5, "clim": [0.0, 2.5], "arr": np.array([1.0, 2.0]),
         "nested": {"key with space": "v", "deeper": {"a": -1}}}
    layer = parse(f'def "Q" (\ncustomData = {ut.dictionary(d)}\n)\n{{\n}}')
    got = dict(layer.GetPrimAtPath("/P/Q").customData)
    assert got["unit"] == 'k"g' and got["n"] == 3 and got["ok"] is True and got["x"] == 0.5
    assert list(got["clim"]) == [0.0, 2.5] and list(got["arr"]) == [1.0, 2.0]
    assert got["nested"] == {"key with space": "v", "deeper": {"a": -1}}
    with pytest.raises(TypeError, match="object"):
        ut.dictionary({"bad": object()})


FLOAT32_CASES = [0.0, -0.0, 0.1, 1 / 3, 0.929411768913269, 1e-5, 1e-45, -1e-40, 1.17549435e-38, 3.4028234663852886e38,
                 3.5e38, -1e300, 16777217.0, 0.15466375406273797, float("nan"), float("inf"), float("-inf")]


def same_float32(got, want) -> bool:
    """``got`` is ``want`` rounded to float32, bit for bit (nan as nan)."""
    with np.errstate(over="ignore"):
        w = np.float32(want)
    return bool(np.isnan(w) and math.isnan(got)) or (got == w and math.copysign(1, got) == math.copysign(1, w))


def test_float32_texts_read_back_as_the_same_float32():
    texts = ut.float32_texts(FLOAT32_CASES)
    assert texts[2] == "0.1" and texts[14:] == ["nan", "inf", "-inf"]  # shortest, not 0.10000000149011612
    layer = parse("\n".join(f"float f{i} = {t}\ncolor3f[] c{i} = [({t}, {t}, 0.5)]" for i, t in enumerate(texts)))
    for i, v in enumerate(FLOAT32_CASES):
        assert same_float32(layer.GetAttributeAtPath(f"/P.f{i}").default, v), (v, texts[i])
        assert same_float32(layer.GetAttributeAtPath(f"/P.c{i}").default[0][0], v), (v, texts[i])


def test_float32_array_samples_read_back_as_the_same_float32():
    rng = np.random.default_rng(1)
    values = np.concatenate([np.array(FLOAT32_CASES)[None], rng.standard_normal((3, len(FLOAT32_CASES))) * 10.0 ** rng.integers(-30, 30, (3, len(FLOAT32_CASES)))])
    texts = ut.float32_array_samples(values)
    assert len(texts) == 4 and texts[0].startswith("{0: [0], 1: [-0], 2: [0.100000001], ")
    layer = parse("\n".join(f"float[] a{i}.timeSamples = {t}" for i, t in enumerate(texts)))
    for i, row in enumerate(values):
        samples = layer.GetAttributeAtPath(f"/P.a{i}").GetInfo("timeSamples")
        assert list(samples) == list(range(len(row)))
        for t, v in enumerate(row):
            assert len(samples[t]) == 1 and same_float32(samples[t][0], v), (v, texts[i])
    with pytest.raises(ValueError, match="2-D"):
        ut.float32_array_samples(np.zeros(3))
