from __future__ import annotations

import pytest
from edgebench.errors import NotFoundError, UserInputError, suggest
from edgebench.registry import Registry


def test_register_and_get() -> None:
    reg: Registry[int] = Registry("thing")
    reg.add("alpha", 1)

    @reg.register("beta")
    def beta() -> int:
        return 2

    assert reg.get("alpha") == 1
    assert reg.get("beta") is beta
    assert reg.names() == ["alpha", "beta"]
    assert "alpha" in reg and "gamma" not in reg
    assert len(reg) == 2


def test_unknown_name_suggests_closest() -> None:
    reg: Registry[int] = Registry("runtime")
    reg.add("ort-cpu", 1)
    reg.add("torch", 2)
    with pytest.raises(NotFoundError) as e:
        reg.get("ort-cpx")
    msg = str(e.value)
    assert "unknown runtime 'ort-cpx'" in msg and "Did you mean 'ort-cpu'?" in msg
    assert isinstance(e.value, UserInputError) and isinstance(e.value, ValueError)


def test_no_suggestion_when_nothing_close() -> None:
    assert suggest("zzzz", ["ort-cpu", "torch"]) == ""


def test_double_registration_is_refused() -> None:
    reg: Registry[int] = Registry("model")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", 2)
