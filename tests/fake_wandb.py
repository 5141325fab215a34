#!/usr/bin/env python3
"""fake_wandb.py: a fake wandb server on loopback for tests/test_wandb.c (standard library only).

Written from the facts of shared/WANDB.md (the project's notes on the wandb protocol): POST /graphql (UpsertBucket, UpsertSweep) with HTTP
Basic auth "api:KEY", and POST /files/{entity}/{project}/{run}/file_stream whose body is
{"files": {FILE: {"offset": N, "content": [LINE, ...]}}}, a heartbeat {} or
{"complete": true, "exitcode": N}. Lines sent again at the same offset overwrite, as the real
server does, so a test can check that nothing was lost or duplicated.

Every request is recorded; after each one the whole record is rewritten (tmp + rename) to --log as
{"requests": [{"method", "path", "auth", "status", "body" (parsed JSON or raw text)}, ...],
 "files": {"entity/project/run": {FILE: [lines...]}}, "complete": {"entity/project/run": exitcode}}
before the answer goes out, so once the client has its answer the file already says so.

Options:
  --port-file PATH      write the port chosen (bound to 127.0.0.1:0) here once listening
  --log PATH            the record described above
  --key KEY             the API key to accept (anything else: 401)
  --fail WHAT:STATUS:N  answer the first N requests to WHAT (graphql | file_stream) with STATUS
                        (repeatable); --retry-after SECONDS adds a Retry-After header to them
  --graphql-error MSG   answer GraphQL with HTTP 200 and {"errors": [{"message": MSG}]}
  --stop-after N        file_stream answers from the N-th request on (1-based) hold "stopped": true
  --history-line-count N  UpsertBucket reports this many existing history lines
The server exits when its parent process goes away or after --max-seconds (default 120).
"""
import argparse
import base64
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = []
        self.files = {}
        self.complete = {}
        self.fail = []  # [what, status, remaining]
        for spec in args.fail or []:
            what, status, count = spec.split(":")
            self.fail.append([what, int(status), int(count)])
        self.file_stream_count = 0

    def save(self):
        tmp = self.args.log + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"requests": self.requests, "files": self.files, "complete": self.complete}, f)
        os.replace(tmp, self.args.log)


def wrapped_config_ok(text):
    """The run config must be a JSON string of an object whose every value is {"value": v}."""
    try:
        cfg = json.loads(text)
    except (TypeError, ValueError):
        return False
    return isinstance(cfg, dict) and all(isinstance(v, dict) and "value" in v for v in cfg.values())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # quiet: the test reads the record instead
        pass

    def answer(self, status, obj, record, extra_headers=()):
        record["status"] = status
        st = self.server.state
        st.requests.append(record)
        st.save()
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        st = self.server.state
        if self.path == "/_requests":
            with st.lock:
                data = json.dumps({"requests": st.requests, "files": st.files, "complete": st.complete}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send_error(404)

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        auth = self.headers.get("Authorization") or ""
        record = {"method": "POST", "path": self.path, "auth": auth, "body": body}
        with st.lock:
            what = "graphql" if self.path == "/graphql" else "file_stream" if self.path.endswith("/file_stream") else None
            if what is None:
                return self.answer(404, {"error": "no such endpoint"}, record)
            expected = "Basic " + base64.b64encode(("api:" + st.args.key).encode()).decode()
            if auth != expected:
                return self.answer(401, {"error": "invalid api key"}, record)
            for f in st.fail:
                if f[0] == what and f[2] > 0:
                    f[2] -= 1
                    headers = [("Retry-After", st.args.retry_after)] if st.args.retry_after else []
                    return self.answer(f[1], {"error": "injected failure %d" % f[1]}, record, headers)
            if not isinstance(body, dict):
                return self.answer(400, {"error": "body is not a JSON object"}, record)
            if what == "graphql":
                return self.graphql(body, record)
            return self.file_stream(body, record)

    def graphql(self, body, record):
        st = self.server.state
        if st.args.graphql_error:
            return self.answer(200, {"errors": [{"message": st.args.graphql_error}]}, record)
        op = body.get("operationName")
        v = body.get("variables") or {}
        query = body.get("query") or ""
        if op == "UpsertBucket" and "upsertBucket(" in query:
            if "config" in v and not wrapped_config_ok(v["config"]):
                return self.answer(200, {"errors": [{"message": "config values must be {\"value\": v}"}]}, record)
            if not isinstance(v.get("name"), str) or not re.fullmatch(r"[A-Za-z0-9_-]+", v["name"]):
                return self.answer(200, {"errors": [{"message": "bad run name"}]}, record)
            project = v.get("project") or "uncategorized"
            entity = v.get("entity") or "fake-entity"
            bucket = {"id": "storage-" + v["name"], "name": v["name"], "displayName": v.get("displayName"),
                      "sweepName": v.get("sweep"),
                      "project": {"name": project, "entity": {"name": entity}},
                      "historyLineCount": st.args.history_line_count}
            return self.answer(200, {"data": {"upsertBucket": {"bucket": bucket, "inserted": True}}}, record)
        if op == "UpsertSweep" and "upsertSweep(" in query:
            if not isinstance(v.get("config"), str):
                return self.answer(200, {"errors": [{"message": "sweep config must be a YAML string"}]}, record)
            project = v.get("projectName") or "uncategorized"
            entity = v.get("entityName") or "fake-entity"
            sweep = {"name": "fakesw01", "project": {"name": project, "entity": {"name": entity}}}
            return self.answer(200, {"data": {"upsertSweep": {"sweep": sweep}}}, record)
        return self.answer(200, {"errors": [{"message": "unknown operation %r" % op}]}, record)

    def file_stream(self, body, record):
        st = self.server.state
        m = re.fullmatch(r"/files/([^/]+)/([^/]+)/([^/]+)/file_stream", self.path)
        if not m:
            return self.answer(404, {"error": "bad file_stream path"}, record)
        run = "/".join(m.groups())
        files = body.get("files", {})
        if not isinstance(files, dict):
            return self.answer(400, {"error": "files is not an object"}, record)
        for name, chunk in files.items():
            ok = isinstance(chunk, dict) and isinstance(chunk.get("offset"), int) and chunk["offset"] >= 0 \
                and isinstance(chunk.get("content"), list) and all(isinstance(x, str) for x in chunk["content"])
            if not ok:
                return self.answer(400, {"error": "bad chunk for %s" % name}, record)
            lines = st.files.setdefault(run, {}).setdefault(name, [])
            off = chunk["offset"]
            if off > len(lines):
                return self.answer(400, {"error": "offset %d past the end (%d) of %s" % (off, len(lines), name)},
                                   record)
            for i, line in enumerate(chunk["content"]):
                if name in ("wandb-history.jsonl", "wandb-summary.json"):
                    try:  # must be JSON (NaN / Infinity allowed, as wandb writes them)
                        json.loads(line)
                    except ValueError:
                        return self.answer(400, {"error": "line %d of %s is not JSON" % (off + i, name)}, record)
                if off + i < len(lines):
                    lines[off + i] = line
                else:
                    lines.append(line)
        if body.get("complete"):
            st.complete[run] = body.get("exitcode")
        st.file_stream_count += 1
        answer = {"exitcode": None, "limits": {}}
        if st.args.stop_after and st.file_stream_count >= st.args.stop_after:
            answer["stopped"] = True
        return self.answer(200, answer, record)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--key", default="test-key-0123456789")
    p.add_argument("--fail", action="append")
    p.add_argument("--retry-after", default="")
    p.add_argument("--graphql-error", default="")
    p.add_argument("--stop-after", type=int, default=0)
    p.add_argument("--history-line-count", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=120)
    args = p.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    with server.state.lock:
        server.state.save()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)

    parent, started = os.getppid(), time.time()

    def watchdog():
        # a test that dies without stopping us must not leave a server behind
        while os.getppid() == parent and time.time() - started < args.max_seconds:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
