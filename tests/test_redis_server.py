"""The session's Redis (``redis_server``, ``redis_url`` in tests/conftest.py) works with the ``redis``
package's asyncio client, and each test gets database 0 empty."""

import asyncio

import redis.asyncio as aioredis


def test_asyncio_client_sets_reads_and_expires(redis_url):
    async def work():
        client = aioredis.from_url(redis_url)
        try:
            await client.set("user:1", b"\x00Alice\xff", ex=60)
            await client.hset("h", mapping={"a": "1", "b": "2"})
            return await client.get("user:1"), await client.ttl("user:1"), await client.hgetall("h")
        finally:
            await client.aclose()

    value, ttl, mapping = asyncio.run(work())
    assert value == b"\x00Alice\xff"
    assert 0 < ttl <= 60
    assert mapping == {b"a": b"1", b"b": b"2"}


def test_each_test_starts_with_an_empty_database(redis_url, redis_server):
    async def keys():
        client = aioredis.from_url(redis_url)
        try:
            found = await client.keys("*")
            await client.set("left-behind", "x")
            return found
        finally:
            await client.aclose()

    assert asyncio.run(keys()) == []
    redis_server.flushdb(0)
    assert asyncio.run(keys()) == [], "flushdb empties the database"
