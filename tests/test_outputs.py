"""The output side: formats, per-image details, uploads to a real S3 API, the size guard,
and images given as URLs. Through the runpod SDK to the stand-in over HTTP."""

from __future__ import annotations

import base64
import io

import pytest
import requests
from PIL import ExifTags, Image

from sdworker.config import Settings
from sdworker.worker import Worker
from tests.helpers import png_b64, run_job, serve_files
from tests.s3_server import S3Server

JOB = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 2, "seed": 11}


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_auth():
    server = S3Server(auth=True)
    yield server
    server.stop()


def make_worker(a1111, bucket=None, **settings) -> Worker:
    return Worker(Settings(webui_url=a1111.url, ready_timeout=10, bucket=bucket, **settings))


def user_comment(img: Image.Image) -> str:
    raw = img.getexif().get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment]
    assert raw.startswith(b"UNICODE\x00")
    return raw[8:].decode("utf-16-be")


def open_b64(b64: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def test_png_is_a1111_bytes_untouched(a1111):
    out = run_job(make_worker(a1111).handle, JOB)["output"]
    _, direct = a1111.call("POST", "/sdapi/v1/txt2img", JOB)
    assert out["images"] == direct["images"]
    assert out["image_details"] == [{"seed": 11, "format": "png", "width": 64, "height": 64}]
    assert out["output"] == "base64"


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_transcoded_images_keep_size_and_parameters(a1111, fmt):
    out = run_job(make_worker(a1111).handle, {**JOB, "output_format": fmt})["output"]
    img = open_b64(out["images"][0])
    assert img.format == fmt.upper() and img.size == (64, 64)
    assert "a lighthouse at dusk" in user_comment(img) and "Seed: 11" in user_comment(img)
    assert out["image_details"][0]["format"] == fmt


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_quality_changes_the_encoding(a1111, fmt):
    handler = make_worker(a1111).handle
    job = {**JOB, "width": 256, "height": 256, "output_format": fmt}
    low = run_job(handler, {**job, "output_quality": 10})["output"]["images"][0]
    high = run_job(handler, {**job, "output_quality": 95})["output"]["images"][0]
    assert len(low) < len(high) * 0.7


def test_lossless_webp_keeps_every_pixel(a1111):
    handler = make_worker(a1111).handle
    png = run_job(handler, JOB)["output"]["images"][0]
    webp = run_job(handler, {**JOB, "output_format": "webp", "output_lossless": True})
    assert open_b64(webp["output"]["images"][0]).convert("RGB").tobytes() == (
        open_b64(png).convert("RGB").tobytes()
    )


def test_bad_output_options_are_refused(a1111):
    handler = make_worker(a1111).handle
    assert "output_format" in run_job(handler, {**JOB, "output_format": "gif"})["error"]
    assert "output_quality" in run_job(handler, {**JOB, "output_quality": 0})["error"]
    assert a1111.stats()["counts"].get("POST /sdapi/v1/txt2img", 0) == 0


def test_url_output_without_a_bucket_is_refused_before_generating(a1111):
    result = run_job(make_worker(a1111).handle, {**JOB, "output": "url"})
    assert result["error"].startswith("output: 'url' needs a bucket, and this worker has none")
    assert "BUCKET_ENDPOINT_URL" in result["error"] and "output: 'base64'" in result["error"]
    assert "output" not in result and "stopPod" not in result
    assert a1111.stats()["counts"].get("POST /sdapi/v1/txt2img", 0) == 0


def test_url_output_without_a_bucket_through_the_local_api(local_api):
    """What the client sees locally is exactly what the message says: the error alone."""
    url, _proc = local_api
    job = {"input": {**JOB, "output": "url"}}
    body = requests.post(url + "/runsync", json=job, timeout=30).json()
    assert body["status"] == "FAILED" and "needs a bucket" in body["error"]
    assert "base64" not in body["error"].replace("output: 'base64'", "")
    assert "output" not in body


def test_failed_upload_through_the_local_api_says_what_the_client_sees(local_api_with, s3_auth):
    bucket = s3_auth.bucket()
    url, _proc = local_api_with(
        BUCKET_ENDPOINT_URL=bucket.endpoint_url,
        BUCKET_ACCESS_KEY_ID="AKIANOTAKEY",
        BUCKET_SECRET_ACCESS_KEY="wrong",
        BUCKET_NAME=bucket.name,
    )
    body = requests.post(url + "/runsync", json={"input": {**JOB, "output": "url"}}, timeout=60)
    body = body.json()
    assert body["status"] == "FAILED" and "InvalidAccessKeyId" in body["error"]
    # the SDK's local server drops the output of a failed job, and the message says so
    assert "output" not in body
    assert "the SDK's local test server shows only the error" in body["error"]


def test_url_output_uploads_to_s3(a1111, s3):
    handler = make_worker(a1111, bucket=s3.bucket()).handle
    result = run_job(handler, {**JOB, "batch_size": 2, "output": "url", "output_format": "webp"})
    out = result["output"]
    assert out["output"] == "url" and len(out["images"]) == 2
    job_id = out["images"][0].split(s3.url + "/worker-output/")[1].split("/")[0]
    stored = s3.objects(job_id)
    assert sorted(stored) == [f"{job_id}/0.webp", f"{job_id}/1.webp"]
    for url in out["images"]:
        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200
        key = url.split("/worker-output/")[1].split("?")[0]
        assert fetched.content == stored[key]
        assert Image.open(io.BytesIO(fetched.content)).format == "WEBP"


def test_png_uploads_are_a1111_bytes(a1111, s3):
    handler = make_worker(a1111, bucket=s3.bucket()).handle
    out = run_job(handler, {**JOB, "output": "url"})["output"]
    _, direct = a1111.call("POST", "/sdapi/v1/txt2img", JOB)
    assert requests.get(out["images"][0], timeout=10).content == base64.b64decode(
        direct["images"][0]
    )


def test_bad_credentials_give_a_clear_error(a1111, s3_auth):
    good = run_job(make_worker(a1111, bucket=s3_auth.bucket()).handle, {**JOB, "output": "url"})
    assert good["output"]["output"] == "url" and s3_auth.objects()
    bucket = s3_auth.bucket(access_key_id="AKIANOTAKEY", secret_access_key="wrong")
    result = run_job(make_worker(a1111, bucket=bucket).handle, {**JOB, "output": "url"})
    assert "InvalidAccessKeyId" in result["error"] and "worker-output" in result["error"]
    assert "stopPod" not in result
    # the job is not lost: on RunPod its images come back inline, beside the error
    assert "On RunPod the images come back as base64 in this job's output" in result["error"]
    assert open_b64(result["output"]["images"][0]).size == (64, 64)


def test_failed_upload_of_an_oversized_result_is_only_an_error(a1111, s3_auth):
    bucket = s3_auth.bucket(access_key_id="AKIANOTAKEY", secret_access_key="wrong")
    worker = make_worker(a1111, bucket=bucket, max_result_bytes=20_000)
    result = run_job(worker.handle, {**JOB, "batch_size": 4, "output": "url"})
    assert "InvalidAccessKeyId" in result["error"] and "output" not in result


def test_unreachable_bucket_gives_a_clear_error(a1111, s3):
    from tests.conftest import free_port

    bucket = s3.bucket(endpoint_url=f"http://127.0.0.1:{free_port()}")
    result = run_job(make_worker(a1111, bucket=bucket).handle, {**JOB, "output": "url"})
    assert "upload to bucket" in result["error"] and "failed" in result["error"]


def test_size_guard_without_bucket_says_what_to_do(a1111):
    handler = make_worker(a1111, max_result_bytes=20_000).handle
    result = run_job(handler, {**JOB, "batch_size": 4})
    message = result["error"]
    assert "MB" in message and "MAX_RESULT_BYTES" in message
    assert "output: 'url'" in message and "webp" in message
    assert "output" not in result


def test_size_guard_with_bucket_uploads_and_says_so(a1111, s3):
    handler = make_worker(a1111, bucket=s3.bucket(), max_result_bytes=20_000).handle
    out = run_job(handler, {**JOB, "batch_size": 4})["output"]
    assert out["output"] == "url" and len(out["images"]) == 4
    assert "uploaded" in out["note"]
    assert all(requests.get(u, timeout=10).status_code == 200 for u in out["images"])


# --- incoming images as URLs --------------------------------------------------------------


@pytest.fixture
def image_host():
    files = {"/cat.png": base64.b64decode(png_b64(64, 64)), "/not-image.png": b"hello"}
    with serve_files(files) as url:
        yield url


def img2img(url: str) -> dict:
    return {"api": "img2img", "init_images": [url], "width": 64, "height": 64, "steps": 1}


def test_image_url_on_a_private_host_is_refused(a1111):
    result = run_job(make_worker(a1111).handle, img2img("https://127.0.0.1:9/cat.png"))
    assert "init_images" in result["error"] and "refused" in result["error"]
    result = run_job(make_worker(a1111).handle, img2img("http://example.com/cat.png"))
    assert "https" in result["error"]
    assert a1111.stats()["counts"].get("POST /sdapi/v1/img2img", 0) == 0


def test_image_url_is_downloaded_and_sent_as_base64(a1111, image_host, monkeypatch):
    # The SDK's own switch for trusted private hosts; this test's host is loopback.
    monkeypatch.setenv("RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS", "true")
    result = run_job(make_worker(a1111).handle, img2img(image_host + "/cat.png"))
    assert "error" not in result, result
    bad = run_job(make_worker(a1111).handle, img2img(image_host + "/not-image.png"))
    assert "not a readable image" in bad["error"]
    missing = run_job(make_worker(a1111).handle, img2img(image_host + "/nope.png"))
    assert "HTTP 404" in missing["error"]
    big = run_job(make_worker(a1111, max_image_bytes=100).handle, img2img(image_host + "/cat.png"))
    assert "size cap" in big["error"] or "limit" in big["error"]
    assert a1111.stats()["counts"].get("POST /sdapi/v1/img2img", 0) == 1
