"""Typed settings from the environment (12-factor). Defaults run on a laptop with no set-up."""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


@lru_cache(maxsize=8)
def networks(setting: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """`10.0.0.0/8, 192.0.2.7` as networks; a ValueError names a bad entry."""
    return tuple(ip_network(p.strip(), strict=False) for p in setting.split(",") if p.strip())


EXPERIMENT_ARMS = ("current", "previous", "handset")  # the blends an experiment's arms deal
_EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@lru_cache(maxsize=8)
def experiment_arms(spec: str) -> tuple[str, tuple[tuple[str, int], ...]] | None:
    """VENDR_FEED_EXPERIMENT (`NAME:ARM=SHARE,ARM=SHARE`) as (name, ((arm, share), ...)), None
    when it is empty; a ValueError says what is wrong with it."""
    if not spec.strip():
        return None
    name, colon, arms_text = spec.strip().partition(":")
    form = "NAME:ARM=SHARE,ARM=SHARE, e.g. blend-test:current=50,previous=50"
    if not colon or not _EXPERIMENT_NAME.fullmatch(name.strip()):
        raise ValueError(f"an experiment is {form} (a name of letters, digits, '.', '_', '-')")
    arms: list[tuple[str, int]] = []
    for part in arms_text.split(","):
        arm, eq, share = (x.strip() for x in part.partition("="))
        if arm not in EXPERIMENT_ARMS:
            raise ValueError(f"arm {arm!r} is not one of {', '.join(EXPERIMENT_ARMS)} ({form})")
        if not eq or not share.isdigit() or int(share) <= 0:
            raise ValueError(f"arm {arm}'s share must be a positive whole number, not {share!r}")
        if arm in dict(arms):
            raise ValueError(f"arm {arm} is named twice")
        arms.append((arm, int(share)))
    if len(arms) < 2:
        raise ValueError(f"an experiment needs at least two arms ({form})")
    return name.strip(), tuple(arms)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENDR_", frozen=True)

    env: Literal["dev", "production"] = Field(
        "production",
        description="dev: the development shortcuts (the stand-in social provider, the local "
        "payment terminal, demo data); `make run` sets it. production: none of them",
    )
    allow_dev_on_network: bool = Field(
        False,
        description="`vendr serve` in dev mode on an address other than loopback: only with this",
    )
    graph_url: str = Field(
        "embedded", description="embedded | falkordb://[:password@]host:port | neo4j://… | bolt://…"
    )
    # `vendr` on FalkorDB; on Neo4j the default database, `neo4j` (Community has no other)
    graph_name: str = Field("", description="FalkorDB graph key / Neo4j database name")
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    redis_url: str = Field("", description="defaults to the embedded server")
    redis_prefix: str = "vendr:"
    data_dir: Path = Path("var")
    cypher_dir: Path | None = Field(
        None, description="the admin and analyst Cypher library; default: the project's cypher/"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    rate_limits: Literal["on", "off"] = "on"
    trusted_proxies: str = Field(
        "",
        description="comma-separated addresses or networks (CIDR) of your reverse proxies: "
        "X-Forwarded-For is believed only from them",
    )
    listing_ttl_days: int = 30
    purge_after_days: int = 30
    background: Literal["on", "off"] = Field(
        "on", description="`vendr serve` starts the background worker beside the HTTP workers"
    )
    jobs_interval_seconds: float = 60.0
    cache_ttl_seconds: float = 30.0
    hype_full_seconds: float = 600.0
    feed_pools_rebuild_seconds: float = 900.0
    feed_fit_seconds: float = Field(
        21_600.0,
        gt=0,
        description="the background worker fits the deck's blend from the log this often "
        "(and after a bulk load); a fit ships only when it beats the current blend",
    )
    feed_fit_people: int = Field(
        1500, ge=50, le=100_000, description="people a fit samples (each one held-out like)"
    )
    feed_fit_min_people: int = Field(
        200,
        ge=1,
        description="people with three likes before anything is fitted: until then the "
        "hand-set blend ranks",
    )
    pickup_radius_km: float = Field(
        50.0,
        gt=0,
        le=20_000,
        description="a listing offered for local pickup only is not shown to people further away",
    )
    view_period_seconds: float = Field(
        3600.0, gt=0, description="a person's views of one listing count once per this period"
    )
    feed_experiment: str = Field(
        "",
        description="an online experiment over the feed's blends, 'NAME:ARM=SHARE,ARM=SHARE' "
        "(arms: current, previous, handset; e.g. 'blend-test:current=50,previous=50'): each "
        "person's decks come from one arm (graph.feed.experiments); empty for none",
    )

    @field_validator("feed_experiment")
    @classmethod
    def _experiment(cls, value: str) -> str:
        experiment_arms(value)  # refused at start-up, with what is wrong
        return value

    event_retention_days: float = Field(
        90.0,
        gt=0,
        description="high-volume events (views, rooms read, logins) are purged after this; "
        "deals, payments, moderation and account events are kept",
    )
    mirror_graph_url: str = Field(
        "",
        description="a second graph that receives the events of a sample of accounts as they "
        "happen (a living test environment); empty: no mirror",
    )
    mirror_graph_name: str = Field("", description="its graph (FalkorDB) or database (Neo4j)")
    mirror_neo4j_user: str = "neo4j"
    mirror_neo4j_password: str = ""
    mirror_sample_percent: float = Field(
        1.0, gt=0, le=100, description="the share of accounts mirrored, chosen by a stable hash"
    )
    mirror_interval_seconds: float = Field(5.0, gt=0)
    # read scale (FalkorDB): replicas of the primary serve the read-only statements
    # (graph.infra.store.falkordb); Neo4j routes its own reads with a `neo4j://` URL
    graph_replica_urls: str = Field(
        "",
        description="comma-separated falkordb://[:password@]host:port of replicas (REPLICAOF the "
        "graph URL's server) that serve read-only statements; empty: every read on the primary",
    )
    graph_replica_wait_ms: int = Field(
        500,
        ge=1,
        le=10_000,
        description="a write returns once the replicas have it (WAIT), or after this; a replica "
        "that missed it serves no read until it has caught up",
    )
    graph_replica_check_seconds: float = Field(
        1.0, gt=0, description="how often each replica's health and replication offset are checked"
    )
    place_cell_km: float = Field(
        1.0,
        ge=0.1,
        le=50,
        description="listings are shown at the centre of a grid cell this size, never at "
        "their exact point; distances shown are measured from that centre",
    )
    max_request_bytes: int = 12 * 1024 * 1024
    max_json_bytes: int = 64 * 1024
    # the shape of a JSON body, query or socket frame, checked before anything walks it; the
    # largest legit ones are 3 deep, a collection's 200 product ids, 50 swipes (~150 values)
    max_json_depth: int = Field(32, ge=4, le=512, description="nested arrays and objects")
    max_json_items: int = Field(
        10_000, ge=300, description="values in one body, counting every array and object"
    )
    max_json_array: int = Field(1000, ge=200, description="items in one array")
    max_json_keys: int = Field(100, ge=20, description="members of one object")
    # the GraphQL gateway (api/graphql/limits.py): a document is measured before it runs; the
    # deepest legit operation is 6 levels; a 100-card browse page costs ~2000 (every field of
    # 100 listings ~6500: 70 at a time)
    graphql_max_depth: int = Field(
        10, ge=3, le=64, description="GraphQL: nested selections in one operation"
    )
    graphql_max_aliases: int = Field(15, ge=0, description="GraphQL: aliased fields in a document")
    graphql_max_tokens: int = Field(
        2000, ge=200, description="GraphQL: tokens in a document (names, punctuation, values)"
    )
    graphql_max_cost: int = Field(
        5000,
        ge=100,
        description="GraphQL: a document's cost, 1 a field, a page's selection times its "
        "`first` (another list's times 20); past it QUERY_TOO_COSTLY before anything runs",
    )
    graphql_introspection: bool | None = Field(
        None, description="GraphQL schema introspection (default: only with VENDR_ENV=dev)"
    )
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="the most pixels an uploaded file may declare"
    )
    max_decode_pixels: int = Field(
        16_000_000,
        gt=0,
        description="the most pixels decoded into memory (JPEGs are decoded scaled down first)",
    )
    image_decodes: int = Field(2, ge=1, description="images decoded at once, per worker")
    image_max_side: int = 2048
    thumb_side: int = 320
    # object storage for the images (graph.infra.blobs_s3): the data dir, or an S3-compatible
    # bucket every API node shares, with pre-signed direct uploads and a CDN in front of it
    blobs_url: str = Field(
        "",
        pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?)?$",
        description="empty: image files under data_dir/blobs; s3://bucket[/prefix]: objects in "
        "an S3-compatible bucket (AWS, MinIO, S3Proxy) with the s3_* settings",
    )
    s3_endpoint_url: str = Field(
        "", description="the S3 API's URL (MinIO, S3Proxy, …); empty: AWS's for s3_region"
    )
    s3_public_endpoint_url: str = Field(
        "",
        description="where clients reach the same storage when not at s3_endpoint_url (a "
        "private network's name): pre-signed upload forms point there",
    )
    s3_region: str = "us-east-1"
    s3_access_key: str = Field("", description="empty: boto3's own chain (environment, role)")
    s3_secret_key: str = ""
    images_base_url: str = Field(
        "",
        description="a CDN (or the bucket's public URL) in front of the blobs: image URLs in "
        "answers are this + `/<sha256>` (`.thumb`); empty: /v1/images/<sha256>",
    )
    upload_ttl_seconds: int = Field(
        900, ge=1, le=7 * 24 * 3600, description="a pre-signed direct upload is valid this long"
    )
    token_ttl_seconds: int = 30 * 24 * 3600
    token_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="an HTTP worker holds a resolved token this long (0: off); revocations "
        "are pushed to every worker, which forgets them at once",
    )
    token_cache_size: int = Field(
        10_000, ge=1, description="resolved tokens an HTTP worker holds at most (LRU)"
    )
    profile_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="an HTTP worker holds a person's own profile (`GET /v1/users/me`) this long "
        "(0: off); every change to it is pushed to every worker, which forgets it at once",
    )
    profile_cache_size: int = Field(
        10_000, ge=1, description="own profiles an HTTP worker holds at most (LRU)"
    )
    room_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="an HTTP worker holds a page of a room's messages (`GET "
        "/v1/rooms/{id}/messages`, per reader, cursor and limit) this long (0: off); every "
        "change to what it shows is pushed to every worker, which forgets it at once",
    )
    room_cache_size: int = Field(
        2_000,
        ge=1,
        description="message pages an HTTP worker holds at most (LRU; a page over 32 KiB is "
        "not held)",
    )
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 2
    offer_ttl_seconds: float = Field(48 * 3600, gt=0, description="an unanswered offer expires")
    order_confirm_seconds: float = Field(
        48 * 3600, gt=0, description="a placed order the seller does not confirm is cancelled"
    )
    order_complete_seconds: float = Field(
        7 * 24 * 3600, gt=0, description="a confirmed order completes by itself after this"
    )
    deals_interval_seconds: float = Field(
        5.0, ge=0, description="how often the worker fires due deal timers (0: never)"
    )
    max_cart_lines: int = 50
    # payments: Stripe when a secret key is set; else the local provider with VENDR_ENV=dev
    # (development, tests), and none in production (promotions answer 503, see the README)
    order_payment: bool = Field(
        False, description="orders are paid by card: placed → payment_pending → paid → …"
    )
    order_payment_seconds: float = Field(
        900.0, gt=0, description="an unpaid order (or promotion) is cancelled after this"
    )
    stripe_secret_key: str = Field("", description="sk_…: payments go through Stripe")
    stripe_webhook_secret: str = Field("", description="whsec_…: verifies Stripe's webhooks")
    stripe_api_base: str = Field(
        "https://api.stripe.com", description="Stripe's API (a stub's address in tests)"
    )
    payments_webhook_url: str = Field(
        "", description="where the local provider posts its webhooks; default: public_url's"
    )
    webhook_tolerance_seconds: int = Field(
        300, ge=1, description="webhook timestamps older or this much newer are refused"
    )
    payments_interval_seconds: float = Field(
        2.0, ge=0, description="how often the worker retries owed provider calls (0: never)"
    )
    payment_authorization_seconds: float = Field(
        7 * 24 * 3600,
        gt=0,
        description="how long the provider holds an authorised card (Stripe: 7 days); the "
        "seller's confirmation window must end before it",
    )
    platform_fee_bps: int = Field(
        500, ge=0, le=10_000, description="the platform's fee on an order, in basis points"
    )
    payout_hold_seconds: float = Field(
        3 * 24 * 3600,
        ge=0,
        description="a completed order's money is held this long before the seller can have it",
    )
    payout_minimum: int = Field(
        1000, ge=1, description="payouts start at this available balance (minor units)"
    )
    payout_interval_seconds: float = Field(
        24 * 3600, ge=0, description="sellers are paid out this often (0: on request only)"
    )
    promotion_currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    promotion_plans: str = Field(
        '{"day": {"days": 1, "boost": 30, "price": 199},'
        ' "week": {"days": 7, "boost": 20, "price": 799},'
        ' "month": {"days": 30, "boost": 15, "price": 2499}}',
        description="JSON: {plan: {days, boost (hype points), price (minor units)}}",
    )
    promoted_per_page: int = Field(
        2, ge=1, description="at most this many promoted cards in a browse page or a deck"
    )
    # trust and safety
    review_window_days: float = Field(
        14, gt=0, description="after completion, each side may review the other this long"
    )
    trust_interval_seconds: float = Field(
        900.0, gt=0, description="trust scores and fraud rings are recomputed this often"
    )
    # notifications: links in mail, SMTP (none set: mail is written under data_dir/mail), SMS
    public_url: str = Field("http://127.0.0.1:8000", description="the base of links in mail")
    mail_from: str = "Vendr <no-reply@vendr.localhost>"
    smtp_host: str = Field("", description="empty: development mail lands in data_dir/mail")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str = ""
    smtp_password: str = ""
    sms_provider: Literal["file", "twilio"] = Field(
        "file", description="file: development SMS land in data_dir/sms"
    )
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    notify_interval_seconds: float = Field(
        2.0, ge=0, description="how often the worker delivers without a wake-up (0: never)"
    )
    notify_max_attempts: int = Field(8, ge=1, le=30)
    notify_backoff_seconds: float = Field(30.0, gt=0, description="first retry; doubles after")
    notify_lease_seconds: float = Field(
        120.0, gt=0, description="a claimed notification is claimed again after this"
    )
    message_notify_after_seconds: float = Field(
        600.0, ge=0, description="unread chat lines quiet this long become one notification"
    )
    search_digest_seconds: float = Field(
        86400.0, gt=0, description="saved-search matches by email: one digest per period"
    )
    notification_retention_days: int = Field(90, ge=1)
    code_ttl_seconds: int = Field(600, ge=60, description="verification codes expire")
    code_attempts: int = Field(
        5, ge=1, description="wrong tries a code takes from its asker, and from everyone else"
    )
    code_resend_seconds: int = Field(
        60, ge=0, description="between two codes sent to one asker (address or account)"
    )
    code_sends_per_hour: int = Field(5, ge=1, description="codes an hour to one asker")
    code_sends_per_hour_all: int = Field(
        10, ge=1, description="codes an hour for one email or account, whoever asks"
    )
    reset_ttl_seconds: int = Field(1800, ge=60, description="password reset codes expire")
    default_phone_region: str | None = Field(
        None, description="ISO country for numbers given without +country (e.g. BE)"
    )
    social_provider: Literal["dev", "oauth"] = Field(
        "oauth",
        description="oauth: VENDR_OAUTH_PROVIDERS; dev (the default with VENDR_ENV=dev, refused "
        "otherwise): a local stand-in proves any handle",
    )
    oauth_providers: str = Field(
        "",
        description="JSON: {provider: {authorize_url, token_url, userinfo_url, client_id,"
        " client_secret, handle_field}}",
    )
    max_saved_searches: int = Field(50, ge=1)
    demo_users: int = 200
    demo_products: int = 1000

    @model_validator(mode="after")
    def _graph_name(self) -> Settings:
        if not self.graph_name:
            neo4j = urlsplit(self.graph_url).scheme.startswith(("neo4j", "bolt"))
            object.__setattr__(self, "graph_name", "neo4j" if neo4j else "vendr")
        return self

    @model_validator(mode="after")
    def _authorisation_outlives_confirmation(self) -> Settings:
        """A card authorised at placement must still be capturable when the seller confirms:
        the confirmation window ends first, so an order the seller never confirms is voided by
        its timer, never found with a lapsed authorisation."""
        if self.order_confirm_seconds >= self.payment_authorization_seconds:
            raise ValueError(
                f"VENDR_ORDER_CONFIRM_SECONDS ({self.order_confirm_seconds:g}) must be shorter "
                "than VENDR_PAYMENT_AUTHORIZATION_SECONDS "
                f"({self.payment_authorization_seconds:g}): a card authorisation lapses then"
            )
        return self

    @model_validator(mode="after")
    def _dev_shortcuts(self) -> Settings:
        """The development shortcuts come with VENDR_ENV=dev, and only with it: a deployment
        that forgets one setting must not inherit them."""
        if self.env == "dev":
            if "social_provider" not in self.model_fields_set:
                object.__setattr__(self, "social_provider", "dev")
            return self
        if self.social_provider == "dev":
            raise ValueError(
                "VENDR_SOCIAL_PROVIDER=dev lets anyone verify any social handle: it is a "
                "development shortcut, allowed only with VENDR_ENV=dev"
            )
        if self.order_payment and not self.stripe_secret_key:
            raise ValueError(
                "VENDR_ORDER_PAYMENT needs a payment provider: set VENDR_STRIPE_SECRET_KEY and "
                "VENDR_STRIPE_WEBHOOK_SECRET (the local provider is for VENDR_ENV=dev only)"
            )
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        networks(value)  # refused at start-up, not at the first request
        return value

    @property
    def dev(self) -> bool:
        return self.env == "dev"

    @property
    def local_payments(self) -> bool:
        """The local provider and its card terminal: development without a Stripe key."""
        return self.dev and not self.stripe_secret_key

    def dev_shortcuts(self) -> list[str]:
        """What is switched on only because VENDR_ENV=dev, in words for the start-up warning."""
        on = []
        if self.social_provider == "dev":
            on.append(
                "the stand-in social provider: anyone verifies any handle "
                "(GET /v1/dev/socials/…/authorize)"
            )
        if self.local_payments:
            on.append(
                "the local payment provider: a payer marks their own payment paid "
                "(POST /v1/dev/payments/…/succeed, `vendr payments succeed`)"
            )
        if self.dev:
            on.append("demo data on request (--demo, `vendr lab`)")
        return on

    @property
    def embedded(self) -> bool:
        return self.graph_url == "embedded"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
