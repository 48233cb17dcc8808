"""The baseline: a bare Sanic JSON endpoint, served the same way as the API."""

from __future__ import annotations

import os

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

app = Sanic("bare")
PAYLOAD = {"items": [{"id": f"p{i}", "title": "Oak table", "price": 12500} for i in range(20)]}


@app.get("/bare")
async def bare(request: Request) -> HTTPResponse:
    return json(PAYLOAD)


if __name__ == "__main__":
    app.run(
        host="127.0.0.1",
        port=int(os.environ["BARE_PORT"]),
        workers=int(os.environ.get("BARE_WORKERS", "1")),
        access_log=False,
        single_process=os.environ.get("BARE_WORKERS", "1") == "1",
    )
