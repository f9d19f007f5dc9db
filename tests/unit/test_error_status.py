"""One table maps errors to HTTP statuses and back (`mintaka_core.exceptions.ERROR_STATUS`): what
the server answers with, the HTTP client raises again."""

from __future__ import annotations

import pytest

from mintaka_core.exceptions import (
    ERROR_STATUS,
    Conflict,
    InvalidRequest,
    MintakaError,
    ObjectNotFound,
    StoreBusy,
    Unauthorized,
    error_for_status,
    status_for,
)


@pytest.mark.parametrize("error", [Unauthorized, ObjectNotFound, Conflict, InvalidRequest])
def test_a_4xx_error_comes_back_as_itself(error):
    assert error_for_status(status_for(error("x"))) is error


def test_the_most_specific_row_wins_and_the_rest_are_4xx_or_busy():
    class Gone(ObjectNotFound): ...

    assert status_for(Gone("x")) == 404
    assert status_for(MintakaError("x")) == 400 and error_for_status(400) is InvalidRequest
    assert status_for(StoreBusy("x")) == 503
    assert error_for_status(403) is Unauthorized  # a key below the route's scope
    assert error_for_status(413) is InvalidRequest  # any other 4xx
    assert [cls for cls, _ in ERROR_STATUS][-1] is MintakaError  # the catch-all comes last
