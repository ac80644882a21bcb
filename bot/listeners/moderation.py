"""The moderation notice's two buttons, "Looks fine" and "Keep flagged": acked at once; a lazy listener then checks
who pressed, records the decision and updates the notice (bot.moderation_review), and, for "Looks fine", has the
image labelled: by the workers, or on AWS Lambda by this invocation."""

from __future__ import annotations

from slack_bolt import App

from bot.moderation_notice import KEEP_ACTION, RELEASE_ACTION
from bot.services import Services
from bot.slack_api import respond_ephemeral


def register(app: App, services: Services) -> None:
    def ack_press(ack) -> None:
        ack()  # within Slack's 3 seconds: users.info, the store and chat.update happen after it

    def decide(body: dict, respond) -> None:
        decision = services.review.decide(body)
        if decision.answer:
            tell_presser(respond, decision.answer)
        if decision.relabel is None:
            return
        if services.pool.works_after_ack:  # AWS Lambda: this invocation is the one to label it
            services.pool.work_on_message(*decision.relabel)
        else:
            services.pool.notify()

    for action_id in (RELEASE_ACTION, KEEP_ACTION):
        app.action(action_id)(ack=ack_press, lazy=[decide])


def tell_presser(respond, text: str) -> None:
    """An ephemeral answer through the press's response_url: it reaches the presser in a channel and in a DM."""
    respond_ephemeral(respond, text, "answer a moderation button press")  # best effort: the notice shows the decision
