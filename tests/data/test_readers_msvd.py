"""MSVD reader: AllVideoDescriptions.txt captions, split lists, no unpickling, errors naming file and line."""

import pickle

import pytest

from vidlift.data.datasets import AnnotationError, MissingVideosError, read_msvd

CAPTIONS = """\
# Each line: <clip_id> <description>
# clip_id is <youtube_id>_<start>_<end>

-4wsuPCjDBc_5_15 a squirrel is eating a peanut in it's shell
-4wsuPCjDBc_5_15 A chipmunk is eating.
-7KMZQEsJW4_205_208 a woman is slicing a tomato
-4wsuPCjDBc_5_15   a squirrel is eating
zv2RIbUsnSw_159_165 a man is playing a guitar
"""


@pytest.fixture
def root(tmp_path):
    (tmp_path / "AllVideoDescriptions.txt").write_text(CAPTIONS)
    (tmp_path / "test_list.txt").write_text("zv2RIbUsnSw_159_165\n-4wsuPCjDBc_5_15\n")
    videos = tmp_path / "YouTubeClips"
    videos.mkdir()
    for vid in ("-4wsuPCjDBc_5_15", "-7KMZQEsJW4_205_208", "zv2RIbUsnSw_159_165"):
        (videos / f"{vid}.avi").write_bytes(b"")
    return tmp_path


def test_captions_grouped_per_video_in_file_order(root):
    videos = read_msvd(root / "AllVideoDescriptions.txt", root / "YouTubeClips")
    assert [(v.video_id, v.line, v.split) for v in videos] == [
        ("-4wsuPCjDBc_5_15", 4, None), ("-7KMZQEsJW4_205_208", 6, None), ("zv2RIbUsnSw_159_165", 8, None)]
    assert videos[0].captions == ("a squirrel is eating a peanut in it's shell", "A chipmunk is eating.",
                                  "a squirrel is eating")
    assert videos[0].video_path.name == "-4wsuPCjDBc_5_15.avi" and videos.missing == ()


def test_split_list_selects_and_orders(root):
    videos = read_msvd(root / "AllVideoDescriptions.txt", split_list=root / "test_list.txt")
    assert [(v.video_id, v.split, len(v.captions)) for v in videos] == [
        ("zv2RIbUsnSw_159_165", "test", 1), ("-4wsuPCjDBc_5_15", "test", 3)]
    assert all(v.video_path is None for v in videos)


@pytest.mark.parametrize("list_text, line, message", [
    ("zv2RIbUsnSw_159_165\n\nnot_a_video_1_2\n", 3, "video 'not_a_video_1_2' has no captions in"),
    ("zv2RIbUsnSw_159_165\nzv2RIbUsnSw_159_165\n", 2, "video 'zv2RIbUsnSw_159_165' listed twice (first on line 1)"),
    ("zv2RIbUsnSw_159_165 a man\n", 1, "expected one video id per line"),
])
def test_split_list_errors_name_the_list_and_line(root, list_text, line, message):
    path = root / "val_list.txt"
    path.write_text(list_text)
    with pytest.raises(AnnotationError) as info:
        read_msvd(root / "AllVideoDescriptions.txt", split_list=path)
    assert info.value.line == line and str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_caption_errors_name_file_and_line(root):
    path = root / "captions.txt"
    path.write_text("# header\nvid_1_2 a cat\nvid_3_4\n")
    with pytest.raises(AnnotationError, match=r"captions.txt:3: expected '<video_id> <caption>', got 'vid_3_4'"):
        read_msvd(path)
    path.write_text("# only a header\n\n")
    with pytest.raises(AnnotationError, match=r"captions.txt: no captions found"):
        read_msvd(path)


def test_pickles_are_refused_with_a_conversion_recipe(root):
    path = root / "raw-captions.pkl"
    path.write_bytes(pickle.dumps({"vid_1_2": [["a", "cat"]]}))
    with pytest.raises(AnnotationError) as info:
        read_msvd(path)
    message = str(info.value)
    assert message.startswith(f"{path}: vidlift never unpickles") and "pickle.load(" in message
    # The recipe in the message does what it says.
    recipe = message.split("then read that:\n", 1)[1].replace("raw-captions.pkl", str(path)).replace(
        "msvd_captions.txt", str(root / "converted.txt"))
    exec(compile(recipe, "recipe", "exec"), {})
    (video,) = read_msvd(root / "converted.txt")
    assert (video.video_id, video.captions) == ("vid_1_2", ("a cat",))


def test_missing_videos_are_listed_and_fatal_past_the_ratio(root):
    (root / "YouTubeClips" / "-7KMZQEsJW4_205_208.avi").unlink()
    with pytest.raises(MissingVideosError, match=r"1 of 3 videos \(33.3%\) not found .*-7KMZQEsJW4_205_208 \(line 6\)"):
        read_msvd(root / "AllVideoDescriptions.txt", root / "YouTubeClips")
    videos = read_msvd(root / "AllVideoDescriptions.txt", root / "YouTubeClips", max_missing_ratio=0.5)
    assert len(videos) == 2 and [(m.video_id, m.line) for m in videos.missing] == [("-7KMZQEsJW4_205_208", 6)]
