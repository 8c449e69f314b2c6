"""LoopPools: one pool per event loop, pruned when loops close, closed or terminated at the end."""

import asyncio

import pytest
from dataflow.errors import DatabaseError
from dataflow.pools import LoopPools


class Pool:
    """A stand-in resource that records how it ended."""

    made = 0

    def __init__(self) -> None:
        Pool.made += 1
        self.ended: str | None = None


def make_pools() -> LoopPools:
    async def create() -> Pool:
        await asyncio.sleep(0)  # a real create awaits: concurrent callers must still get one pool
        return Pool()

    async def close(pool: Pool) -> None:
        pool.ended = "closed"

    def terminate(pool: Pool) -> None:
        pool.ended = "terminated"

    return LoopPools(create, close, terminate, "test")


def test_one_pool_per_loop_even_under_concurrent_first_use():
    pools = make_pools()

    async def first_use():
        return await asyncio.gather(*(pools.get() for _ in range(10)))

    got = asyncio.run(first_use())
    assert len({id(p) for p in got}) == 1
    other = asyncio.run(pools.get())  # a new loop: a new pool; the closed loop's pool is terminated
    assert other is not got[0]
    assert got[0].ended == "terminated" and other.ended is None


def test_close_is_graceful_on_the_current_loop_and_terminates_the_rest():
    pools = make_pools()
    loop = asyncio.new_event_loop()
    try:
        elsewhere = loop.run_until_complete(pools.get())

        async def here_then_close():
            mine = await pools.get()
            await pools.close()
            return mine

        mine = asyncio.run(here_then_close())
    finally:
        loop.close()
    assert (mine.ended, elsewhere.ended) == ("closed", "terminated")
    with pytest.raises(DatabaseError, match="the test backend is closed"):
        asyncio.run(pools.get())


def test_close_sync_terminates_every_pool():
    pools = make_pools()
    made = [asyncio.run(pools.get()) for _ in range(2)]
    pools.close_sync()
    assert [p.ended for p in made] == ["terminated", "terminated"]
