"""One place that wires everything: store, Redis, blobs and services, built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from graph import embedded
from graph.accounts import AccountService
from graph.blobs import BlobStore, LocalBlobStore
from graph.browse import BrowseService
from graph.cache import QueryCache
from graph.catalog import CatalogService
from graph.feed import FeedService
from graph.images import ImageService
from graph.jobs import Jobs
from graph.messaging import MessagingService
from graph.notify import Notifier
from graph.passwords import Passwords
from graph.pools import Pools
from graph.ratelimit import RateLimiter
from graph.sessions import Sessions
from graph.settings import Settings
from graph.store import GraphStore
from graph.store.falkordb import FalkorStore
from graph.store.neo4j import Neo4jStore

RATE_RULES = {
    "signup_ip": "10/hour",
    "login_ip": "30/minute",
    "login_account": "10/15minutes",
    "upload_user": "60/hour",
    "write_user": "120/minute",
    "message_user": "60/minute",
    "swipe_user": "600/minute",
}


class NotRunning(RuntimeError):
    """The configured database is not there to connect to."""


@dataclass
class Services:
    settings: Settings
    store: GraphStore
    redis: aioredis.Redis
    blobs: BlobStore
    sessions: Sessions
    passwords: Passwords
    limiter: RateLimiter
    cache: QueryCache
    accounts: AccountService
    images: ImageService
    catalog: CatalogService
    browse: BrowseService
    jobs: Jobs
    pools: Pools
    messaging: MessagingService
    feed: FeedService
    notifier: Notifier


def graph_redis_url(settings: Settings) -> str | None:
    """The Redis URL of the FalkorDB server, or None when the graph lives in Neo4j."""
    if settings.embedded:
        info = embedded.recorded(settings.data_dir)
        if info is None:
            raise NotRunning(
                f"no embedded database runs for {settings.data_dir}; start it with `vendr db start`"
            )
        return info.url
    scheme = urlsplit(settings.graph_url).scheme
    if scheme in ("falkordb", "falkordbs", "redis", "rediss"):
        return settings.graph_url.replace("falkordb", "redis", 1)
    return None


def redis_url(settings: Settings) -> str:
    url = settings.redis_url or graph_redis_url(settings)
    if not url:
        raise NotRunning("VENDR_REDIS_URL is required when the graph is Neo4j")
    return url


def make_store(settings: Settings) -> GraphStore:
    url = graph_redis_url(settings)
    if url is not None:
        pool = aioredis.ConnectionPool.from_url(url, max_connections=64)
        return FalkorStore(pool, settings.graph_name)
    return Neo4jStore.connect(
        settings.graph_url, settings.neo4j_user, settings.neo4j_password, settings.graph_name
    )


async def bootstrap(settings: Settings, *, ensure_schema: bool = True) -> Services:
    store = make_store(settings)
    pool = aioredis.ConnectionPool.from_url(redis_url(settings), max_connections=64)
    redis = aioredis.Redis(connection_pool=pool)
    if ensure_schema:
        await store.ensure_schema()
    blobs = LocalBlobStore(settings.blob_dir)
    sessions = Sessions(redis, settings.redis_prefix, settings.token_ttl_seconds)
    passwords = Passwords(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )
    limiter = RateLimiter(pool, settings.redis_prefix, RATE_RULES, settings.rate_limits == "on")
    cache = QueryCache(redis, settings.redis_prefix, settings.cache_ttl_seconds)
    browse = BrowseService(store, cache)
    pools = Pools(store, redis, settings.redis_prefix)
    return Services(
        settings=settings,
        store=store,
        redis=redis,
        blobs=blobs,
        sessions=sessions,
        passwords=passwords,
        limiter=limiter,
        cache=cache,
        accounts=AccountService(store, passwords, sessions, cache),
        images=ImageService(store, blobs, settings),
        catalog=CatalogService(store, settings.listing_ttl_days, cache, pools),
        browse=browse,
        jobs=Jobs(store, blobs, cache, pools, redis, settings),
        messaging=MessagingService(store),
        pools=pools,
        feed=FeedService(store, browse, pools),
        notifier=Notifier(redis, settings.redis_prefix),
    )


async def shutdown(services: Services) -> None:
    await services.store.close()
    await services.redis.aclose()
