import pickle
import shutil

import av
import pytest

from vidlift.data.video import (
    BackendUnavailableError,
    SegmentSampler,
    VideoDecodeError,
    decode,
    get_backend,
    probe,
    read_video,
)
from vidlift.data.video.backends import BACKENDS, available_backends

BACKENDS_HERE = [b for b in ("pyav", "opencv") if b in available_backends()]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("bad")
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    text = folder / "notes.mp4"
    text.write_text("this is a text file, not a video\n" * 50)
    return {"empty": str(empty), "text": str(text), "missing": str(folder / "missing.mp4")}


def _assert_names_file(err: VideoDecodeError, path: str, reason: str | None = None):
    assert err.path == path
    assert path in str(err)
    if reason:
        assert reason in err.reason


@pytest.mark.parametrize("backend", BACKENDS_HERE)
@pytest.mark.parametrize("kind, reason", [("empty", "empty (0 bytes)"), ("text", None), ("missing", "no such file")])
def test_unreadable_files_raise_typed_error(bad_files, backend, kind, reason):
    path = bad_files[kind]
    with pytest.raises(VideoDecodeError) as info:
        decode(path, [0], backend=backend)
    _assert_names_file(info.value, path, reason)


def test_text_file_error_keeps_ffmpeg_cause(bad_files):
    with pytest.raises(VideoDecodeError) as info:
        probe(bad_files["text"])
    assert isinstance(info.value.__cause__, av.FFmpegError)
    assert "not a readable media container" in info.value.reason


def test_audio_only_file_has_no_video_stream(audio_only):
    with pytest.raises(VideoDecodeError) as info:
        probe(audio_only)
    _assert_names_file(info.value, audio_only, "no video stream")
    assert "audio" in info.value.reason
    with pytest.raises(VideoDecodeError):
        read_video(audio_only, SegmentSampler(4))


@pytest.mark.parametrize("backend", BACKENDS_HERE)
def test_truncated_real_mp4(real_clips, tmp_path, backend):
    # bikes.mp4 keeps its index (moov) at the end: half the file has no index at all.
    path = str(tmp_path / "bikes_truncated.mp4")
    data = open(real_clips["bikes.mp4"], "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError) as info:
        decode(path, [0, 10], backend=backend)
    _assert_names_file(info.value, path)


def test_truncated_faststart_mp4_clamps_to_last_decodable_frame(tmp_path):
    # Index first, data cut: the header promises 96 frames, fewer exist. Indices past the
    # cut clamp to the last frame that decodes, with every strategy.
    from tests.videos import read_indices, write_video

    full = write_video(tmp_path / "full.mp4", 96, gop=12, container_options={"movflags": "faststart"})
    data = open(full, "rb").read()
    cut = str(tmp_path / "cut.mp4")
    with open(cut, "wb") as f:
        f.write(data[: int(len(data) * 0.6)])
    assert probe(cut).num_frames == 96
    results = {s: read_indices(decode(cut, [0, 20, 95], strategy=s)) for s in ("sequential", "seek", "auto")}
    first = results["sequential"]
    assert first[:2] == [0, 20] and 20 < first[2] < 95
    assert all(r == first for r in results.values())


def test_truncated_header_raises(tmp_path, clips):
    path = str(tmp_path / "header_only.mp4")
    with open(clips["h264_mp4"].path, "rb") as f:
        head = f.read(40)
    with open(path, "wb") as f:
        f.write(head)
    with pytest.raises(VideoDecodeError) as info:
        decode(path, [0])
    _assert_names_file(info.value, path)


def test_directory_raises(tmp_path):
    with pytest.raises(VideoDecodeError, match="directory"):
        probe(tmp_path)


def test_error_is_runtime_error_and_pickles():
    err = VideoDecodeError("/data/clip.mp4", "truncated")
    assert isinstance(err, RuntimeError)
    assert str(err) == "cannot decode video '/data/clip.mp4': truncated"
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.reason, str(back)) == (err.path, err.reason, str(err))


def test_missing_backend_names_pip_package(monkeypatch):
    monkeypatch.setattr(BACKENDS["decord"], "module", "vidlift_test_no_such_module")
    with pytest.raises(BackendUnavailableError) as info:
        get_backend("decord")
    msg = str(info.value)
    assert "'decord'" in msg and "pip install 'vidlift[decord]'" in msg
    assert isinstance(info.value, ImportError)
    assert "decord" not in available_backends()


def test_backend_that_fails_to_load_is_unavailable(monkeypatch, tmp_path):
    # torchcodec raises OSError at import when FFmpeg libraries are missing.
    (tmp_path / "broken_codec_lib.py").write_text("raise OSError('libavcodec.so.61: cannot open')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(BACKENDS["torchcodec"], "module", "broken_codec_lib")
    with pytest.raises(BackendUnavailableError) as info:
        decode("whatever.mp4", [0], backend="torchcodec")
    msg = str(info.value)
    assert "pip install 'vidlift[torchcodec]'" in msg and "libavcodec.so.61" in msg


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="pyav"):
        get_backend("ffmpeg-cli")


def test_backend_error_pickles():
    err = BackendUnavailableError("decord", "decord", "detail")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err)


def test_copy_of_good_file_still_decodes(tmp_path, clips):
    # Guard against the error checks rejecting valid files by name or location.
    path = tmp_path / "copy.bin"
    shutil.copy(clips["h264_mp4"].path, path)
    assert decode(path, [5]).shape == (1, 48, 64, 3)
