"""A local stand-in for the Hugging Face hub: serves folders on 127.0.0.1 in
the hub's URL layout, as far as huggingface_hub's downloads use it:

  GET  /api/models/<repo>/tree/<revision>[/<path>]?recursive=...   the file list
  HEAD /<repo>/resolve/<revision>/<path>   X-Repo-Commit, ETag, Content-Length
  GET  /<repo>/resolve/<revision>/<path>   the bytes (Range: bytes=N- honoured)

An unknown repository answers 404 with `X-Error-Code: RepoNotFound`, an
unknown file 404 with `EntryNotFound`, as the hub does. Faults for tests:
`cut_once` maps files to a byte count: the file's first GET sends that many
bytes and closes the connection (an interrupted download); `hidden` names files
that are listed but not served. Every request is logged in `requests` (method, path, Range header).
"""

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Hub:
    def __init__(self, repos, cut_once=None, hidden=()):
        """repos: {"owner/name": folder}."""
        self.repos = repos
        self.cut_once = dict(cut_once or {})
        self.hidden = set(hidden)
        self.requests = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.serve(self, head=True)

            def do_GET(self):
                hub.serve(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def files(folder):
        out = []
        for d, _, names in os.walk(folder):
            for n in names:
                out.append(os.path.relpath(os.path.join(d, n), folder))
        return sorted(out)

    def not_found(self, h, code, head):
        h.send_response(404)
        h.send_header("X-Error-Code", code)
        body = json.dumps({"error": code}).encode()
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def serve(self, h, head):
        url = urlparse(h.path)
        path = unquote(url.path)
        self.requests.append((h.command, path, h.headers.get("Range")))
        if path.startswith("/api/models/"):
            return self.tree(h, path[len("/api/models/"):], head)
        parts = path.lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self.not_found(h, "RepoNotFound", head)
        repo, rel = "/".join(parts[:2]), "/".join(parts[4:])
        if repo not in self.repos:
            return self.not_found(h, "RepoNotFound", head)
        file = os.path.join(self.repos[repo], rel)
        if rel in self.hidden or not os.path.isfile(file):
            return self.not_found(h, "EntryNotFound", head)
        data = open(file, "rb").read()
        start = 0
        ranged = h.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            start = int(ranged[len("bytes="):].split("-")[0] or 0)
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", COMMIT)
        h.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        h.send_header("Accept-Ranges", "bytes")
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(data) - start))
        h.end_headers()
        if head:
            return
        body = data[start:]
        if rel in self.cut_once and not start:
            h.wfile.write(body[: self.cut_once.pop(rel)])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)
            return
        h.wfile.write(body)

    def tree(self, h, rest, head):
        # <owner>/<name>/tree/<revision>[/<path>]
        parts = rest.split("/")
        repo = "/".join(parts[:2])
        if repo not in self.repos or len(parts) < 4 or parts[2] not in ("tree", "revision"):
            return self.not_found(h, "RepoNotFound", head)
        prefix = "/".join(parts[4:])
        entries = [{"type": "file", "oid": hashlib.sha1(f.encode()).hexdigest(), "path": f,
                    "size": os.path.getsize(os.path.join(self.repos[repo], f))}
                   for f in self.files(self.repos[repo]) if f.startswith(prefix)]
        body = json.dumps(entries).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)
