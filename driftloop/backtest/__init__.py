"""Replay the history under several retraining policies side by side, and show which one pays.

`engine` replays the policies (sharing every training and verdict they have in common), `records` holds
what they found, `report` renders it as a table and a PNG.
"""

from driftloop.backtest.engine import Backtest, run_backtest
from driftloop.backtest.records import BacktestPeriod, BacktestResult, PolicyRun
from driftloop.backtest.report import plot_backtest, render_backtest

__all__ = [
    "Backtest",
    "BacktestPeriod",
    "BacktestResult",
    "PolicyRun",
    "plot_backtest",
    "render_backtest",
    "run_backtest",
]
