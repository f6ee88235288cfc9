"""The compiled simulation kernel: every parameter set of a batch, bar by bar, in one call.

Imported lazily by :mod:`zixly_backtester.domain.engine` (never at package import), so that the numba
import and the load of the on-disk cache happen only when a backtest actually runs. Arithmetic is plain
IEEE double without fastmath, and the parameter sets are independent, so results are bit-identical
between runs and replicas.

Layout of the per-parameter-set metrics row (``M_*`` indices) follows ``zixly_contracts.metrics``;
NaN marks a null.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# metric columns, in zixly_contracts.metrics.METRIC_NAMES order
M_TOTAL_RETURN = 0
M_CAGR = 1
M_ANNUAL_VOLATILITY = 2
M_SHARPE = 3
M_SORTINO = 4
M_CALMAR = 5
M_MAX_DRAWDOWN = 6
M_MAX_DRAWDOWN_BARS = 7
M_MAX_DRAWDOWN_DAYS = 8
M_EXPOSURE = 9
M_CLOSED_TRADES = 10
M_OPEN_TRADES = 11
M_WIN_RATE = 12
M_PROFIT_FACTOR = 13
M_AVG_TRADE = 14
M_EXPECTANCY = 15
M_SQN = 16
M_FINAL_EQUITY = 17
N_METRICS = 18

# event flags (explicit signal rows)
ENTER_LONG = 1
EXIT_LONG = 2
ENTER_SHORT = 4
EXIT_SHORT = 8

# trade record columns
T_COMBO = 0
T_DIRECTION = 1
T_ENTRY_BAR = 2
T_EXIT_BAR = 3
T_UNITS = 4
T_ENTRY_PRICE = 5
T_EXIT_PRICE = 6
T_FEES = 7
T_PNL = 8
T_RETURN = 9
T_OPEN = 10
T_EXIT_REASON = 11
N_TRADE_COLS = 12

REASON_SIGNAL = 0
REASON_STOP_LOSS = 1
REASON_TAKE_PROFIT = 2
REASON_END = 3

NS_PER_DAY = 86_400_000_000_000.0
NONE = -2  # no pending order
DD_MARGIN = 1.0 + 1e-9  # slack of the drawdown pre-check, far above any rounding of its product


@njit(cache=True, nogil=True)
def _entry_units(avail: float, eff: float, fee_rate: float, whole: bool) -> float:
    """All-in, fee-aware size: the most units whose cost plus fees fits into ``avail``."""
    per_unit = eff + eff * fee_rate
    if avail <= 0.0 or per_unit <= 0.0:
        return 0.0
    u = avail / per_unit
    if whole:
        u = math.floor(u)
        if u >= 2.0**52:  # beyond exact float integers: one unit more or less is not representable
            return u
        # the floor is off by at most a unit or two from rounding: a bounded correction
        for _ in range(4):
            if u > 0.0 and u * eff + u * eff * fee_rate > avail:
                u -= 1.0
        for _ in range(4):
            if (u + 1.0) * eff + (u + 1.0) * eff * fee_rate <= avail:
                u += 1.0
    return u


#: Differences within this many ulps of the operands are exact ties: an indicator's floating-point
#: rounding (TA-Lib's running sums over a flat run) never creates or hides a cross.
TIE_ULPS = 8.0
EPS = 2.220446049250313e-16


@njit(cache=True, nogil=True, inline="always")
def _sign(a: float, b: float) -> int:
    """+1, -1 or 0 (a tie, or a NaN) for ``a - b``, ties within ``TIE_ULPS`` ulps of the operands."""
    tol = TIE_ULPS * EPS * max(abs(a), abs(b))
    d = a - b
    if d > tol:
        return 1
    if d < -tol:
        return -1
    return 0


@njit(cache=True, nogil=True, inline="always")
def _dd_watch(peak: float, mdd: float) -> float:
    """An equity at or above this value cannot deepen the drawdown ``mdd`` below ``peak``: the drawdown
    ``e / peak - 1`` (and its division) is computed only for equities under it. The slack factor makes
    the pre-check conservative beyond every rounding, so the result is the same as dividing every bar."""
    if peak > 0.0:
        return peak * (1.0 + mdd) * DD_MARGIN
    return math.inf


# trade statistics accumulated per parameter set (slots of a small scratch array)
S_CLOSED = 0
S_WINS = 1
S_GROSS_WIN = 2
S_GROSS_LOSS = 3
S_RET_SUM = 4
S_PNL_MEAN = 5
S_PNL_M2 = 6
N_STATS = 7


@njit(cache=True, nogil=True, inline="always")
def _close_position(
    c: int,
    t: int,
    units: float,
    pos: int,
    px: float,
    entry_eff: float,
    entry_fee: float,
    entry_bar: int,
    reason: int,
    slip: float,
    fee_rate: float,
    fixed_fee: float,
    st: np.ndarray,
    record_trades: bool,
    trades_out: np.ndarray,
    n_tr: int,
) -> tuple[float, int]:
    """Close ``units`` at raw price ``px``; returns (cash received, trade rows written so far)."""
    eff = px * (1.0 - slip) if pos > 0 else px * (1.0 + slip)
    fee = abs(units) * eff * fee_rate + fixed_fee
    pnl = units * (eff - entry_eff) - entry_fee - fee
    basis = abs(units) * entry_eff
    tret = pnl / basis if basis > 0.0 else 0.0
    st[S_CLOSED] += 1.0
    if pnl > 0.0:
        st[S_WINS] += 1.0
        st[S_GROSS_WIN] += pnl
    elif pnl < 0.0:
        st[S_GROSS_LOSS] -= pnl
    st[S_RET_SUM] += tret
    delta = pnl - st[S_PNL_MEAN]
    st[S_PNL_MEAN] += delta / st[S_CLOSED]
    st[S_PNL_M2] += delta * (pnl - st[S_PNL_MEAN])
    if record_trades:
        if n_tr < trades_out.shape[0]:
            tr = trades_out[n_tr]
            tr[T_COMBO] = c
            tr[T_DIRECTION] = pos
            tr[T_ENTRY_BAR] = entry_bar
            tr[T_EXIT_BAR] = t
            tr[T_UNITS] = abs(units)
            tr[T_ENTRY_PRICE] = entry_eff
            tr[T_EXIT_PRICE] = eff
            tr[T_FEES] = entry_fee + fee
            tr[T_PNL] = pnl
            tr[T_RETURN] = tret
            tr[T_OPEN] = 0.0
            tr[T_EXIT_REASON] = reason
        n_tr += 1
    return units * eff - fee, n_tr


@njit(cache=True, nogil=True, inline="always")
def _open_position(
    cash: float,
    tgt: int,
    px: float,
    slip: float,
    fee_rate: float,
    fixed_fee: float,
    whole: bool,
    fixed_units: float,
) -> tuple[float, float, float, float]:
    """Open a ``tgt`` (±1) position at raw price ``px``: (cash after, signed units, fill price, fee)."""
    eff = px * (1.0 + slip) if tgt > 0 else px * (1.0 - slip)
    if fixed_units > 0.0:
        u = fixed_units
    else:
        u = _entry_units(cash - fixed_fee, eff, fee_rate, whole)
    if u <= 0.0:
        return cash, 0.0, 0.0, 0.0
    fee = u * eff * fee_rate + fixed_fee
    return cash - (tgt * u * eff + fee), tgt * u, eff, fee


@njit(cache=True, nogil=True)
def simulate_batch(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tradable: np.ndarray,
    ts_ns: np.ndarray,
    x: np.ndarray,
    lines: np.ndarray,
    ix: np.ndarray,
    il: np.ndarray,
    dirs: np.ndarray,
    flags: np.ndarray,
    use_flags: bool,
    fill_close: bool,
    whole: bool,
    long_short: bool,
    fee_rate: float,
    fixed_fee: float,
    slip: float,
    sl_frac: float,
    tp_frac: float,
    cash0: float,
    fixed_units: float,
    rf_per_bar: float,
    ppy: float,
    equity_out: np.ndarray,
    metrics_out: np.ndarray,
    record_trades: bool,
    trades_out: np.ndarray,
) -> int:
    """Run every parameter set; returns the number of trade rows written (or -1 if ``trades_out`` is full).

    Signals: for parameter set ``c`` and event ``k`` (enter long, exit long, enter short, exit short),
    the event fires at bar ``t`` when the sign of ``x[ix[c], t] - lines[il[c, k], t]`` equals
    ``dirs[k]`` and its last non-zero sign before ``t`` was the opposite (the tie rule; a NaN
    compares as a tie, so warm-up bars carry no sign); with ``use_flags`` the events come from the bit
    flags ``flags[ix[c], t]`` instead.
    """
    n_sets = ix.shape[0]
    n = close.shape[0]
    has_sl = sl_frac > 0.0
    has_tp = tp_frac > 0.0
    has_stops = has_sl or has_tp
    n_events = 4 if long_short else 2
    n_tr = 0
    d0 = dirs[0]
    d1 = dirs[1]
    d2 = dirs[2]
    d3 = dirs[3]
    st = np.zeros(N_STATS)
    rets = np.empty(n)
    ls = np.zeros(4, dtype=np.int64)
    for c in range(n_sets):
        cash = cash0
        units = 0.0
        pos = 0
        entry_eff = 0.0
        entry_fee = 0.0
        entry_bar = -1
        sl_lvl = 0.0
        tp_lvl = 0.0
        stop_start = 0
        pending = NONE
        ls[:] = 0
        last_sign = 0
        st[:] = 0.0
        xi = ix[c]
        l0 = il[c, 0]
        shared = il[c, 1] == l0 and il[c, 2] == l0 and il[c, 3] == l0
        exposed = 0
        row = equity_out[c]
        # running return / drawdown statistics (pass 1 of the metrics, fused into the simulation)
        prev = cash0
        rsum = 0.0
        peak = cash0
        peak_i = 0
        mdd = 0.0
        mdd_peak_i = 0
        mdd_end_i = -1
        mdd_open = False
        dd_watch = _dd_watch(cash0, 0.0)
        for t in range(n):
            trad = tradable[t]
            # ---- 1. an order pending from the previous signal fills at this bar's open (written out
            # here and in step 4: one shared inline helper returning the nine state values measured
            # 3-6 % slower on the benchmark grid)
            if pending != NONE and trad and not fill_close:
                tgt = pending
                pending = NONE
                if pos != 0:
                    got, n_tr = _close_position(
                        c, t, units, pos, open_[t], entry_eff, entry_fee, entry_bar, REASON_SIGNAL,
                        slip, fee_rate, fixed_fee, st, record_trades, trades_out, n_tr,
                    )  # fmt: skip
                    cash += got
                    units = 0.0
                    pos = 0
                if tgt != 0:
                    cash, units, entry_eff, entry_fee = _open_position(
                        cash, tgt, open_[t], slip, fee_rate, fixed_fee, whole, fixed_units
                    )
                    if units != 0.0:
                        pos = tgt
                        entry_bar = t
                        stop_start = t
                        if has_sl:
                            sl_lvl = open_[t] * (1.0 - sl_frac) if pos > 0 else open_[t] * (1.0 + sl_frac)
                        if has_tp:
                            tp_lvl = open_[t] * (1.0 + tp_frac) if pos > 0 else open_[t] * (1.0 - tp_frac)
            # ---- 2. stop-loss / take-profit in the bar; a gap through the level fills at the open
            if has_stops and pos != 0 and trad and t >= stop_start:
                o = open_[t]
                reason = 0
                xpx = 0.0
                if pos > 0:
                    if has_sl and o <= sl_lvl:
                        reason = REASON_STOP_LOSS
                        xpx = o
                    elif has_tp and o >= tp_lvl:
                        reason = REASON_TAKE_PROFIT
                        xpx = o
                    elif has_sl and low[t] <= sl_lvl:
                        reason = REASON_STOP_LOSS
                        xpx = sl_lvl
                    elif has_tp and high[t] >= tp_lvl:
                        reason = REASON_TAKE_PROFIT
                        xpx = tp_lvl
                else:
                    if has_sl and o >= sl_lvl:
                        reason = REASON_STOP_LOSS
                        xpx = o
                    elif has_tp and o <= tp_lvl:
                        reason = REASON_TAKE_PROFIT
                        xpx = o
                    elif has_sl and high[t] >= sl_lvl:
                        reason = REASON_STOP_LOSS
                        xpx = sl_lvl
                    elif has_tp and low[t] <= tp_lvl:
                        reason = REASON_TAKE_PROFIT
                        xpx = tp_lvl
                if reason != 0:
                    got, n_tr = _close_position(
                        c, t, units, pos, xpx, entry_eff, entry_fee, entry_bar, reason,
                        slip, fee_rate, fixed_fee, st, record_trades, trades_out, n_tr,
                    )  # fmt: skip
                    cash += got
                    units = 0.0
                    pos = 0
            # ---- 3. the signal of this bar's close
            ev = 0
            if use_flags:
                ev = flags[xi, t]
            elif shared:
                a = x[xi, t]
                b = lines[l0, t]
                sg = _sign(a, b)
                if sg != 0:
                    if last_sign == -sg:
                        if sg == d0:
                            ev |= ENTER_LONG
                        if sg == d1:
                            ev |= EXIT_LONG
                        if long_short:
                            if sg == d2:
                                ev |= ENTER_SHORT
                            if sg == d3:
                                ev |= EXIT_SHORT
                    last_sign = sg
            else:
                a = x[xi, t]
                for k in range(n_events):
                    b = lines[il[c, k], t]
                    sg = _sign(a, b)
                    if sg != 0:
                        if ls[k] == -sg and sg == dirs[k]:
                            ev |= 1 << k
                        ls[k] = sg
            if ev != 0:
                tgt = pos
                if pos > 0:
                    if long_short and (ev & ENTER_SHORT) != 0:
                        tgt = -1
                    elif (ev & EXIT_LONG) != 0:
                        tgt = 0
                elif pos < 0:
                    if (ev & ENTER_LONG) != 0:
                        tgt = 1
                    elif (ev & EXIT_SHORT) != 0:
                        tgt = 0
                else:
                    if (ev & ENTER_LONG) != 0:
                        tgt = 1
                    elif long_short and (ev & ENTER_SHORT) != 0:
                        tgt = -1
                pending = tgt if tgt != pos else NONE
            # ---- 4. fill at this bar's close
            if fill_close and pending != NONE and trad:
                tgt = pending
                pending = NONE
                if pos != 0:
                    got, n_tr = _close_position(
                        c, t, units, pos, close[t], entry_eff, entry_fee, entry_bar, REASON_SIGNAL,
                        slip, fee_rate, fixed_fee, st, record_trades, trades_out, n_tr,
                    )  # fmt: skip
                    cash += got
                    units = 0.0
                    pos = 0
                if tgt != 0:
                    cash, units, entry_eff, entry_fee = _open_position(
                        cash, tgt, close[t], slip, fee_rate, fixed_fee, whole, fixed_units
                    )
                    if units != 0.0:
                        pos = tgt
                        entry_bar = t
                        stop_start = t + 1
                        if has_sl:
                            sl_lvl = close[t] * (1.0 - sl_frac) if pos > 0 else close[t] * (1.0 + sl_frac)
                        if has_tp:
                            tp_lvl = close[t] * (1.0 + tp_frac) if pos > 0 else close[t] * (1.0 - tp_frac)
            # ---- 5. mark to market at the close; returns and drawdown
            if pos != 0:
                e = cash + units * close[t]
                exposed += 1
            else:
                e = cash
            row[t] = e
            if e != prev:
                r = (e - prev) / abs(prev) if prev != 0.0 else 0.0
            else:
                r = 0.0
            rets[t] = r
            rsum += r - rf_per_bar
            prev = e
            if e >= peak:
                if mdd_open:
                    mdd_end_i = t
                    mdd_open = False
                peak = e
                peak_i = t
                dd_watch = _dd_watch(peak, mdd)
            elif e < dd_watch:
                # only an equity near or below the deepest drawdown so far can deepen it: the
                # division runs for those bars alone (the margin covers every rounding of ``dd_watch``)
                dd = e / peak - 1.0 if peak > 0.0 else -1.0
                if dd < mdd:
                    mdd = dd
                    mdd_peak_i = peak_i
                    mdd_open = True
                    dd_watch = _dd_watch(peak, mdd)
        # ---- metrics of this parameter set
        m = metrics_out[c]
        e_last = row[n - 1]
        m[M_FINAL_EQUITY] = e_last
        m[M_TOTAL_RETURN] = e_last / cash0 - 1.0
        m[M_EXPOSURE] = exposed / n
        n_closed = st[S_CLOSED]
        m[M_CLOSED_TRADES] = n_closed
        m[M_OPEN_TRADES] = 1.0 if pos != 0 else 0.0
        if pos != 0 and record_trades:
            if n_tr < trades_out.shape[0]:
                eff = close[n - 1]
                tr = trades_out[n_tr]
                tr[T_COMBO] = c
                tr[T_DIRECTION] = pos
                tr[T_ENTRY_BAR] = entry_bar
                tr[T_EXIT_BAR] = n - 1
                tr[T_UNITS] = abs(units)
                tr[T_ENTRY_PRICE] = entry_eff
                tr[T_EXIT_PRICE] = eff
                tr[T_FEES] = entry_fee
                tr[T_PNL] = units * (eff - entry_eff) - entry_fee
                basis = abs(units) * entry_eff
                tr[T_RETURN] = tr[T_PNL] / basis if basis > 0.0 else 0.0
                tr[T_OPEN] = 1.0
                tr[T_EXIT_REASON] = REASON_END
            n_tr += 1
        if n_closed > 0:
            m[M_WIN_RATE] = st[S_WINS] / n_closed
            m[M_AVG_TRADE] = st[S_RET_SUM] / n_closed
            m[M_EXPECTANCY] = st[S_PNL_MEAN]
            m[M_PROFIT_FACTOR] = st[S_GROSS_WIN] / st[S_GROSS_LOSS] if st[S_GROSS_LOSS] > 0.0 else np.nan
        else:
            m[M_WIN_RATE] = np.nan
            m[M_AVG_TRADE] = np.nan
            m[M_EXPECTANCY] = np.nan
            m[M_PROFIT_FACTOR] = np.nan
        if n_closed > 1 and st[S_PNL_M2] > 0.0:
            m[M_SQN] = math.sqrt(n_closed) * st[S_PNL_MEAN] / math.sqrt(st[S_PNL_M2] / (n_closed - 1))
        else:
            m[M_SQN] = np.nan
        if mdd_open:
            mdd_end_i = n - 1
        m[M_MAX_DRAWDOWN] = mdd
        if mdd < 0.0:
            m[M_MAX_DRAWDOWN_BARS] = mdd_end_i - mdd_peak_i
            m[M_MAX_DRAWDOWN_DAYS] = (ts_ns[mdd_end_i] - ts_ns[mdd_peak_i]) / NS_PER_DAY
        else:
            m[M_MAX_DRAWDOWN_BARS] = 0.0
            m[M_MAX_DRAWDOWN_DAYS] = 0.0
        _ratio_metrics(rets, rsum, e_last / cash0, rf_per_bar, ppy, mdd, m)
    if n_tr > trades_out.shape[0]:
        return -1
    return n_tr


@njit(cache=True, nogil=True)
def _ratio_metrics(
    rets: np.ndarray,
    excess_sum: float,
    growth: float,
    rf_per_bar: float,
    ppy: float,
    mdd: float,
    m: np.ndarray,
) -> None:
    """CAGR, volatility, Sharpe, Sortino and Calmar from the per-bar returns (pass 2: deviations)."""
    n = rets.shape[0]
    if n < 2:
        m[M_CAGR] = np.nan
        m[M_ANNUAL_VOLATILITY] = np.nan
        m[M_SHARPE] = np.nan
        m[M_SORTINO] = np.nan
        m[M_CALMAR] = np.nan
        return
    mean = excess_sum / n
    # four interleaved partial sums (a fixed order, so still deterministic): the additions of one bar
    # do not wait for those of the previous one
    v0 = v1 = v2 = v3 = 0.0
    d0 = d1 = d2 = d3 = 0.0
    first = rets[0]
    differs = False
    n4 = n - n % 4
    for t in range(0, n4, 4):
        r0 = rets[t]
        r1 = rets[t + 1]
        r2 = rets[t + 2]
        r3 = rets[t + 3]
        q0 = r0 - rf_per_bar
        q1 = r1 - rf_per_bar
        q2 = r2 - rf_per_bar
        q3 = r3 - rf_per_bar
        v0 += (q0 - mean) * (q0 - mean)
        v1 += (q1 - mean) * (q1 - mean)
        v2 += (q2 - mean) * (q2 - mean)
        v3 += (q3 - mean) * (q3 - mean)
        n0 = q0 if q0 < 0.0 else 0.0
        n1 = q1 if q1 < 0.0 else 0.0
        n2 = q2 if q2 < 0.0 else 0.0
        n3 = q3 if q3 < 0.0 else 0.0
        d0 += n0 * n0
        d1 += n1 * n1
        d2 += n2 * n2
        d3 += n3 * n3
        differs |= (r0 != first) | (r1 != first) | (r2 != first) | (r3 != first)
    for t in range(n4, n):
        r = rets[t]
        q = r - rf_per_bar
        v0 += (q - mean) * (q - mean)
        nq = q if q < 0.0 else 0.0
        d0 += nq * nq
        differs |= r != first
    v = (v0 + v1) + (v2 + v3)
    dsq = (d0 + d1) + (d2 + d3)
    if not differs:
        v = 0.0  # zero variance, exactly: the mean of equal numbers need not round back to them
    cagr = growth ** (ppy / n) - 1.0 if growth > 0.0 else -1.0
    m[M_CAGR] = cagr
    std = math.sqrt(v / (n - 1))
    sq = math.sqrt(ppy)
    m[M_ANNUAL_VOLATILITY] = std * sq
    m[M_SHARPE] = mean / std * sq if std > 0.0 else np.nan
    dd_dev = math.sqrt(dsq / n)
    m[M_SORTINO] = mean / dd_dev * sq if dd_dev > 0.0 else np.nan
    m[M_CALMAR] = cagr / -mdd if mdd < 0.0 else np.nan


@njit(cache=True, nogil=True)
def _equity_metrics(
    row: np.ndarray, ts_ns: np.ndarray, cash0: float, rf_per_bar: float, ppy: float, m: np.ndarray
) -> None:
    """Return, risk and drawdown metrics of one close-marked equity curve (``METRIC_TEXT``), computed exactly
    as :func:`simulate_batch` does inside its loop. There are ``n`` per-bar returns: the first is
    measured from the initial cash."""
    n = row.shape[0]
    rets = np.empty(n)
    prev = cash0
    rsum = 0.0
    peak = cash0
    peak_i = 0
    mdd = 0.0
    mdd_peak_i = 0
    mdd_end_i = -1
    mdd_open = False
    for t in range(n):
        e = row[t]
        r = ((e - prev) / abs(prev) if prev != 0.0 else 0.0) if e != prev else 0.0
        rets[t] = r
        rsum += r - rf_per_bar
        prev = e
        if e >= peak:
            if mdd_open:
                mdd_end_i = t
                mdd_open = False
            peak = e
            peak_i = t
        else:
            dd = e / peak - 1.0 if peak > 0.0 else -1.0
            if dd < mdd:
                mdd = dd
                mdd_peak_i = peak_i
                mdd_open = True
    if mdd_open:
        mdd_end_i = n - 1
    m[M_MAX_DRAWDOWN] = mdd
    if mdd < 0.0:
        m[M_MAX_DRAWDOWN_BARS] = mdd_end_i - mdd_peak_i
        m[M_MAX_DRAWDOWN_DAYS] = (ts_ns[mdd_end_i] - ts_ns[mdd_peak_i]) / NS_PER_DAY
    else:
        m[M_MAX_DRAWDOWN_BARS] = 0.0
        m[M_MAX_DRAWDOWN_DAYS] = 0.0
    _ratio_metrics(rets, rsum, row[n - 1] / cash0, rf_per_bar, ppy, mdd, m)
