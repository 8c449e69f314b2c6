"""LoopPools: the I/O loop's pool for short-lived loops, a pool of their own for long-lived ones (bounded),
pools of closed loops terminated, everything closed or terminated at the end."""

import asyncio

import pytest
from dataflow.errors import DatabaseError
from dataflow.pools import LoopPools
from dataflow.runner import IOThread


class Pool:
    """A stand-in resource that records how it ended."""

    def __init__(self) -> None:
        self.ended: str | None = None


@pytest.fixture
def io():
    thread = IOThread("test-io")
    yield thread
    thread.stop()


def make_pools(io: IOThread, promote_after: int = 3, max_loop_pools: int = 2) -> LoopPools:
    async def create() -> Pool:
        await asyncio.sleep(0)  # a real create awaits: concurrent callers must still get one pool
        return Pool()

    async def close(pool: Pool) -> None:
        pool.ended = "closed"

    def terminate(pool: Pool) -> None:
        pool.ended = "terminated"

    return LoopPools(create, close, terminate, "test", io, promote_after=promote_after, max_loop_pools=max_loop_pools)


async def local(pools: LoopPools):
    return await pools.local(asyncio.get_running_loop())


def test_loops_get_their_own_pool_until_one_closes_young_then_prove_themselves_first(io):
    pools = make_pools(io, promote_after=3)

    async def uses(n):
        return [await local(pools) for _ in range(n)]

    first = asyncio.run(uses(2))  # an application's loop: its own pool at once, no hop
    assert first[0] is not None and first[1] is first[0] and not pools.short_lived
    got = asyncio.run(uses(5))  # the first loop closed after one statement: loops here are short-lived
    assert pools.short_lived and first[0].ended == "terminated"
    assert got[:3] == [None, None, None]  # the first statements go to the I/O loop
    assert got[3] is not None and got[4] is got[3]


def test_a_loop_that_lived_long_keeps_new_loops_on_pools_of_their_own(io):
    pools = make_pools(io, promote_after=3)

    async def uses(n):
        return [await local(pools) for _ in range(n)]

    asyncio.run(uses(10))
    assert asyncio.run(uses(1))[0] is not None and not pools.short_lived


def test_the_io_loop_always_has_a_pool_made_once_under_concurrent_first_use(io):
    pools = make_pools(io)

    async def first_use():
        return await asyncio.gather(*(local(pools) for _ in range(10)))

    got = io.run(first_use())
    assert got[0] is not None and len({id(p) for p in got}) == 1
    assert pools.here(io.get_loop()) is got[0]


def test_loop_pools_are_bounded_and_pools_of_closed_loops_are_terminated(io):
    pools = make_pools(io, promote_after=0, max_loop_pools=2)  # never short-lived: loops get pools at once
    loops = [asyncio.new_event_loop() for _ in range(3)]
    try:
        made = [loop.run_until_complete(local(pools)) for loop in loops]
        assert made[0] is not None and made[1] is not None
        assert made[2] is None  # the third long-lived loop keeps using the I/O loop's pool
        loops[0].close()
        again = loops[2].run_until_complete(local(pools))  # a slot is free once a loop has closed
        assert again is not None and made[0].ended == "terminated"
    finally:
        for loop in loops:
            loop.close()


def test_close_is_graceful_here_and_on_the_io_loop_and_terminates_the_rest(io):
    pools = make_pools(io)
    loop = asyncio.new_event_loop()
    try:
        elsewhere = loop.run_until_complete(local(pools))
        shared = io.run(local(pools))

        async def here_then_close():
            mine = await local(pools)
            await pools.close()
            return mine

        mine = asyncio.run(here_then_close())
    finally:
        loop.close()
    assert (mine.ended, shared.ended, elsewhere.ended) == ("closed", "closed", "terminated")
    with pytest.raises(DatabaseError, match="the test backend is closed"):
        asyncio.run(local(pools))


def test_close_sync_closes_the_io_pool_and_terminates_every_other(io):
    pools = make_pools(io, promote_after=0)  # closing young is then impossible: every loop keeps its own pool
    shared = io.run(local(pools))
    made = [asyncio.run(local(pools)) for _ in range(2)]
    pools.close_sync()
    assert shared.ended == "closed" and [p.ended for p in made] == ["terminated", "terminated"]
