"""The interrogators on the real A1111: what BAKE_INTERROGATORS=1 lays out is what they read.

`clip` needs BLIP's weights, BLIP's bert-base-uncased tokenizer (from the Hugging Face cache,
offline), CLIP's ViT-L-14.pt and the category lists. The real files cannot be downloaded here,
and CLIP's cannot be faked (openai CLIP checks its sha256), so: the tokenizer is laid out by
docker/fetch_models.py from a vocabulary made here, and BLIP's own loader reads it offline; with
everything but ViT-L-14.pt in place the worker refuses naming that file alone. `deepdanbooru`
runs end to end with a random-weight model of A1111's own architecture, in its folder and from
the network volume through start.sh's link.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.engine.launch import RealWorker
from tests.helpers import png_b64
from tests.real.engine_files import for_the_test, make_tool_weights
from tests.real.test_real_refusals import refused

ROOT = Path(__file__).resolve().parents[2]
FETCH_MODELS = ROOT / "docker" / "fetch_models.py"
# The commit models/_tools/manifest.json pins (the cache's snapshot is named after it).
BERT_REV = "86b5e0934494bd15c9632b12f734a8a67f723594"
# A small uncased WordPiece vocabulary in BERT's order: special tokens where BERT has them.
VOCAB = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB += ["a", "red", "light", "##house"]
LISTS = ("artists", "flavors", "mediums", "movements")
# BLIP's loader, as A1111 calls it (with the same stand-in for fairscale, which it does not need).
LOAD_TOKENIZER = """
import json, sys
fake = type("FakeFairscale", (), {"checkpoint_wrapper": None})
sys.modules["fairscale.nn.checkpoint.checkpoint_activations"] = fake
from models.blip import init_tokenizer
t = init_tokenizer()
print(json.dumps({"tokens": t.tokenize("A red Lighthouse"), "bos": t.bos_token_id,
                  "enc": t.enc_token_id}))
"""


def laid_out_tokenizer(dest: Path) -> Path:
    """BLIP's tokenizer as the image's tools stage lays it out; returns its HF_HOME."""
    local = dest / "tools"
    vocab = ("\n".join(VOCAB) + "\n").encode()
    (local / "bert-base-uncased").mkdir(parents=True)
    (local / "bert-base-uncased" / "vocab.txt").write_bytes(vocab)
    url = f"https://huggingface.co/bert-base-uncased/resolve/{BERT_REV}/vocab.txt"
    entry = {"target": "bert-base-uncased/vocab.txt", "url": url, "optional": True}
    entry["sha256"] = hashlib.sha256(vocab).hexdigest()
    (local / "manifest.json").write_text(json.dumps({"name": "tools", "files": [entry]}))
    command = [sys.executable, FETCH_MODELS, "fetch", "--include-optional"]
    command += ["--manifest", local / "manifest.json", "--local-dir", local, "--dest", dest / "out"]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return dest / "out" / "hf-home"


def load_tokenizer(engine: Path, hf_home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    env["TRANSFORMERS_OFFLINE"] = "1"
    return subprocess.run(
        [engine / "venv" / "bin" / "python", "-c", LOAD_TOKENIZER],
        cwd=engine / "webui" / "repositories" / "BLIP",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_blip_loads_its_tokenizer_offline_from_the_baked_hugging_face_cache(
    engine_session, tmp_path
):
    hf_home = laid_out_tokenizer(tmp_path)
    loaded = load_tokenizer(engine_session.root, hf_home)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    tokenizer = json.loads(loaded.stdout.strip().splitlines()[-1])
    # uncased, as bert-base-uncased is; BLIP's two added tokens follow the vocabulary
    assert tokenizer == {"tokens": ["a", "red", "light", "##house"], "bos": 108, "enc": 109}
    # Without the cache (an image built without BAKE_INTERROGATORS=1) BLIP cannot start.
    shutil.rmtree(hf_home / "hub")
    missing = load_tokenizer(engine_session.root, hf_home)
    assert missing.returncode != 0 and "bert-base-uncased" in missing.stderr


@contextlib.contextmanager
def placed(files: dict[Path, bytes]):
    """Files put in the engine for one test (those not there already)."""
    made = {path: data for path, data in files.items() if not path.exists()}
    with for_the_test(*made):
        for path, data in made.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        yield


def test_clip_with_everything_but_openai_clips_file_is_refused_naming_that_file(real, tmp_path):
    engine = Path(real.engine)
    webui = engine / "webui"
    cache = engine / "hf-home" / "hub" / "models--bert-base-uncased"
    files = {
        webui / "models" / "BLIP" / "model_base_caption_capfilt_large.pth": b"BLIP stand-in",
        cache / "refs" / "main": BERT_REV.encode(),
        cache / "snapshots" / BERT_REV / "vocab.txt": "\n".join(VOCAB).encode(),
        **{webui / "interrogate" / f"{name}.txt": b"an entry\n" for name in LISTS},
    }
    assert not (Path.home() / ".cache" / "clip" / "ViT-L-14.pt").exists()
    with placed(files):
        error = refused(real, {"api": "interrogate", "image": png_b64(32, 32), "model": "clip"})
    assert "interrogator 'clip'" in error and "ViT-L-14.pt" in error
    for present in ("model_base_caption_capfilt_large.pth", "vocab.txt", "flavors.txt"):
        assert present not in error
    assert "BAKE_INTERROGATORS=1" in error


DANBOORU_FILE = "model-resnet_custom_v3.pt"
DANBOORU_JOB = {
    "api": "interrogate",
    "image": png_b64(64, 64, (200, 40, 40)),
    "model": "deepdanbooru",
}


def assert_tagged(answer: dict) -> None:
    assert answer["status"] == "COMPLETED", answer
    tags = answer["output"]["caption"].split(", ")
    # A random model's scores sit around 0.5 (A1111's threshold): many of its synthetic tags.
    assert len(tags) > 100 and all(tag.startswith("tag ") for tag in tags)
    assert len(set(tags)) == len(tags)


def test_deepdanbooru_tags_an_image_once_its_file_is_in_its_folder(real):
    target = Path(real.engine) / "webui" / "models" / "torch_deepdanbooru" / DANBOORU_FILE
    with for_the_test(target):
        make_tool_weights(Path(real.engine), "--deepdanbooru", target)
        assert_tagged(real.runsync(DANBOORU_JOB))


def test_deepdanbooru_on_the_network_volume_is_linked_by_start_sh_and_used(
    engine_session, tmp_path
):
    """An image built without BAKE_INTERROGATORS=1, the weights on the volume: A1111 finds the
    file through start.sh's link (a fresh A1111, which has no DeepDanbooru loaded yet)."""
    volume = tmp_path / "volume"
    on_volume = volume / "deepdanbooru" / DANBOORU_FILE
    link = engine_session.root / "webui" / "models" / "torch_deepdanbooru"
    link /= "runpod-volume-deepdanbooru"
    engine_session.stop()  # one real A1111 at a time; the next test gets a fresh one
    worker = RealWorker(engine_session.root, tmp_path / "run", MODELS_VOLUME_DIR=str(volume))
    with for_the_test(link, on_volume):
        make_tool_weights(engine_session.root, "--deepdanbooru", on_volume)
        try:
            worker.start()
            answer = worker.runsync(DANBOORU_JOB)
        finally:
            worker.stop()
        assert link.is_symlink()
    assert_tagged(answer)
