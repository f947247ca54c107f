"""Replay the history under several retraining policies side by side, and show which one pays.

`engine` replays the policies (sharing every training and verdict they have in common), `records` holds
what they found, `report` renders it as a table and a PNG.
"""

from driftloop.replay.backtest.engine import Backtest, run_backtest
from driftloop.replay.backtest.records import BacktestResult, PolicyRun
from driftloop.replay.backtest.report import plot_backtest, render_backtest

__all__ = [
    "Backtest",
    "BacktestResult",
    "PolicyRun",
    "plot_backtest",
    "render_backtest",
    "run_backtest",
]
