"""Wire conversion: every quirk of API.md decodes, anything malformed is a ResponseError."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import operator
import pathlib
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sora2pro import (
    CharacterRequest,
    ImageToVideo,
    Job,
    Request,
    ResponseError,
    TaskState,
    TextToVideo,
    UploadedFile,
)
from sora2pro._wire import (
    decode_credits,
    decode_envelope,
    decode_task,
    decode_task_id,
    decode_upload,
    encode_create,
    encode_task,
    make_converter,
)
from sora2pro._wire._decode import checked_task, quick_task
from sora2pro.testing import EmulatedTask

from .conftest import assert_valid_create_body
from .files import write

CONVERTER = make_converter()
CREATED_MS = 1_765_183_463_848


def record(**overrides: object) -> dict[str, object]:
    """A recordInfo ``data`` object for a finished task, as the provider documents it."""
    data: dict[str, object] = {
        "taskId": "task_sora-2-pro-text-to-video_1765183463848",
        "model": "sora-2-pro-text-to-video",
        "state": "success",
        "param": json.dumps(
            {
                "model": "sora-2-pro-text-to-video",
                "callBackUrl": "https://example.com/cb",
                "input": json.dumps({"prompt": "a dog", "n_frames": "15", "size": "standard"}),
            }
        ),
        "resultJson": json.dumps(
            {"resultUrls": ["https://f/a.mp4"], "resultWaterMarkUrls": ["https://f/w.mp4"]}
        ),
        "failCode": "",
        "failMsg": "",
        "progress": 100,
        "costTime": 15000,
        "createTime": CREATED_MS,
        "updateTime": CREATED_MS + 60_000,
        "completeTime": CREATED_MS + 60_000,
    }
    return data | overrides


def test_documented_task_decodes() -> None:
    """A documented success answer gives every Task field, in Python terms."""
    task = decode_task(CONVERTER, record())
    assert TaskState.SUCCESS is task.state
    assert ("https://f/a.mp4",) == task.result_urls
    assert ("https://f/w.mp4",) == task.watermark_urls
    assert task.fail_code is None
    assert task.fail_message is None
    assert dt.datetime(2025, 12, 8, 8, 44, 23, 848000, tzinfo=dt.UTC) == task.created_at
    assert task.completed_at == task.updated_at
    assert (
        TextToVideo("a dog", n_frames=15, size="standard", callback_url="https://example.com/cb")
        == task.request
    )
    assert task.done


@pytest.mark.parametrize("empty", ["", None])
def test_empty_strings_and_nulls_mean_none(empty: object) -> None:
    """Empty strings and nulls for resultJson, failCode, failMsg and times mean "none"."""
    task = decode_task(
        CONVERTER,
        record(
            state="generating",
            resultJson=empty,
            failCode=empty,
            failMsg=empty,
            completeTime=empty,
            progress=empty,
        ),
    )
    assert ((), None, None, None, None) == (
        task.result_urls,
        task.fail_code,
        task.fail_message,
        task.completed_at,
        task.progress,
    )


def test_missing_optional_fields_are_tolerated() -> None:
    """Only taskId is required; progress, times, param and results may be absent."""
    task = decode_task(CONVERTER, {"taskId": "abc", "state": "waiting"})
    assert ("abc", TaskState.WAITING, None, None) == (
        task.id,
        task.state,
        task.progress,
        task.request,
    )


def test_failure_fields_decode() -> None:
    """A failed task carries its failCode as a string and its message."""
    task = decode_task(
        CONVERTER, record(state="fail", resultJson=None, failCode=500, failMsg="boom")
    )
    assert (TaskState.FAIL, "500", "boom") == (task.state, task.fail_code, task.fail_message)


@pytest.mark.parametrize(
    "text", ['{"n": 1e999}', '{"n": [-1e400]}', '{"n": NaN}', '{"a": "\\ud800"}', '{"\\udc00": 1}']
)
def test_result_json_text_no_json_can_hold_is_refused(text: str) -> None:
    """A resultJson text that reads as NaN, infinity or a lone surrogate is a ResponseError."""
    assert quick_task(CONVERTER, record(resultJson=text), None) is None
    with pytest.raises(ResponseError, match="result_json"):
        checked_task(CONVERTER, record(resultJson=text), None)


def test_result_json_text_with_escapes_and_big_numbers_decodes() -> None:
    """Escaped characters, huge whole numbers and exponents in resultJson read as JSON says."""
    text = '{"resultUrls": ["https://f/\\u00e9.mp4"], "n": 1e300, "big": 123456789012345678901234}'
    task = decode_task(CONVERTER, record(resultJson=text))
    assert task.result_urls == ("https://f/\u00e9.mp4",)
    assert (task.result_object["n"], task.result_object["big"]) == (1e300, 123456789012345678901234)


def test_unknown_keys_are_ignored() -> None:
    """Fields the API adds later do not break decoding."""
    assert "abc" == decode_task(CONVERTER, {"taskId": "abc", "newField": {"x": 1}}).id


def test_unknown_state_is_kept_and_not_final(caplog: pytest.LogCaptureFixture) -> None:
    """An undocumented state becomes UNKNOWN, keeps its raw value, is logged, is not done."""
    task = decode_task(CONVERTER, record(state="paused"))
    assert (TaskState.UNKNOWN, "paused", False) == (task.state, task.raw_state, task.done)
    assert "paused" in caplog.text


def test_numbers_sent_as_strings_decode() -> None:
    """Progress and epoch milliseconds sent as strings are read as numbers."""
    task = decode_task(CONVERTER, record(progress="42", createTime=str(CREATED_MS)))
    assert 42 == task.progress
    assert CREATED_MS / 1000 == task.created_at.timestamp()  # type: ignore[union-attr]


def test_param_input_as_object_or_string() -> None:
    """The input in param decodes whether it is an object or JSON-encoded again."""
    param = {"model": "sora-2-pro-text-to-video", "input": {"prompt": "a cat"}}
    task = decode_task(CONVERTER, record(param=json.dumps(param)))
    assert TextToVideo("a cat") == task.request


def test_param_of_a_model_breaking_its_rules_gives_no_request() -> None:
    """A task of a typed model whose echo breaks that request's rules has request None."""
    param = {"model": "sora-2-characters", "input": {"character_file_url": ["x"]}}
    assert decode_task(CONVERTER, record(param=json.dumps(param))).request is None


def test_param_of_any_other_model_gives_a_job() -> None:
    """A task of a model without a typed request has its echo as a Job; its result as sent."""
    param = {"model": "kling/v2", "input": {"prompt": "a dog", "cfg": 0.5}}
    result = {"resultUrls": ["https://f/a.mp4"], "seed": 3}
    data = record(model="kling/v2", param=json.dumps(param), resultJson=json.dumps(result))
    task = decode_task(CONVERTER, data)
    assert Job("kling/v2", {"prompt": "a dog", "cfg": 0.5}) == task.request
    assert (("https://f/a.mp4",), result) == (task.result_urls, task.result_object)


def test_param_breaking_our_rules_gives_no_request() -> None:
    """A param the client would refuse (an unknown frame count) gives request None, no error."""
    param = {"model": "sora-2-pro-text-to-video", "input": {"prompt": "x", "n_frames": "25"}}
    assert decode_task(CONVERTER, record(param=json.dumps(param))).request is None


@pytest.mark.parametrize("key", ["msg", "message"])
def test_envelope_reads_both_message_keys(key: str) -> None:
    """The message comes from msg or message, whichever the answer uses."""
    envelope = decode_envelope(CONVERTER, {"code": 422, key: "bad"}, http_status=200)
    assert (422, "bad", None) == (envelope.code, envelope.message, envelope.data)


@pytest.mark.parametrize(
    "payload", [[], "ok", {"msg": "no code"}, {"code": "abc"}, {"code": 2.5}, {"code": True}]
)
def test_envelope_without_numeric_code_is_a_response_error(payload: object) -> None:
    """An answer without a numeric code is a ResponseError carrying the HTTP status."""
    with pytest.raises(ResponseError) as caught:
        decode_envelope(CONVERTER, payload, http_status=200)
    assert 200 == caught.value.http_status


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"taskId": 5},
        {"taskId": "x", "progress": "lots"},
        {"taskId": "x", "progress": True},
        {"taskId": "x", "resultJson": "{not json"},
        {"taskId": "x", "resultJson": "[1, 2]"},
        {"taskId": "x", "resultJson": json.dumps({"resultUrls": "https://one"})},
        {"taskId": "x", "resultJson": json.dumps({"resultUrls": [1]})},
        {"taskId": "x", "createTime": 1e300},
        {"taskId": "x", "createTime": "NaN"},
        {"taskId": "x", "state": 3},
        {"taskId": "x\ud800"},
        {"taskId": "x\ny"},
    ],
)
def test_malformed_task_is_a_response_error(data: object) -> None:
    """Malformed task details raise ResponseError, never KeyError or TypeError."""
    with pytest.raises(ResponseError):
        decode_task(CONVERTER, data)


@pytest.mark.parametrize("data", [None, {}, {"taskId": ""}, {"taskId": 7}, "task"])
def test_create_answer_without_task_id_is_a_response_error(data: object) -> None:
    """A createTask answer without a usable task id is a ResponseError."""
    with pytest.raises(ResponseError):
        decode_task_id(data)


@pytest.mark.parametrize(("data", "expected"), [(12.5, 12.5), ("40", 40.0), (0, 0.0)])
def test_credits_decode(data: object, expected: float) -> None:
    """The credit balance is a number, or a number sent as a string."""
    assert expected == decode_credits(data)


def test_create_body_fits_the_schema_with_frames_as_string() -> None:
    """The create body puts n_frames as a string and renames the fields as the wire wants."""
    request = TextToVideo(
        "a dog",
        n_frames=15,
        remove_watermark=True,
        character_ids=["c1"],
        callback_url="https://example.com/cb",
    )
    body = encode_create(CONVERTER, request)
    assert {
        "model": "sora-2-pro-text-to-video",
        "callBackUrl": "https://example.com/cb",
        "input": {
            "prompt": "a dog",
            "aspect_ratio": "landscape",
            "n_frames": "15",
            "size": "high",
            "remove_watermark": True,
            "character_id_list": ["c1"],
        },
    } == body
    assert_valid_create_body(body)


def test_create_body_omits_unset_options() -> None:
    """Unset watermark, characters and callback are left out of the body."""
    body = encode_create(CONVERTER, TextToVideo("a dog"))
    assert {"model", "input"} == set(body)
    assert {"prompt", "aspect_ratio", "n_frames", "size"} == set(body["input"])  # type: ignore[arg-type]


def test_image_to_video_body_has_one_image_url_and_its_own_size() -> None:
    """Image-to-video sends its model, the image as a one-item list, and size standard."""
    body = encode_create(CONVERTER, ImageToVideo("a dog", image="https://example.com/dog.png"))
    assert {
        "model": "sora-2-pro-image-to-video",
        "input": {
            "prompt": "a dog",
            "image_urls": ["https://example.com/dog.png"],
            "aspect_ratio": "landscape",
            "n_frames": "10",
            "size": "standard",
        },
    } == body
    assert_valid_create_body(body)


def test_character_body_uses_the_characters_field_names() -> None:
    """A characters request sends character_file_url as a list and character_prompt."""
    request = CharacterRequest("https://example.com/c.mp4", prompt="a knight")
    body = encode_create(CONVERTER, request)
    assert {
        "model": "sora-2-characters",
        "input": {
            "character_file_url": ["https://example.com/c.mp4"],
            "character_prompt": "a knight",
        },
    } == body
    assert_valid_create_body(body)


@pytest.mark.parametrize(
    "result",
    [
        {"character_id": "char_1"},
        {"character_id_list": ["char_1"]},
        {"character_id_list": "char_1"},
    ],
)
def test_character_id_comes_from_either_documented_key(result: dict[str, object]) -> None:
    """A characters task names its id under character_id or character_id_list: both work."""
    task = decode_task(CONVERTER, record(model="sora-2-characters", resultJson=json.dumps(result)))
    assert "char_1" == task.character_id


@pytest.mark.parametrize(
    "result", [{"character_id": ""}, {"character_id_list": ["a", "b"]}, {"character_id": 7}]
)
def test_malformed_character_id_is_a_response_error(result: dict[str, object]) -> None:
    """A characters task with a blank, plural or non-string character id is a ResponseError."""
    with pytest.raises(ResponseError, match="character_id"):
        decode_task(CONVERTER, record(model="sora-2-characters", resultJson=json.dumps(result)))


def test_character_keys_do_not_break_a_video_task() -> None:
    """A video task whose result carries an odd character key still decodes, without an id."""
    result = {"resultUrls": ["https://f/a.mp4"], "character_id_list": []}
    task = decode_task(CONVERTER, record(resultJson=json.dumps(result)))
    assert (None, ("https://f/a.mp4",)) == (task.character_id, task.result_urls)


@pytest.mark.parametrize(
    ("model", "field", "name"),
    [
        ("sora-2-pro-image-to-video", "image_urls", "a.png"),
        ("sora-2-characters", "character_file_url", "c.mp4"),
    ],
)
def test_echoed_local_path_is_never_opened(
    tmp_path: pathlib.Path, model: str, field: str, name: str
) -> None:
    """A file field the server echoes as a valid local file path drops the request."""
    fields = {field: [str(write(tmp_path, name))]} | ({"prompt": "x"} if "image" in field else {})
    param = json.dumps({"model": model, "input": fields})
    assert None is decode_task(CONVERTER, record(param=param)).request


@pytest.mark.parametrize(
    "stamp",
    [
        1_765_183_463_848,
        "1765183463848",
        "2025-12-08T08:44:23.848Z",
        "2025-12-08T11:44:23.848+03:00",
    ],
)
def test_upload_answer_decodes_either_time_form(stamp: object) -> None:
    """An upload answer decodes, with uploadedAt as epoch milliseconds or ISO 8601."""
    data = {
        "fileName": "dog.png",
        "filePath": "sora2pro/dog.png",
        "downloadUrl": "https://files.example.com/sora2pro/dog.png",
        "fileSize": "2048",
        "mimeType": "image/png",
        "uploadedAt": stamp,
    }
    stored = decode_upload(CONVERTER, data)
    assert (
        UploadedFile(
            url="https://files.example.com/sora2pro/dog.png",
            file_name="dog.png",
            size=2048,
            mime_type="image/png",
            uploaded_at=dt.datetime(2025, 12, 8, 8, 44, 23, 848000, tzinfo=dt.UTC),
        )
        == stored
    )


@pytest.mark.parametrize(
    "data",
    [None, [], {"fileName": "x"}, {"downloadUrl": "/relative"},
     {"downloadUrl": "https://h/x", "fileSize": -1},
     {"downloadUrl": "https://h/x", "uploadedAt": "yesterday"}],
)  # fmt: skip
def test_malformed_upload_answer_is_a_response_error(data: object) -> None:
    """An upload answer without a usable URL, size or time raises ResponseError."""
    with pytest.raises(ResponseError, match="upload"):
        decode_upload(CONVERTER, data)


# -- properties -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
wire_keys = st.sampled_from(
    ["taskId", "model", "state", "param", "resultJson", "failCode", "failMsg", "progress",
     "createTime", "updateTime", "completeTime", "costTime"]
)  # fmt: skip

texts = st.text(min_size=1, max_size=200).filter(str.strip)
callback_urls = st.none() | st.just("https://example.com/callback")
video_options = {
    "aspect_ratio": st.sampled_from(["portrait", "landscape"]),
    "n_frames": st.sampled_from([10, 15, "10", "15"]),
    "size": st.sampled_from(["standard", "high"]),
    "remove_watermark": st.none() | st.booleans(),
    "character_ids": st.lists(
        st.text(min_size=1, max_size=10).filter(str.strip).filter(str.isprintable), max_size=5
    ),
    "callback_url": callback_urls,
}
#: What a job's input may hold: JSON, with text that can be sent.
sendable_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
job_inputs = st.dictionaries(
    sendable_text,
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | sendable_text,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(sendable_text, children, max_size=3)
        ),
        max_leaves=12,
    ),
    max_size=5,
)
requests: st.SearchStrategy[Request] = st.one_of(
    st.builds(
        Job,
        st.sampled_from(["kling/v2-1-master", "flux-kontext-pro", "veo3_fast"]),
        job_inputs,
        callback_url=callback_urls,
    ),
    st.builds(TextToVideo, texts, **video_options),
    st.builds(
        ImageToVideo, texts, image=st.just("https://example.com/first-frame.png"), **video_options
    ),
    st.builds(
        CharacterRequest,
        st.just("https://example.com/clip.mp4"),
        prompt=st.none() | texts,
        safety_instruction=st.none() | texts,
        callback_url=callback_urls,
    ),
)


@given(st.dictionaries(wire_keys, json_values) | json_values)
def test_any_json_decodes_or_raises_response_error(data: typing.Any) -> None:
    """Whatever JSON the server sends, decoding gives a Task or a ResponseError."""
    with contextlib.suppress(ResponseError):
        decode_task(CONVERTER, data)


@given(json_values)
def test_any_json_envelope_decodes_or_raises_response_error(payload: typing.Any) -> None:
    """Whatever JSON the server sends, the envelope decodes or raises ResponseError."""
    with contextlib.suppress(ResponseError):
        decode_envelope(CONVERTER, payload, http_status=200)


@given(
    requests,
    st.sampled_from(["waiting", "queuing", "generating", "success", "fail"]),
    st.integers(0, 100) | st.none(),
    st.booleans(),
)
def test_valid_records_round_trip(
    request: Request, state: str, progress: int | None, encode_input_twice: bool
) -> None:
    """Any valid request echoed in param, with any documented state, decodes back to it."""
    body = encode_create(CONVERTER, request)
    if encode_input_twice:
        body["input"] = json.dumps(body["input"])
    data = record(state=state, param=json.dumps(body), progress=progress)
    task = decode_task(CONVERTER, data)
    assert (request, TaskState(state), progress) == (task.request, task.state, task.progress)


@given(
    requests,
    st.sampled_from(["success", "fail"]),
    st.none() | st.text(max_size=20),
    st.integers(1, 2**41),
    st.none() | st.floats(0, 1e6),
)
def test_an_encoded_task_decodes_back_to_itself(
    request: Request, state: str, fail: str | None, created: int, credits: float | None
) -> None:
    """A task's wire form (what a confirmed callback carries to other processes) reads back."""
    body = json.dumps(encode_create(CONVERTER, request))
    data = record(state=state, param=body, failMsg=fail, createTime=created)
    data["creditsConsumed"] = credits
    task = decode_task(CONVERTER, data)
    assert task == decode_task(CONVERTER, encode_task(CONVERTER, task))


@given(requests)
def test_every_request_body_fits_the_schema(request: Request) -> None:
    """Every valid request of every model encodes to a body its documented schema accepts."""
    assert_valid_create_body(encode_create(CONVERTER, request))


@pytest.mark.parametrize(
    "data",
    [
        {
            "taskId": "x",
            "param": json.dumps({"model": "m", "input": "[" * 100_000 + "]" * 100_000}),
        },
        {"taskId": "x", "progress": 10**400},
        {"taskId": "x", "createTime": str(10**400)},
    ],
)
def test_hostile_payloads_are_response_errors(data: object) -> None:
    """Nesting past the stack and numbers past a float give a Task or a ResponseError."""
    with contextlib.suppress(ResponseError):
        decode_task(CONVERTER, data)


def test_envelope_with_a_huge_code_is_a_response_error() -> None:
    """A code too large for a float is a ResponseError, not an OverflowError."""
    with pytest.raises(ResponseError):
        decode_envelope(CONVERTER, {"code": 10**400}, http_status=200)


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "x", "remove_watermark": "false"},
        {"prompt": "x", "character_id_list": "abc"},
        {"prompt": "x", "character_id_list": {"a": 1}},
        {"prompt": "x", "aspect_ratio": 1},
    ],
)
def test_echoed_request_is_checked_as_strictly_as_ours(fields: dict[str, object]) -> None:
    """An echoed request is never coerced ("false" into True): if it breaks our rules, None."""
    param = {"model": "sora-2-pro-text-to-video", "input": fields}
    assert decode_task(CONVERTER, record(param=json.dumps(param))).request is None


def test_a_param_echo_is_decoded_once_per_text() -> None:
    """The same param text gives the very same request again; another text its own."""
    cache: dict[str, object] = {}
    param = {"model": "sora-2-pro-text-to-video", "input": {"prompt": "a dog"}}
    data = {"taskId": "t", "state": "waiting", "param": json.dumps(param)}
    first = decode_task(CONVERTER, data, requests=cache)  # type: ignore[arg-type]
    again = decode_task(CONVERTER, data, requests=cache)  # type: ignore[arg-type]
    assert first.request is again.request
    param["input"] = {"prompt": "a cat"}
    other = decode_task(CONVERTER, data | {"param": json.dumps(param)}, requests=cache)  # type: ignore[arg-type]
    assert (TextToVideo("a dog"), TextToVideo("a cat")) == (first.request, other.request)


# -- the quick read of a task -------------------------------------------------------------

millis = st.none() | st.integers(-5, 10**13) | st.sampled_from(["", "1765183463848", 1.5])
amounts = st.none() | st.integers(-1, 10**6) | st.floats() | st.sampled_from(["", "12", "x"])
texts_or_not = st.sampled_from([None, "", "500", "policy", 500, True])
results = ['{"resultUrls": ["https://f/a.mp4"], "resultWaterMarkUrls": ["https://f/w.mp4"]}',
           '{"resultUrls": "x"}', '{"resultWaterMarkUrls": [1]}', '{"character_id": "c1"}',
           '{"character_id_list": ["c1", "c2"]}', '{"images": [{"url": "x"}], "seed": 3}',
           '{"text": "no urls", "resultUrls": []}', "", "[1]", "{", "{}", None]  # fmt: skip
usual_values = {
    "model": st.sampled_from([TextToVideo.MODEL, CharacterRequest.MODEL, "other", ""]),
    "param": st.sampled_from([json.dumps({"model": TextToVideo.MODEL, "input": {"prompt": "a"}}),
                              json.dumps({"model": "other", "input": {"a": [1, {"b": None}]}}),
                              json.dumps({"model": "other", "input": {"a": "\ud800"}}),
                              "{oops", "", "[]", None]),
    "resultJson": st.sampled_from(results),
    "failCode": texts_or_not, "failMsg": texts_or_not,
    "progress": st.none() | st.integers(-10, 200) | st.floats() | st.sampled_from(["", "50", "x"]),
    "createTime": millis, "updateTime": millis, "completeTime": millis,
    "costTime": amounts, "creditsConsumed": amounts, "consumeCredits": amounts,
}  # fmt: skip
odd_values = {
    "taskId": st.sampled_from(["", " ", "\x00", "\ud800", None]) | st.integers(),
    "state": st.sampled_from(["unknown", "odd", "", None]) | st.integers(),
} | usual_values
#: Mostly usual answers, with up to two fields of any other value (or garbage).
task_details = st.builds(
    operator.or_,
    st.fixed_dictionaries(
        {
            "taskId": st.sampled_from(["t1", "task_2"]),
            "state": st.sampled_from(["waiting", "queuing", "generating", "success", "fail"]),
        },
        optional=usual_values,
    ),
    st.dictionaries(
        st.sampled_from(sorted(odd_values)),
        st.one_of(st.sampled_from(sorted(odd_values)).flatmap(odd_values.__getitem__), json_values),
        max_size=2,
    ),
)


@settings(max_examples=1000, deadline=None)  # a loaded CI machine is not a defect
@given(task_details)
def test_the_quick_read_of_a_task_is_the_checked_one_or_none(data: dict[str, object]) -> None:
    """The quick read gives the checked decode's very task, or leaves it to the checked one."""
    quick = quick_task(CONVERTER, data, None)
    if quick is not None:
        assert checked_task(CONVERTER, data, None) == quick


@settings(deadline=None)
@given(
    rng=st.randoms(use_true_random=False),
    now=st.floats(0.0, 2.0),
    progress=st.booleans(),
    callback=st.booleans(),
    fails=st.booleans(),
    job=st.sampled_from(
        [
            ({"model": TextToVideo.MODEL, "input": {"prompt": "a dog"}}, None),
            ({"model": "kling/v2", "input": {"prompt": "a dog", "cfg": [0.5]}}, None),
            ({"model": "flux", "input": {"prompt": "a fox"}}, {"images": [{"url": "x"}]}),
        ]
    ),
)
def test_the_emulators_answers_are_read_quickly(
    *,
    rng: typing.Any,
    now: float,
    progress: bool,
    callback: bool,
    fails: bool,
    job: tuple[dict[str, object], dict[str, object] | None],
) -> None:
    """Every answer the emulator gives about a video or job task takes the quick read, alike."""
    body, result = job
    emulated = EmulatedTask("t1", body, 0.0, CREATED_MS, 1.0, fails, cost=1.0, result=result)
    data = emulated.record(now, file_url="https://f", rng=rng, progress=progress, callback=callback)
    quick = quick_task(CONVERTER, data, None)
    assert quick is not None
    assert checked_task(CONVERTER, data, None) == quick
