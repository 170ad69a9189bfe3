"""Hostile long texts against clip_embed_text: wall time, the backend's peak
memory above its resting size, and how fast statement_timeout stops a call.
Prints one table per run; not a test (tests/pg_regress/sql/long_text.sql pins
the results). Targets from issue 9: <= 0.5 s, <= 64 MB extra, cancel <= 0.5 s.

Peak memory: the backend's VmHWM after `echo 5 > /proc/PID/clear_refs` resets
it (needs root, as the bench runs). Inputs built by repeat() live in the
backend too; the "input MB" column says how much of the peak they are.
Usage: long_text.py --host SOCKET_DIR --port PORT [--model NAME]
"""

import argparse
import time

import psycopg

CASES = [
    # (label, SQL expression for the text, input size in MB)
    ("repeat('ab cd ', 8000000)", "repeat('ab cd ', 8000000)", 48),
    ("repeat('x', 50000000)", "repeat('x', 50000000)", 50),
    ("10 MB single word from the client", "%(word)s", 10),
    ("1 GB - 1 of spaces, then a word", "repeat(' ', 1073741000) || 'cat'", 1024),
    ("500 MB of U+FEFF (ftfy deletes it)", "repeat(chr(65279), 170000000)", 486),
    ("800 MB of '&amp; ' (each is a token)", "repeat('&amp; ', 140000000)", 800),
]


def kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", default="")
    args = ap.parse_args()
    word = "y" * (10 << 20)
    print("baseline: the same text through length(), which Postgres computes without clip_embed;")
    print("'added' columns are clip_embed_text's time and peak memory minus that baseline's;")
    print("'own s' is clip_embed_text's own time, timed inside the backend once the text exists, less the")
    print("cost of handing the value to a call (the same call around octet_length)")
    print(f"{'input':40s} {'MB':>5s} {'base s':>7s} {'base MB':>8s} {'added s':>8s} {'added MB':>9s} "
          f"{'own s':>7s} {'outcome':>9s}")
    with psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SELECT clip_embed_text('warm up', %s)", (args.model,)).fetchone()
        # clip_embed_text's own time once the text exists, less what handing the
        # value to a call costs PL/pgSQL (the same call shape around octet_length).
        conn.execute("""CREATE FUNCTION pg_temp.own_seconds(t text, m text) RETURNS float8 LANGUAGE plpgsql AS $f$
            DECLARE t0 timestamptz; t1 timestamptz; passing float8;
            BEGIN
              t0 := clock_timestamp();
              PERFORM octet_length(t), m;
              passing := extract(epoch FROM clock_timestamp() - t0);
              t1 := clock_timestamp();
              BEGIN
                PERFORM clip_embed_text(t, m);
              EXCEPTION WHEN invalid_parameter_value THEN NULL;
              END;
              RETURN extract(epoch FROM clock_timestamp() - t1) - passing;
            END $f$""")
        def measure(sql, params):
            rest = kb(pid, "VmRSS")
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
            t0 = time.perf_counter()
            try:
                conn.execute(sql, params).fetchone()
                outcome = "returned"
            except psycopg.errors.InvalidParameterValue:
                outcome = "empty"
            return time.perf_counter() - t0, (kb(pid, "VmHWM") - rest) / 1024, outcome

        for label, expr, size in CASES:
            params = {"word": word, "model": args.model}
            base_s, base_mb, _ = measure(f"SELECT length({expr})", params)
            s, mb, outcome = measure(f"SELECT clip_embed_text({expr}, %(model)s) IS NOT NULL", params)
            own = conn.execute(f"SELECT pg_temp.own_seconds({expr}, %(model)s)", params).fetchone()[0]
            print(f"{label:40s} {size:5d} {base_s:7.3f} {base_mb:8.1f} {s - base_s:8.3f} {mb - base_mb:9.1f} "
                  f"{own:7.3f} {outcome:>9s}")
        # Cancel: a timeout shorter than the longest case above must stop it.
        for timeout_ms in (20, 100):
            conn.execute(f"SET statement_timeout = '{timeout_ms}ms'")
            t0 = time.perf_counter()
            try:
                conn.execute("SELECT clip_embed_text(repeat(' ', 1073741000) || 'cat', %s)", (args.model,)).fetchone()
                outcome = "finished first"
            except psycopg.errors.QueryCanceled:
                outcome = "cancelled"
            print(f"statement_timeout {timeout_ms} ms on 1 GB of spaces: {outcome} after "
                  f"{(time.perf_counter() - t0) * 1e3:.0f} ms (repeat() itself included)")
            conn.execute("RESET statement_timeout")
        rss = kb(pid, "VmRSS") / 1024
        print(f"backend resident after all cases: {rss:.0f} MB")


if __name__ == "__main__":
    main()
