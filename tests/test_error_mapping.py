"""A1111's three error shapes become one clear sentence, with a restart only when A1111 broke."""

from __future__ import annotations

import pytest

from sdworker.a1111_client import error_from_response
from sdworker.errors import EngineError, JobError

ROUTE = "/sdapi/v1/txt2img"


def test_validation_422_names_the_field():
    body = {"detail": [{"loc": ["body", "width"], "msg": "value is not a valid integer"}]}
    err = error_from_response(422, body, ROUTE)
    assert type(err) is JobError
    assert "width: value is not a valid integer" in err.message
    assert "refresh_worker" not in err.to_result()


def test_a1111_handler_4xx_keeps_its_detail():
    body = {"error": "HTTPException", "detail": "Sampler not found", "body": "", "errors": ""}
    err = error_from_response(404, body, ROUTE)
    assert type(err) is JobError and "Sampler not found" in err.message


def test_a1111_500_from_a_bad_request_is_not_a_restart():
    body = {"error": "ZeroDivisionError", "detail": "", "body": "", "errors": "division by zero"}
    err = error_from_response(500, body, ROUTE)
    assert type(err) is JobError
    assert "ZeroDivisionError" in err.message and "division by zero" in err.message


@pytest.mark.parametrize(
    "errors",
    ["CUDA error: an illegal memory access was encountered", "CUDA error: device-side assert"],
)
def test_a1111_500_with_a_broken_cuda_context_asks_for_a_new_worker(errors):
    body = {"error": "RuntimeError", "detail": "", "body": "", "errors": errors}
    err = error_from_response(500, body, ROUTE)
    assert isinstance(err, EngineError)
    assert err.to_result() == {"error": err.message, "refresh_worker": True}


@pytest.mark.parametrize("status", [502, 503, 504, 500])
def test_5xx_without_a1111_shape_is_an_engine_fault(status):
    err = error_from_response(status, "Internal Server Error", ROUTE)
    assert isinstance(err, EngineError) and str(status) in err.message


def test_routing_404_says_the_route_is_missing():
    err = error_from_response(404, {"detail": "Not Found"}, "/sdapi/v1/nope")
    assert type(err) is JobError and "/sdapi/v1/nope" in err.message
