"""``refocus bench`` outputs: the JSON report, the Markdown tables, the PNG plot, merging saved runs."""

from __future__ import annotations

import datetime as _dt
import os

from .machine import machine_info
from .render_bench import STAGES
from .scenes import DESCRIPTION

SCHEMA_VERSION = 1


def build_report(config: dict, command: str, wall_s: float, devices: list[dict], parts: list[dict],
                 gpu: bool) -> dict:
    """The report of a run from the per-size ``parts`` (results, skipped, bandwidth, floors, memory)."""
    from .baseline import BASELINE_LEVELS
    from .render_bench import link_baselines

    results = [r for p in parts for r in p.get("results", [])]
    link_baselines(results)
    bandwidth = []
    for p in parts:  # one entry per device (the first size's measurement)
        for b in p.get("bandwidth", []):
            if not any(x["device"] == b["device"] for x in bandwidth):
                bandwidth.append(b)
    return {
        "schema": "deocused-bench",
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "wall_s": round(wall_s, 2),
        "config": {**config, "input": DESCRIPTION[config["scene"]],
                   "baseline": f"{BASELINE_LEVELS} Gaussian-blurred copies, sigma 0..K/2 (OpenCV GaussianBlur "
                               "on the CPU, cupyx.scipy.ndimage.gaussian_filter on the GPU), per-pixel linear "
                               "interpolation between the two nearest copies by blur radius",
                   "statistics": "median and 95th percentile over `repeat` timed runs after `warmup` runs; "
                                 "each size in a fresh process (peak RSS per size)"},
        "machine": machine_info(gpu),
        "devices": devices,
        "results": results,
        "bandwidth": bandwidth,
        "refocus_floor": [f for p in parts for f in p.get("refocus_floor", [])],
        "memory": [p["memory"] for p in parts if p.get("memory")],
        "skipped": [s for p in parts for s in p.get("skipped", [])],
    }


def merge_reports(reports: list[dict]) -> dict:
    """Several saved reports as one (results concatenated; config and machine of the first)."""
    out = dict(reports[0])
    for key in ("results", "bandwidth", "refocus_floor", "memory", "skipped"):
        out[key] = [x for r in reports for x in r.get(key, [])]
    cfg = dict(out["config"])
    cfg["sizes"] = [s for r in reports for s in r["config"]["sizes"]]
    cfg["max_blur"] = sorted({k for r in reports for k in r["config"]["max_blur"]})
    cfg["repeat"] = min(r["config"]["repeat"] for r in reports)
    out["config"] = cfg
    return out


def _ms(v) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def _num(v, nd=2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def _cell(x) -> str:
    return "-" if x is None else f"{_ms(x['median_ms'])} ({_ms(x['p95_ms'])})"


def markdown_table(report: dict) -> str:
    """The results as Markdown: one table per device (K-dependent stages) and one of the rest."""
    res = report["results"]
    by = {(r["device"], r["stage"], r["width"], r["height"], r["max_blur"]): r for r in res if r["stage"] != "depth"}
    devices = [d for d in ("cpu", "gpu") if any(r["device"] == d for r in res)]
    sizes = sorted({(r["width"], r["height"]) for r in res}, key=lambda s: s[0] * s[1])
    lines = _machine_lines(report)
    for dev in devices:
        lines += _device_table(report, by, dev, sizes)
    lines += _k_free_table(by, devices, sizes) + _depth_table(res) + _skipped_lines(report)
    return "\n".join(lines)


def _machine_lines(report: dict) -> list[str]:
    """The machine and the method, above the tables."""
    m = report["machine"]
    cpu = m["cpu"]
    head = f"Machine: {cpu['model']}, {cpu['usable_cores']} usable cores"
    if m.get("gpu"):
        g = m["gpu"]
        head += f"; GPU {g['name']} (driver {g.get('driver') or '?'}, CUDA {g.get('cuda_runtime')})"
    v = m["versions"]
    head += f"; numpy {v['numpy']}, OpenCV {v['opencv']}" + (f", CuPy {v['cupy']}" if v.get("cupy") else "")
    cfg = report["config"]
    return [head + ".", "",
            f"Median (p95) in ms over {cfg['repeat']} runs after {cfg['warmup']} warm-up; "
            f"input: {cfg.get('scene', 'synthetic')} scene; focus alternating {cfg['focus']}. "
            "click = render with the pyramid reused; new photo = sRGB->linear + prepare + render; "
            "full frame = prepare + render. Ratio = engine / baseline (8 Gaussian copies) on the same device "
            "and input; < 1 is faster. Peak RSS: the size's own process, engine stages (inputs included).", ""]


def _device_table(report: dict, by: dict, dev: str, sizes: list) -> list[str]:
    """The K-dependent stages of one device: a row per size and K."""
    ks = sorted({r["max_blur"] for r in report["results"] if r["max_blur"] is not None})
    floors = {(f["device"], f["width"], f["height"], f["max_blur"]): f for f in report.get("refocus_floor", [])}
    mem = {(x["width"], x["height"]): x for x in report.get("memory", [])}
    lines = [f"**{dev.upper()}**", "",
             "| size | K | click ms | click fps | new photo ms | full frame ms | pyramid ms | baseline full ms "
             "| click / baseline select | new photo / baseline full | refocus floor ms | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (w, h) in sizes:
        for k in ks:
            g = lambda s: by.get((dev, s, w, h, k))  # noqa: E731
            p, r, f, n, b = g("pyramid"), g("refocus"), g("full_frame"), g("new_photo"), g("baseline_full")
            if not any((p, r, f, n, b)):
                continue
            fl = floors.get((dev, w, h, k))
            rss = mem.get((w, h), {}).get("peak_rss_mib")
            lines.append(f"| {w}x{h} | {k:g} | {_cell(r)} | {_num(r and r['fps'])} | {_cell(n)} | {_cell(f)} "
                         f"| {_cell(p)} | {_cell(b)} | {_num(r and r['ratio_to_baseline'])} "
                         f"| {_num(n and n['ratio_to_baseline'])} | {_ms(fl and fl['floor_ms'])} "
                         f"| {_num(rss, 0)} |")
    return lines + [""]


def _k_free_table(by: dict, devices: list, sizes: list) -> list[str]:
    """The per-frame stages that do not depend on K."""
    other = [("host", "decode_jpeg"), ("host", "decode_png")] + \
            [(d, s) for d in devices for s in ("to_linear", "display")]
    lines = ["**Per-frame stages that do not depend on K** (median (p95) ms)", "",
             "| size | " + " | ".join(f"{s} ({d})" for d, s in other) + " |",
             "|---|" + "---|" * len(other)]
    for (w, h) in sizes:
        lines.append(f"| {w}x{h} | " + " | ".join(_cell(by.get((d, s, w, h, None))) for d, s in other) + " |")
    return lines + [""]


def _depth_table(res: list) -> list[str]:
    """Depth inference rows, if any."""
    depth = [r for r in res if r["stage"] == "depth"]
    if not depth:
        return []
    lines = ["**Depth inference** (median ms)", "", "| size | model | model input | median ms | fps |",
             "|---|---|---|---|---|"]
    for r in depth:
        mi = "x".join(str(v) for v in r["model_input"]) if r["model_input"] else "-"
        lines.append(f"| {r['width']}x{r['height']} | {r['model']} | {mi} | {_ms(r['median_ms'])} "
                     f"| {_num(r['fps'])} |")
    return lines + [""]


def _skipped_lines(report: dict) -> list[str]:
    """What was skipped and why, each line once."""
    seen = []
    for s in report.get("skipped", []):
        what = f"{s['stage']} {s['model']}" if s.get("model") else s["stage"]
        where = f" {s['width']}x{s['height']}" if s.get("width") and s["stage"] != "depth" else ""
        where += f" K={s['max_blur']:g}" if s.get("max_blur") is not None else ""
        line = f"- {what} ({s['device']}{where}): {s['reason']}"
        if line not in seen:
            seen.append(line)
    return ["Skipped:", ""] + seen + [""] if seen else []


def plot(report: dict, path: str | os.PathLike) -> None:
    """PNG: median time per stage vs megapixels, one panel per device (host stages in each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = report["results"]
    devices = [d for d in ("cpu", "gpu") if any(r["device"] == d for r in res)] or ["host"]
    ks = sorted({r["max_blur"] for r in res if r["max_blur"] is not None})
    styles = ["-", "--", ":", "-."]
    colours = dict(zip(STAGES, list(plt.get_cmap("tab20").colors)))
    fig, axes = plt.subplots(1, len(devices), figsize=(9.5 * len(devices), 5.5), squeeze=False)
    for ax, dev in zip(axes[0], devices):
        for stage in STAGES:
            rows = [r for r in res if r["stage"] == stage and r["device"] in (dev, "host")]
            groups = {}
            for r in rows:
                groups.setdefault((r["max_blur"], r["model"]), []).append(r)
            for (k, model), g in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or "")):
                g.sort(key=lambda r: r["megapixels"])
                label = stage + (f" K={k:g}" if k is not None else "") + (f" {model}" if model else "")
                ls = styles[ks.index(k) % len(styles)] if k is not None else "-"
                base = stage.startswith("baseline")
                ax.plot([r["megapixels"] for r in g], [r["median_ms"] for r in g], ls, marker="s" if base else "o",
                        color=colours.get(stage), label=label, lw=1.4, ms=4, alpha=0.65 if base else 1.0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("resolution (megapixels)")
        ax.set_ylabel("median time (ms)")
        m = report["machine"]
        title = dev.upper()
        if dev == "gpu" and m.get("gpu"):
            title += f": {m['gpu']['name']}"
        elif dev in ("cpu", "host"):
            title += f": {m['cpu']['model']} ({m['cpu']['usable_cores']} cores)"
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6.5, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"refocus bench: time per stage vs resolution (median of {report['config']['repeat']})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
