"""The demo set `vendr serve --demo` loads into an empty graph: people and shops to log in as."""

from __future__ import annotations

import logging
import random

from graph.accounts import AccountService
from graph.bootstrap import Services
from graph.commands import Place, Signup, UpdateProfile
from graph.store import statement

log = logging.getLogger("vendr.seeds")

DEMO_PASSWORD = "vendr-demo-pass"  # noqa: S105 - published demo accounts, local data only

COUNT_USERS = statement("seeds.count_users", "MATCH (u:User) RETURN count(u) AS n")

CITIES = (
    ("Amsterdam", 52.3676, 4.9041),
    ("Rotterdam", 51.9244, 4.4777),
    ("Utrecht", 52.0907, 5.1214),
    ("Berlin", 52.5200, 13.4050),
    ("Paris", 48.8566, 2.3522),
)
FIRST = ("Anna", "Bram", "Chloé", "Daan", "Emma", "Finn", "Greta", "Hugo", "Iris", "Jonas")
SHOPS = ("Second Spin Records", "Velo Vintage", "Attic Finds", "Kid & Co Resale")


async def load_demo_if_empty(services: Services, *, seed: int = 7) -> bool:
    rows = await services.store.run(COUNT_USERS)
    if rows[0]["n"]:
        return False
    rng = random.Random(seed)
    accounts = services.accounts
    for i, name in enumerate(FIRST):
        await _signup(
            accounts,
            rng,
            Signup(
                email=f"{name.lower()}@demo.vendr.test".replace("é", "e"),
                password=DEMO_PASSWORD,
                display_name=name,
                kind="person",
            ),
        )
        log.debug("demo user %d", i)
    for name in SHOPS:
        handle = name.lower().replace(" & ", "_").replace(" ", "_")
        await _signup(
            accounts,
            rng,
            Signup(
                email=f"{handle}@demo.vendr.test",
                password=DEMO_PASSWORD,
                display_name=name,
                kind="business",
                shop_name=name,
            ),
        )
    log.info("loaded demo accounts; log in as anna@demo.vendr.test / %s", DEMO_PASSWORD)
    return True


async def _signup(accounts: AccountService, rng: random.Random, cmd: Signup) -> None:
    user, _ = await accounts.signup(cmd)
    city, lat, lon = rng.choice(CITIES)
    place = Place(lat=lat + rng.uniform(-0.05, 0.05), lon=lon + rng.uniform(-0.05, 0.05))
    await accounts.update_profile(UpdateProfile(user_id=user["id"], city=city, location=place))
