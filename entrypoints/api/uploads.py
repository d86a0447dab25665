"""Reading a submission from a request: a multipart upload of files or a JSON body with the text.

The body is read as a stream and refused (413) as soon as it is over the limit: before a byte is
read when ``Content-Length`` says so, else at the first chunk past it. Uploaded files are spooled
to disk past 1 MiB (Starlette's multipart parser), never held whole in memory while arriving.
The files are then read exactly as the CLI reads files (:func:`pipeline.sources.script_from_files`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from pipeline.errors import InputError, TooLarge
from pipeline.sources import ScriptText, script_from_files, script_from_text

#: Room in a multipart body for its boundaries, part headers and form fields, beyond the files.
MULTIPART_OVERHEAD = 1 << 20
#: Most files in one upload (episodes).
MAX_FILES = 500
_UNSAFE = re.compile(r"[\x00-\x1f\\/]")


class SubmitOptions(BaseModel):
    """What a submission says besides its script (JSON fields, or multipart form fields)."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(None, max_length=200, description="Default: the file's name or the title.")
    title: str | None = Field(None, max_length=500)
    options: dict[str, Any] = Field(
        default_factory=dict, description="Per-job settings, as the CLI's --set (e.g. max_chunk_chars)."
    )
    idempotency_key: str | None = Field(
        None, max_length=200, description="Batch items only; a single submit uses the Idempotency-Key header."
    )
    callback_url: str | None = Field(
        None, max_length=2000, description="Where the job's end is POSTed, signed (Standard Webhooks)."
    )


class SubmitText(SubmitOptions):
    """A script sent as JSON text."""

    text: str = Field(description="The script's text.")
    name: str = Field("script.txt", max_length=200, description="A file name; its ending says the format.")


class SubmitBatch(BaseModel):
    """Many scripts in one request (each answered on its own)."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[SubmitText] = Field(min_length=1, max_length=1000)


@dataclass
class Submission:
    """A parsed submission: the script read (as the CLI would) and its options."""

    script: ScriptText
    fields: SubmitOptions
    names: list[str] = field(default_factory=list)


def body_limit(max_bytes: int) -> int:
    """The largest request body a submission may have: the scripts' limit plus the multipart framing."""
    return max_bytes + MULTIPART_OVERHEAD


async def limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request's body chunks, refused with :class:`TooLarge` once past ``limit`` bytes.

    Raises:
        TooLarge: ``Content-Length`` is over the limit (nothing read), or the body grows past it.
        InputError: ``Content-Length`` is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InputError(f"Content-Length is not a number: {declared!r}") from None
        if size > limit:
            raise TooLarge(
                f"the request body is {size:,} bytes, over the limit of {limit:,} (ingest.max_bytes)"
            )
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"the request body is over the limit of {limit:,} bytes (ingest.max_bytes)")
        yield chunk


async def read_json(request: Request, limit: int) -> bytes:
    """The whole (small) JSON body, within ``limit``."""
    return b"".join([chunk async for chunk in limited(request, limit)])


def _safe_name(name: str | None, index: int) -> str:
    """An uploaded file's name without folders or control characters (it names an episode)."""
    base = _UNSAFE.sub("_", Path((name or "").replace("\\", "/")).name).strip()[:200]
    return base or f"episode-{index + 1}.txt"


def _options_field(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise InputError('options: not JSON (send a JSON object, e.g. {"max_chunk_chars": 3000})') from None
    if not isinstance(parsed, dict):
        raise InputError("options: not a JSON object")
    return parsed


def fields_of(values: dict[str, Any]) -> SubmitOptions:
    """Form or JSON fields as :class:`SubmitOptions`, refused with the field named."""
    try:
        return SubmitOptions.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InputError(f"{where}: {first['msg']}") from None


async def read_submission(request: Request, *, max_bytes: int) -> Submission:
    """Read a submission (multipart files or JSON text) with the CLI's checks.

    Raises:
        TooLarge: the body is over the limit.
        InputError: no file, an empty, binary, undecodable or unreadable one, a bad field; or a
            content type other than multipart/form-data and application/json.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = body_limit(max_bytes)
    if content_type == "application/json":
        try:
            given = SubmitText.model_validate_json(await read_json(request, limit))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise InputError(f"{where}: {first['msg']}") from None
        script = script_from_text(given.text, name=_safe_name(given.name, 0), max_bytes=max_bytes)
        return Submission(script, given, [given.name])
    if content_type != "multipart/form-data":
        raise HTTPException(
            415,
            f"Content-Type {content_type or '(none)'} is not accepted: send multipart/form-data "
            '(files, episodes in order) or application/json ({"text": …})',
        )
    parser = MultiPartParser(request.headers, limited(request, limit), max_files=MAX_FILES, max_fields=20)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InputError(f"the multipart body cannot be read: {exc.message}") from None
    try:
        files: list[tuple[Path, bytes]] = []
        values: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append((Path(_safe_name(value.filename, len(files))), await value.read()))
            elif key == "options":
                values["options"] = _options_field(value)
            elif key in ("project", "title", "callback_url"):
                values[key] = value or None
            else:
                raise InputError(
                    f"unknown form field {key!r}; send files, project, title, options and callback_url"
                )
    finally:
        await form.close()
    if not files:
        raise InputError("no file in the upload: send the script as a multipart file field")
    script = script_from_files(files, max_bytes=max_bytes)
    return Submission(script, fields_of(values), [str(path) for path, _ in files])
