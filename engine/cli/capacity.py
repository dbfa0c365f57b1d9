"""``python -m engine capacity forecast|beds|roster|sample``: the capacity planner on the command line.

Each command prints one JSON object. The admissions export is read like an upload (type sniffed, patient
numbers pseudonymised under the store's key, bad rows reported by row number). Without an export,
arrivals per weekday and a length of stay (``icu``, ``icu:MICU``, ``exp:4``, ``lognormal:4,1.2``) are given.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine import audit
from engine.capacity import service
from engine.capacity.arrivals import parse_weekday_rates
from engine.capacity.beds import size_beds
from engine.capacity.forecast import backtest_forecast
from engine.capacity.los import parse_los_spec
from engine.capacity.roster import RosterRules, roster_csv
from engine.capacity.sample import SAMPLE_LABEL, sample_admissions_csv
from engine.errors import InputError
from engine.store import open_db


def _add_source(parser) -> None:
    parser.add_argument("--admissions", help="admissions export (CSV or Excel: unit, admit time, discharge time)")
    parser.add_argument("--units", help="the hospital's units, comma-separated (rows naming others are reported); "
                                        "default: the settings' list")
    parser.add_argument("--unit", action="append", help="unit(s) to plan (repeatable; default: every unit found)")
    parser.add_argument("--sample", action="store_true", help="use the built-in SYNTHETIC sample history")
    parser.add_argument("--arrivals", help="arrivals per day, Mon..Sun (7 numbers) or one number, instead of an export")
    parser.add_argument("--census-now", type=int, default=0, help="patients in the unit now (with --arrivals)")
    parser.add_argument("--los", default=None,
                        help="length of stay: icu, icu:MICU, exp:MEAN, lognormal:MEAN,CV (default: fitted from the "
                             "export; with --arrivals, icu)")
    parser.add_argument("--weeks", type=int, default=4, help="forecast horizon in weeks (default 4)")
    parser.add_argument("--reps", type=int, default=None, help="simulation replications")
    parser.add_argument("--seed", type=int, default=0)


def register(subparsers) -> None:
    parser = subparsers.add_parser("capacity", help="census forecast, bed sizing and nurse roster (JSON)")
    sub = parser.add_subparsers(dest="capacity_command", required=True)
    fc = sub.add_parser("forecast", help="census forecast with 50%%/90%% bands per day")
    _add_source(fc)
    fc.add_argument("--backtest", action="store_true", help="also run the rolling-origin backtest (export only)")
    fc.set_defaults(func=run_forecast)
    beds = sub.add_parser("beds", help="beds needed so that P(full on arrival) is below a target")
    _add_source(beds)
    beds.add_argument("--arrivals-per-day", type=float, help="mean arrivals per day (instead of an export)")
    beds.add_argument("--target", type=float, default=0.05, help="target P(full on arrival), default 0.05")
    beds.add_argument("--no-simulate", action="store_true", help="Erlang formula only (skip the simulation check)")
    beds.set_defaults(func=run_beds)
    roster = sub.add_parser("roster", help="4-week nurse roster (OR-Tools CP-SAT)")
    _add_source(roster)
    roster.add_argument("--census", help="planned census per unit instead of a forecast, e.g. ICU=12,HDU=6")
    roster.add_argument("--ratio", default="ICU=2", help="patients per nurse per unit, e.g. ICU=2,HDU=3")
    roster.add_argument("--nurses", type=int, default=30)
    roster.add_argument("--dual-skilled", type=int, default=None, help="nurses skilled for every unit")
    roster.add_argument("--plan-for", default="p50", choices=service.PLAN_FOR)
    roster.add_argument("--max-consecutive", type=int, default=5)
    roster.add_argument("--rest-after-nights", type=int, default=2)
    roster.add_argument("--max-nights", type=int, default=8)
    roster.add_argument("--max-shifts", type=int, default=20)
    roster.add_argument("--leave", default="", help="leave by staff label and days, e.g. N03:8-14,N12:15")
    roster.add_argument("--time-limit", type=float, default=None, help="solver seconds")
    roster.add_argument("--csv", help="also write the roster grid to this CSV file")
    roster.set_defaults(func=run_roster)
    sample = sub.add_parser("sample", help="write the SYNTHETIC sample admissions export (CSV)")
    sample.add_argument("--out", required=True)
    sample.add_argument("--weeks", type=int, default=26)
    sample.add_argument("--seed", type=int, default=17)
    sample.set_defaults(func=run_sample)


def _print(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _read_export(args):
    if args.sample:
        data, source = sample_admissions_csv(), SAMPLE_LABEL
    elif args.admissions:
        try:
            data = Path(args.admissions).read_bytes()
        except OSError as exc:
            raise InputError(f"Cannot read the admissions file: {exc.strerror or exc}.") from None
        source = "upload"
    else:
        return None
    units = [u.strip() for u in args.units.split(",")] if args.units else None
    with open_db() as db:
        adm = service.import_admissions(db, data, units=units, source=source)
        audit.record(db, username="cli", action="capacity.plan", target_type="admissions",
                     target_id=None, details={"rows": adm.n_rows, "stays": len(adm.stays)})
    return adm


def _forecasts(args) -> tuple[dict[str, dict[str, Any]], Any]:
    adm = _read_export(args)
    if adm is not None:
        units = args.unit or adm.units
        los = {u: parse_los_spec(args.los) for u in units} if args.los else None
        return service.forecast_units(adm, units, weeks=args.weeks, reps=args.reps, seed=args.seed, los=los), adm
    if args.arrivals:
        label = (args.unit or ["unit"])[0]
        f = service.forecast_from_parameters(parse_weekday_rates(args.arrivals), parse_los_spec(args.los or "icu"),
                                             weeks=args.weeks, census_now=args.census_now, reps=args.reps,
                                             seed=args.seed, label=label)
        return {label: f}, None
    raise InputError("Give an admissions export (--admissions FILE or --sample) or arrivals per day (--arrivals).")


def run_forecast(args) -> int:
    forecasts, adm = _forecasts(args)
    out: dict[str, Any] = {"forecasts": forecasts}
    if adm is not None:
        out["admissions"] = adm.summary()
        if args.backtest:
            out["backtest"] = {u: backtest_forecast(adm, u, seed=args.seed) for u in forecasts}
    _print(out)
    return 0


def run_beds(args) -> int:
    if args.arrivals_per_day is not None:
        _print({"beds": {"unit": size_beds(args.arrivals_per_day, parse_los_spec(args.los or "icu"), target=args.target,
                                          simulate=not args.no_simulate, seed=args.seed)}})
        return 0
    forecasts, adm = _forecasts(args)
    out = {}
    for unit, f in forecasts.items():
        if args.los:
            los = parse_los_spec(args.los)
        else:
            los = service.los_for_unit(adm, unit) if adm is not None else parse_los_spec("icu")
        out[unit] = service.beds_for_forecast(f, los, target=args.target, simulate=not args.no_simulate,
                                              seed=args.seed)
    _print({"beds": out})
    return 0


def run_roster(args) -> int:
    ratios = service.parse_pairs(args.ratio, "patient-to-nurse ratios")
    if args.census:
        forecasts = service.steady_census(service.parse_pairs(args.census, "census"))
    else:
        if args.weeks < 4:
            args.weeks = 4
        forecasts, _ = _forecasts(args)
    rules = RosterRules(max_consecutive=args.max_consecutive, rest_days_after_nights=args.rest_after_nights,
                        max_nights=args.max_nights, max_shifts=args.max_shifts)
    result = service.plan_roster(forecasts, ratios, n_nurses=args.nurses, plan_for=args.plan_for, rules=rules,
                                 dual_skilled=args.dual_skilled, leave=service.parse_leave(args.leave),
                                 time_limit_s=args.time_limit, seed=args.seed)
    if args.csv and result["status"] in ("optimal", "feasible"):
        Path(args.csv).write_bytes(roster_csv(result))
        with open_db() as db:
            audit.record(db, username="cli", action="capacity.export", target_type="roster", target_id=None,
                         details={"nurses": result["nurses"], "days": result["days"]})
    _print(result)
    return 0 if result["status"] in ("optimal", "feasible") else 1


def run_sample(args) -> int:
    data = sample_admissions_csv(weeks=args.weeks, seed=args.seed)
    Path(args.out).write_bytes(data)
    _print({"written": args.out, "bytes": len(data), "label": SAMPLE_LABEL})
    return 0
