"""The event log's schemas of accounts, moderation, trust, notifications and the feed."""

from __future__ import annotations

from typing import Any

from graph.infra.events.core import (
    DERIVED_PROPERTIES,
    OPERATIONAL_LABELS,
    Facts,
    not_sourced,
    source,
)

# Personal facts here are what a deleted account's Events lose (graph.accounts.erasure): exactly
# what `lifecycle.delete_account` takes out of the graph (User names and places, Credential,
# SocialAccount, saved searches, listings' exact places), so a replay of the erased log still
# converges on the graph the deletion left; the statements treat a None fact as "no change". What
# the graph keeps for the other party (messages, reviews, a report's note) the log keeps too.


class _AccountsOutbox(Facts):
    """The `$ob_*` parameters of an outbox record (graph.notify.records.OUTBOX_NODE) a source
    writes beside its change; `ob_secret` (a code) is always a secret."""

    ob_id: str
    ob_key: str
    ob_kind: str
    ob_type: str
    ob_recipients: list[str] | None
    ob_audience: str | None
    ob_channels: list[str] | None
    ob_actor_id: str
    ob_subject_id: str
    ob_data: str
    ob_to: str | None


_OUTBOX_SECRET = ("ob_secret",)


class UserSignedUp(Facts):
    id: str
    email: str | None
    phone: str | None
    handle: str | None
    display_name: str | None
    kind: str
    shop_name: str | None
    shop_id: str


class AccountRef(Facts):
    id: str


class UserUpdated(Facts):
    id: str
    display_name: str | None
    handle: str | None
    bio: str | None
    city: str | None
    show_city: bool | None
    location: dict[str, Any] | None
    shop_name: str | None


class AvatarSet(Facts):
    id: str
    image_id: str


class UserBlocked(Facts):
    user_id: str
    other_id: str


class EmailVerified(Facts):
    user_id: str
    email: str | None


class PhoneVerified(Facts):
    user_id: str
    phone: str | None


class PasswordSet(_AccountsOutbox):
    user_id: str
    event_type: str


class AccountDeleted(Facts):
    user_id: str
    tombstone: str
    deals_end_reason: str
    deals_end_grace_ms: int


class SocialLinked(Facts):
    user_id: str
    provider: str
    handle: str | None
    key: str | None


class SocialVerified(Facts):
    user_id: str
    provider: str
    key: str | None


class SocialUnlinked(Facts):
    user_id: str
    provider: str


source("accounts.signup", "user.signed_up", UserSignedUp, secret=("password_hash",),
       personal=("email", "phone", "handle", "display_name"))  # fmt: skip
# a new hash of the same password: the log keeps when, never the hash
source("accounts.rehash", "credential.rehashed", AccountRef, secret=("password_hash",))
# volume: purged by retention (graph.background.jobs); leaves User.last_login_at
source("accounts.logged_in", "user.logged_in", AccountRef)
source("accounts.update_profile", "user.updated", UserUpdated,
       personal=("display_name", "handle", "bio", "city", "location"))  # fmt: skip
source("accounts.set_avatar", "user.avatar_set", AvatarSet)
source("accounts.block", "user.blocked", UserBlocked)
source("accounts.unblock", "user.unblocked", UserBlocked)
source("lifecycle.confirm_email", "user.email_verified", EmailVerified, personal=("email",))
source("lifecycle.confirm_phone", "user.phone_verified", PhoneVerified, personal=("phone",))
# type 'password.changed' or 'password.reset' ($event_type)
source("lifecycle.set_password", "password.changed", PasswordSet,
       secret=("password_hash", *_OUTBOX_SECRET), personal=("ob_to",))  # fmt: skip
source("lifecycle.delete_account", "user.deleted", AccountDeleted)
source("socials.link", "social.linked", SocialLinked, personal=("handle", "key"))
source("socials.verify", "social.verified", SocialVerified, personal=("key",))
source("socials.unlink", "social.unlinked", SocialUnlinked)
not_sourced("lifecycle.notice", "operational: an account notice (a code) in the outbox alone")
not_sourced("lifecycle.erase_events", "operational: erasure of a deleted account's personal facts")
not_sourced("lifecycle.forget_dealt", "operational: a deleted account's impressions go")
not_sourced("ending.clear", "operational: the mark of an account whose deals have all ended")
not_sourced("ending.postpone", "operational: when the worker tries a marked account's deals again")


class ReportFiled(Facts):
    user_id: str
    target: str
    target_id: str
    id: str
    reason: str
    note: str | None


class ModerationDecision(Facts):
    target: str
    target_id: str
    owner_id: str
    admin: str
    reason: str
    action: str
    outcome: str


class Suspension(ModerationDecision):
    deals_end_reason: str
    deals_end_grace_ms: int


class Reinstated(Facts):
    user_id: str
    admin: str
    reason: str


class MarkedTrusted(Reinstated):
    trusted: bool


for _target in ("product", "user", "message", "review"):
    source(f"reports.file_{_target}", "report.filed", ReportFiled)
for _what in ("product", "message", "review"):
    source(f"moderation.hide_{_what}", "moderation.hide", ModerationDecision)
source("moderation.dismiss", "moderation.dismiss", ModerationDecision)
source("moderation.suspend", "moderation.suspend", Suspension)
source("moderation.reinstate", "moderation.reinstate", Reinstated)
source("moderation.mark_trusted", "moderation.trusted", MarkedTrusted)


class ReviewWritten(_AccountsOutbox):
    order_id: str
    user_id: str
    subject_id: str
    role: str
    id: str
    rating: int
    comment: str | None
    window_ms: int


class ReviewReplied(Facts):
    id: str
    user_id: str
    body: str | None


class ReviewsPublished(Facts):
    batch: int


class FlaggedMember(Facts):
    user_id: str
    report_id: str
    ring_id: str
    note: str
    evidence: str


class RingFlagged(Facts):
    rows: list[FlaggedMember]


source("reviews.write", "review.written", ReviewWritten, secret=_OUTBOX_SECRET)
source("reviews.reply", "review.replied", ReviewReplied)
source("reviews.publish_due", "reviews.published", ReviewsPublished)
# one Event per member: 'report.filed' for a new report, 'report.refreshed' for new evidence
source("trust.flag_ring", "report.filed", RingFlagged, rows="rows")
not_sourced("trust.write", "derived: trust scores the sweeper recomputes from facts")
not_sourced("trust.run_event", "derived: a note of a trust recomputation (its counts)")


class NotifySettings(Facts):
    user_id: str
    pairs: list[str]


source("outbox.set_settings", "user.notifications_set", NotifySettings)
for _name, _why in {
    "outbox.fan_out": "records into Notifications, by the worker",
    "outbox.claim": "a lease on due notifications",
    "outbox.record": "a delivery's outcome",
    "outbox.mark_read": "the inbox's read marks",
    "outbox.purge": "old notifications dropped",
    "outbox.purge_records": "fanned-out records dropped",
    "outbox.unread_chats": "unread-chat reminders queued (MEMBER.mailed_at)",
}.items():
    not_sourced(_name, "operational: " + _why)


class FeedTarget(Facts):
    user_id: str
    product_id: str


class FeedSwipe(Facts):
    product_id: str
    dir: str


class Swiped(Facts):
    user_id: str
    swipes: list[FeedSwipe]


class InterestsSet(Facts):
    user_id: str
    tags: list[str]


# one Event per listing swiped: 'product.liked', 'product.unliked' (a pass that takes a like
# back: kept) or 'product.passed' (volume, purged by retention: their PASSED edges stay)
source("feed.swipes", "product.liked", Swiped, rows="swipes")
# the feed's impressions (graph.feed.impressions), written by the worker in batches: a log of
# what decks showed, for the learner and the experiment report, that changes nothing in the
# marketplace, so a replay has nothing to rebuild from them (volume, purged by retention)
not_sourced(
    "feed.dealt",
    "operational: the feed's impression log (cards dealt, under which blend and arm)",
)
source("feed.save", "product.saved", FeedTarget)
source("feed.unsave", "product.unsaved", FeedTarget)
# volume: purged by retention; leaves VIEWED edges (at, count). Views are queued and written in
# batches (graph.feed.views): one Event per view, at the time it was seen; `feed.view` wrote
# them one at a time before, and replays the log's older ones
source("feed.view", "product.viewed", FeedTarget)


class FeedView(Facts):
    user_id: str
    product_id: str
    at: int


class Viewed(Facts):
    rows: list[FeedView]


source("feed.views", "product.viewed", Viewed, rows="rows")
source("feed.set_interests", "user.interests", InterestsSet)


class BlendFitted(Facts):
    blend_id: str
    version: str
    weights: str  # JSON: feature -> weight (graph.feed.blend.FEATURES)
    fitted_at: int
    shipped: bool
    reason: str
    figures: str  # JSON: the shadow evaluation's figures


# the background worker's fit of the deck's blend and its decision (shipped or kept), with the
# figures it was judged on: a fact (the blend decks ranked with), so replay rebuilds it
source("feed.blend_fitted", "feed.blend_fitted", BlendFitted)

DERIVED_PROPERTIES.update(
    {
        # the trust sweeper's (trust.write); signup starts trust_score at 0
        "User.trust_score",
        "User.trust_components",
        "User.trust_network",
        "User.trust_at",
        # secrets: replay runs without them
        "Credential.password_hash",
        # operational: the deal-ending mark, cleared by the finisher (graph.accounts.ending)
        "User.deals_end_reason",
        "User.deals_end_at",
        "User.deals_end_due_at",
        # operational: lock markers written before a statement's checks, facts or not
        "Order.review_checked_at",
        "Review.reply_checked_at",
        # operational: when an unread-chat reminder was queued (outbox.unread_chats)
        "MEMBER.mailed_at",
    }
)
# the outbox and the notifications fanned out of it are delivery machinery: written by sources
# (records, with ids from their facts) and by the worker (notifications, read and sent marks)
OPERATIONAL_LABELS.update({"Outbox", "Notification"})
