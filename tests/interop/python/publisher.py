"""A Redis publisher in Python that knows only docs/channel-format.md: it runs
the document's own example (its first ```python block) with the append script
the document quotes (its ```lua block) as HISTORY_APPEND, on Debian's
python3-redis. Driven by tests/channel_format_test.ts.

Usage: publisher.py DOC REDIS_URL PREFIX OPERATIONS

OPERATIONS is a JSON list of calls of the example's functions, each a list of
the function's name and its arguments after the Redis client, e.g.
[["broadcast", "hi"], ["publish", "news", {"a": 1}, {"size": 100, "ttl": 60000}]].
An argument {"$bytes": "<hex>"} stands for those bytes. Prints one JSON object
per call, in order: {"call": name, "result": what the function returned}.
"""

import json
import re
import sys

import redis


def blocks(text, language):
    return re.findall(r"^```" + language + r"\n(.*?)^```$", text, re.S | re.M)


def argument(value):
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return bytes.fromhex(value["$bytes"])
    return value


def main():
    doc, url, prefix, operations = sys.argv[1:5]
    with open(doc, encoding="utf-8") as file:
        text = file.read()
    [script] = blocks(text, "lua")
    example = blocks(text, "python")[0]
    namespace = {"HISTORY_APPEND": script}
    exec(compile(example, doc, "exec"), namespace)
    namespace["PREFIX"] = prefix
    client = redis.Redis.from_url(url)
    try:
        for name, *args in json.loads(operations):
            result = namespace[name](client, *map(argument, args))
            print(json.dumps({"call": name, "result": result}), flush=True)
    finally:
        client.close()


if __name__ == "__main__":
    main()
