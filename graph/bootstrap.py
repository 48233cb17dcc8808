"""One place that wires everything: store, Redis, blobs and services, built from settings."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from graph.accounts import (
    AccountService,
    Ending,
    Lifecycle,
    Passwords,
    Sessions,
    Socials,
    make_provider,
)
from graph.background import DealScheduler, Jobs
from graph.catalog import (
    BrowseService,
    CatalogService,
    ImageService,
    Pools,
    SavedSearches,
    UploadService,
)
from graph.deals import CartService, CollectionService, OfferService, OrderService, Pushes
from graph.feed import FeedService, Learner
from graph.infra import embedded, geo
from graph.infra.blobs import BlobStore, DirectUploads, LocalBlobStore
from graph.infra.cache import QueryCache
from graph.infra.cursors import Cursors
from graph.infra.machine import Timers
from graph.infra.ratelimit import LoginGuard, RateLimiter
from graph.infra.settings import Settings
from graph.infra.store import GraphStore
from graph.infra.store.falkordb import FalkorStore
from graph.messaging import MessagingService
from graph.moderation import Moderation, Reports
from graph.notify import (
    Codes,
    FileMailer,
    FileSms,
    Mailer,
    Notifier,
    Outbox,
    SmsSender,
    SmtpMailer,
    TwilioSms,
)
from graph.payments import (
    Ledger,
    LocalProvider,
    NoProvider,
    PaymentProvider,
    PaymentService,
    PayoutService,
    PromotionService,
    StripeProvider,
)
from graph.trust import ReviewService, RingDetector, TrustService

RATE_RULES = {
    "signup_ip": "10/hour",
    "login_ip": "30/minute",
    # failures only (graph.infra.ratelimit.LoginGuard): per account and address, then per
    # account; an account is counted as one whichever identifier (email, phone) names it
    "login_failures_pair": "10/15minutes",
    "login_failures_account": "10/15minutes",
    "upload_user": "60/hour",
    # GET requests per client address (api.app.limit_reads); a browse page's thumbnails are
    # images, counted apart
    "read_ip": "1200/minute",
    "image_ip": "6000/minute",
    "write_user": "120/minute",
    "message_user": "60/minute",
    "swipe_user": "600/minute",
    # views are recorded (hype, tastes) at most this often per person; past it the page
    # still answers, the view is just not counted
    "view_user": "300/hour",
    "deal_user": "60/minute",
    "reset_ip": "20/hour",
    # wrong one-time codes (verification and reset) per address, counted after each, whatever
    # the account or email: a guesser's address is stopped, nobody else
    "code_failures_ip": "20/hour",
    "code_user": "30/hour",
    "report_user": "20/hour",
    "review_user": "30/hour",
}


# Longer than any one statement may run (graph.infra.store.falkordb.QUERY_TIMEOUT_MS), so a slow
# query fails with the database's own timeout; connecting waits out a burst of fsynced writes.
SOCKET_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
# a replica that hangs holds a read no longer than a statement may run, then the primary has it
REPLICA_SOCKET_TIMEOUT_S = 12.0
REPLICA_CONNECT_TIMEOUT_S = 1.0


def _pool(url: str) -> aioredis.ConnectionPool:
    return aioredis.ConnectionPool.from_url(
        url,
        max_connections=64,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
    )


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
    login_guard: LoginGuard
    cache: QueryCache
    cursors: Cursors
    accounts: AccountService
    images: ImageService
    uploads: UploadService
    catalog: CatalogService
    browse: BrowseService
    jobs: Jobs
    pools: Pools
    messaging: MessagingService
    feed: FeedService
    learner: Learner
    notifier: Notifier
    orders: OrderService
    offers: OfferService
    cart: CartService
    collections: CollectionService
    deal_timers: DealScheduler
    outbox: Outbox
    searches: SavedSearches
    codes: Codes
    lifecycle: Lifecycle
    socials: Socials
    payments: PaymentService
    ledger: Ledger
    payouts: PayoutService
    promotions: PromotionService
    reviews: ReviewService
    trust: TrustService
    reports: Reports
    moderation: Moderation


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


def _replica_pool(url: str) -> aioredis.ConnectionPool:
    """A replica's: connecting gives up sooner and is not retried, and a hung replica is
    given up after a statement's timeout: the read goes to the primary instead."""
    return aioredis.ConnectionPool.from_url(
        url,
        max_connections=64,
        socket_timeout=REPLICA_SOCKET_TIMEOUT_S,
        socket_connect_timeout=REPLICA_CONNECT_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )


def replica_pools(settings: Settings) -> list[tuple[str, aioredis.ConnectionPool]]:
    """(host:port, pool) of each FalkorDB replica in VENDR_GRAPH_REPLICA_URLS."""
    urls = [u.strip() for u in settings.graph_replica_urls.split(",") if u.strip()]
    return [
        (
            f"{urlsplit(url).hostname}:{urlsplit(url).port}",
            _replica_pool(url.replace("falkordb", "redis", 1)),
        )
        for url in urls
    ]


def make_store(settings: Settings) -> GraphStore:
    url = graph_redis_url(settings)
    if url is not None:
        return FalkorStore(
            _pool(url),
            settings.graph_name,
            replica_pools(settings),
            wait_ms=settings.graph_replica_wait_ms,
            check_seconds=settings.graph_replica_check_seconds,
        )
    # imported here: the driver takes ~0.7 s to import, paid by every worker process that
    # serves FalkorDB otherwise
    from graph.infra.store.neo4j import Neo4jStore

    return Neo4jStore.connect(
        settings.graph_url, settings.neo4j_user, settings.neo4j_password, settings.graph_name
    )


def make_blobs(settings: Settings) -> tuple[BlobStore, DirectUploads | None]:
    """The image store, and the same store as a target of direct uploads when it can be one
    (object storage: VENDR_BLOBS_URL=s3://…); the data dir's, which cannot, otherwise."""
    if not settings.blobs_url:
        return LocalBlobStore(settings.blob_dir), None
    # imported here: boto3 takes a moment to import, paid only by deployments on S3
    from graph.infra.blobs_s3 import S3BlobStore

    s3 = S3BlobStore.connect(
        settings.blobs_url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        public_endpoint_url=settings.s3_public_endpoint_url,
    )
    return s3, s3


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_security,
            settings.smtp_username,
            settings.smtp_password,
            settings.mail_from,
        )
    return FileMailer(settings.data_dir / "mail", settings.mail_from)


def make_sms(settings: Settings) -> SmsSender:
    if settings.sms_provider == "twilio":
        return TwilioSms(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
            settings.twilio_base_url,
        )
    return FileSms(settings.data_dir / "sms")


def make_payment_provider(
    settings: Settings, redis: aioredis.Redis, secret: bytes
) -> PaymentProvider:
    """Stripe when a secret key is set; else, in dev mode only, the local provider, whose
    webhook secret is derived from the deployment's secret (every process signs and verifies
    alike); else none (payments answer 503)."""
    if settings.stripe_secret_key:
        return StripeProvider(
            settings.stripe_secret_key,
            settings.stripe_webhook_secret,
            settings.stripe_api_base,
            settings.webhook_tolerance_seconds,
        )
    if not settings.local_payments:
        return NoProvider()
    local_secret = "whsec_local_" + hmac.new(secret, b"local-payments", "sha256").hexdigest()
    return LocalProvider(
        redis,
        settings.redis_prefix,
        local_secret,
        settings.webhook_tolerance_seconds,
        settings.public_url,
    )


def webhook_url(settings: Settings) -> str:
    return settings.payments_webhook_url or settings.public_url.rstrip("/") + "/v1/payments/webhook"


async def server_secret(redis: aioredis.Redis, prefix: str) -> bytes:
    """A random key shared by every process of this deployment, made once and kept in Redis
    (keys the one-time codes' hashes and the development social provider's codes)."""
    key = f"{prefix}server-secret"
    await redis.set(key, secrets.token_hex(32), nx=True)
    value = await redis.get(key)
    return value if isinstance(value, bytes) else str(value).encode()


async def bootstrap(settings: Settings, *, ensure_schema: bool = True) -> Services:
    # the size of the cells listings are public in: every process, the same
    geo.set_place_cell(settings.place_cell_km * 1000.0)
    store = make_store(settings)
    pool = _pool(redis_url(settings))
    redis = aioredis.Redis(connection_pool=pool)
    if ensure_schema:
        await store.ensure_schema()
    blobs, direct = make_blobs(settings)
    sessions = Sessions(
        redis,
        settings.redis_prefix,
        settings.token_ttl_seconds,
        settings.token_cache_seconds,
        settings.token_cache_size,
        settings.profile_cache_seconds,
        settings.profile_cache_size,
        settings.room_cache_seconds,
        settings.room_cache_size,
    )
    passwords = Passwords(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )
    limiter = RateLimiter(pool, settings.redis_prefix, RATE_RULES, settings.rate_limits == "on")
    login_guard = LoginGuard(limiter, redis, settings.redis_prefix)
    cache = QueryCache(redis, settings.redis_prefix, settings.cache_ttl_seconds)
    secret = await server_secret(redis, settings.redis_prefix)
    cursors = Cursors(secret)
    browse = BrowseService(
        store,
        cache,
        cursors,
        promoted_cap=settings.promoted_per_page,
        pickup_radius_km=settings.pickup_radius_km,
    )
    pools = Pools(store, redis, settings.redis_prefix)
    notifier = Notifier(redis, settings.redis_prefix)
    catalog = CatalogService(store, settings.listing_ttl_days, cache, pools, notifier)
    timers, pushes = Timers(settings), Pushes(notifier, sessions.rooms_changed)
    searches = SavedSearches(store, settings.max_saved_searches, settings.pickup_radius_km * 1000.0)
    outbox = Outbox(
        store, redis, notifier, settings, make_mailer(settings), make_sms(settings), searches
    )
    codes = Codes(redis, settings.redis_prefix, secret)
    provider = make_provider(
        settings.social_provider, settings.oauth_providers, secret, settings.public_url
    )
    payments = PaymentService(
        store, make_payment_provider(settings, redis, secret), settings.platform_fee_bps
    )
    ledger = Ledger(store)
    payouts = PayoutService(
        store,
        payments.provider,
        ledger,
        minimum=settings.payout_minimum,
        hold_seconds=settings.payout_hold_seconds,
        interval_seconds=settings.payout_interval_seconds,
        public_url=settings.public_url,
    )
    payments.on_account(payouts.account_updated)
    orders = OrderService(store, timers, pushes, catalog.changed, payments)
    offers = OfferService(store, timers, pushes, catalog.changed, orders, pools)
    ending = Ending(store, orders, offers)
    promotions = PromotionService(store, timers, payments, notifier, catalog.changed, settings)
    reviews = ReviewService(store, settings.review_window_days)
    trust = TrustService(store, RingDetector(store))
    learner = Learner(
        store,
        pools,
        redis,
        settings.redis_prefix,
        browse.pickup_m,
        people=settings.feed_fit_people,
        min_people=settings.feed_fit_min_people,
        experiment=settings.feed_experiment,
    )
    images = ImageService(store, blobs, settings)
    return Services(
        settings=settings,
        store=store,
        redis=redis,
        blobs=blobs,
        sessions=sessions,
        passwords=passwords,
        limiter=limiter,
        login_guard=login_guard,
        cache=cache,
        cursors=cursors,
        accounts=AccountService(store, passwords, sessions, cache, login_guard),
        images=images,
        uploads=UploadService(images, direct, redis, settings.redis_prefix, settings),
        catalog=catalog,
        browse=browse,
        jobs=Jobs(store, blobs, cache, pools, redis, settings, reviews, trust, learner),
        learner=learner,
        messaging=MessagingService(store, pools, sessions.rooms_changed),
        pools=pools,
        feed=FeedService(
            store,
            browse,
            pools,
            redis,
            settings.redis_prefix,
            settings.promoted_per_page,
            cache=cache,
            limiter=limiter,
            view_period_s=settings.view_period_seconds,
            learner=learner,
        ),
        notifier=notifier,
        orders=orders,
        offers=offers,
        cart=CartService(store, orders, pushes, catalog.changed, settings.max_cart_lines),
        collections=CollectionService(store),
        deal_timers=DealScheduler(
            # `endings`: deleted or suspended accounts whose deals a crash left open
            {"offers": offers, "orders": orders, "promotions": promotions, "endings": ending},
            redis,
            settings.redis_prefix,
        ),
        outbox=outbox,
        searches=searches,
        codes=codes,
        lifecycle=Lifecycle(
            store,
            codes,
            passwords,
            sessions,
            notifier,
            cache,
            catalog.changed,
            limiter,
            settings,
            ending,
        ),
        socials=Socials(store, redis, settings.redis_prefix, provider),
        payments=payments,
        ledger=ledger,
        payouts=payouts,
        promotions=promotions,
        reviews=reviews,
        trust=trust,
        reports=Reports(store),
        moderation=Moderation(store, cache, sessions, notifier, catalog.changed, ending),
    )


async def shutdown(services: Services) -> None:
    await services.payments.provider.aclose()
    await services.store.close()
    await services.redis.aclose()
