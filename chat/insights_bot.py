"""The admins' report in Telegram: `/thongke [7|30]` and the weekly message.

Both send the headline figures of chat/insights.py's Report as a short text and
one chart (questions per day by grade, the top content gaps) as a PNG.  Others
get the usual refusal.  The report and the chart are computed in a worker
thread (SQLite reads, matplotlib), so the bot keeps answering meanwhile.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import time as day_time
from pathlib import Path
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, CommandHandler, ContextTypes

from .insights import PERIODS, Report, build_report, chat_chart, chat_summary, period_text, pyplot
from .render.markup import HTML
from .render.texts import ADMIN_ONLY, THONGKE_PRIVATE, thongke_usage
from .service import ChatService

log = logging.getLogger(__name__)

KEY = "insights"  # of InsightsState in application.bot_data
# python-telegram-bot counts days from Sunday (0).
WEEKDAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5,
            "saturday": 6}


@dataclass
class InsightsState:
    service: ChatService
    admins: frozenset[int]
    fetch_state: Path
    retention_days: int
    timezone: str
    dashboard: object = None  # the page's HTTP server when `[dashboard] with_bot`


def _report(state: InsightsState, days: int) -> tuple[Report, bytes]:
    """The report and its chart (blocking: run in a worker thread)."""
    reader = getattr(state.service.searcher, "reader", None)
    report = build_report(state.service.store.reader(), reader, state.fetch_state, days=days,
                          retention_days=state.retention_days, tz=state.timezone)
    return report, chat_chart(report)


async def _send(bot, chat_id: int, report: Report, chart: bytes) -> None:
    await bot.send_message(chat_id, chat_summary(report, HTML))
    await bot.send_photo(chat_id, chart, caption=f"Thống kê {period_text(report)}")


async def thongke(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/thongke [7|30] (admins): what people asked and what the archive lacks."""
    state: InsightsState = context.bot_data[KEY]
    user = update.effective_user
    if user is None or user.id not in state.admins:
        await update.effective_message.reply_html(ADMIN_ONLY)
        return
    if update.effective_chat.type != ChatType.PRIVATE:
        await update.effective_message.reply_html(THONGKE_PRIVATE)
        return
    args = context.args or []
    if args and args[0] not in {str(p) for p in PERIODS}:
        await update.effective_message.reply_html(thongke_usage(HTML))
        return
    days = int(args[0]) if args else PERIODS[0]
    with contextlib.suppress(BadRequest):
        await update.effective_chat.send_action(ChatAction.UPLOAD_PHOTO)
    report, chart = await asyncio.to_thread(_report, state, days)
    await _send(context.bot, update.effective_chat.id, report, chart)


async def weekly_report(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Job (weekly): the last 7 days' report to every admin."""
    state: InsightsState = context.bot_data[KEY]
    if not state.admins:
        return
    report, chart = await asyncio.to_thread(_report, state, 7)
    for admin in sorted(state.admins):
        try:
            await _send(context.bot, admin, report, chart)
        except (Forbidden, BadRequest) as e:  # never started the bot, or blocked it
            log.warning("weekly report not delivered to an admin: %s", e)


async def _warm_up(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Import matplotlib (0.6 s) and count the archive's coverage (0.16 ms an article)
    once in the background, so the first /thongke is not the slow one."""
    await asyncio.to_thread(pyplot)
    await asyncio.to_thread(_report, context.bot_data[KEY], 7)


def command() -> CommandHandler:
    """The /thongke handler, to list before the catch-all for unknown commands."""
    return CommandHandler(["thongke", "insights"], thongke)


def register(application: Application, config, service: ChatService, index_dir: str | Path) -> None:
    """The report's state, the weekly job and (when configured) the dashboard page."""
    bot_cfg, cfg = config.bot, config.insights
    state = InsightsState(service, frozenset(int(a) for a in bot_cfg.admins),
                          config.fetch.state_path(index_dir), bot_cfg.feedback_days, cfg.timezone)
    application.bot_data[KEY] = state
    if cfg.weekly and state.admins:
        application.job_queue.run_daily(
            weekly_report, day_time(cfg.weekly_hour, tzinfo=ZoneInfo(cfg.timezone)),
            days=(WEEKDAYS[cfg.weekly_day],), name="weekly-report")
    if state.admins:
        application.job_queue.run_once(_warm_up, 15, name="warm-up-charts")
    if config.dashboard.with_bot:
        from .dashboard import dashboard_from_config, make_server, start_in_thread

        server = make_server(dashboard_from_config(config, index_dir=index_dir),
                             config.dashboard.host, config.dashboard.port)
        start_in_thread(server)
        state.dashboard = server
        log.info("dashboard page served on %s:%s", config.dashboard.host, server.server_address[1])


def close(application: Application) -> None:
    """Stop the dashboard page served with the bot (at shutdown)."""
    state: InsightsState | None = application.bot_data.get(KEY)
    if state is not None and state.dashboard is not None:
        state.dashboard.shutdown()
        state.dashboard.server_close()
