"""A stand-in for OpenAI's chat-completions endpoint on 127.0.0.1, so the real provider path (SDK,
HTTP, key check, retries, usage and cost) runs in tests without the network.

It answers like a model that grades a peer generously: read the answers, write a perfect grade, stop.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class FakeOpenAI:
    def __init__(self, fail_first: int = 0, fail_status: int = 500) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = fail_first  # answer this many requests with an error first
        self.fail_status = fail_status
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.complete)

    async def complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        if self.fail_first > 0:
            self.fail_first -= 1
            error = {"message": "overloaded" if self.fail_status >= 500 else "invalid api key", "type": "error"}
            return JSONResponse({"error": error}, status_code=self.fail_status)
        return JSONResponse(self.reply(body))

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]
        if last["role"] == "user" and "eval/answers.json" in str(last["content"]):
            message = self.call("read_file", {"path": "eval/answers.json"})
        elif last["role"] == "tool" and '"items"' in str(last["content"]):
            message = self.call(
                "write_file", {"path": "eval/grades.json", "content": '{"agent": "nova", "score": 0.9}'}
            )
        else:
            message = {"role": "assistant", "content": "Done."}
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050},
        }

    def call(self, function: str, arguments: dict[str, str]) -> dict[str, Any]:
        call = {"id": f"call_{len(self.requests)}", "type": "function",
                "function": {"name": function, "arguments": json.dumps(arguments)}}  # fmt: skip
        return {"role": "assistant", "content": None, "tool_calls": [call]}


@contextmanager
def serving(fake: FakeOpenAI) -> Iterator[str]:
    """Serve `fake` on a free loopback port in a thread; yields the base URL, stops the server after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(3000):  # bounded wait for start-up
        if server.started:
            break
        threading.Event().wait(0.01)
    else:
        raise RuntimeError("the stand-in OpenAI server did not start within 30 s")
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
