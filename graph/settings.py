"""Typed settings from the environment (12-factor). Defaults run on a laptop with no set-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENDR_", frozen=True)

    graph_url: str = Field(
        "embedded", description="embedded | falkordb://[:password@]host:port | neo4j://… | bolt://…"
    )
    graph_name: str = Field("vendr", description="FalkorDB graph key / Neo4j database name")
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
    listing_ttl_days: int = 30
    purge_after_days: int = 30
    background: Literal["on", "off"] = Field(
        "on", description="`vendr serve` starts the background worker beside the HTTP workers"
    )
    jobs_interval_seconds: float = 60.0
    cache_ttl_seconds: float = 30.0
    hype_full_seconds: float = 600.0
    feed_pools_rebuild_seconds: float = 900.0
    max_request_bytes: int = 12 * 1024 * 1024
    max_json_bytes: int = 64 * 1024
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    image_max_side: int = 2048
    thumb_side: int = 320
    token_ttl_seconds: int = 30 * 24 * 3600
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
    demo_users: int = 200
    demo_products: int = 1000

    @property
    def embedded(self) -> bool:
        return self.graph_url == "embedded"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
