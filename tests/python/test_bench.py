"""`imgprep bench`: its JSON against the published schema, every tier's output against what
`imgprep run` wrote (CRC-32 recomputed here from the files, with numpy and zlib), the chart,
the simulated storage latency and the usage errors."""

import json
import subprocess
import xml.etree.ElementTree as ET
import zlib

import jsonschema
import pytest

from conftest import IMGPREP, REPO, npy_crc, run_imgprep, write_list

SCHEMA = json.loads((REPO / "bench" / "imgprep-bench.schema.json").read_text())
ALL_TIERS = ["serial", "threads", "procs", "tbb", "gpu", "gpu-decode", "ceiling"]


def bench(inp, *args, expect=0):
    """Runs `imgprep bench INPUT ARGS...` and returns (process, report dict or None)."""
    cmd = [str(IMGPREP), "bench", str(inp), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == expect, f"{' '.join(cmd)}\nrc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def bench_json(tmp_path, inp, *args):
    out = tmp_path / "bench.json"
    proc = bench(inp, *args, "--json", out)
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    return proc, report


def tiers(report):
    return {t["tier"]: t for t in report["tiers"]}


def images_crc(run):
    """CRC-32 of every written image file's bytes, in manifest (input) order."""
    crc = 0
    for row in run.manifest:
        if row["status"] == "ok":
            crc = zlib.crc32((run.out / row["output"]).read_bytes(), crc)
    return f"{crc:08x}"


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory, sample_dir):
    tmp = tmp_path_factory.mktemp("bench")
    chart = tmp / "chart.svg"
    proc, report = bench_json(tmp, sample_dir, "--preset", "imagenet", "--repeat", "2",
                              "--warmup", "1", "--chart", chart)
    return proc, report, chart


def test_json_matches_the_schema_and_counts(sample_report, sample_dir):
    proc, report, _ = sample_report
    images = len([p for p in sample_dir.rglob("*") if p.is_file() and p.suffix.lower() in
                  (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")])
    assert report["images"] == images
    assert [t["tier"] for t in report["tiers"]] == ALL_TIERS
    assert report["repeat"] == 2 and report["warmup"] == 1
    assert report["config"]["resize"] == "shorter:256"
    for t in report["tiers"]:
        if not t["available"]:
            # only the GPU tiers may be missing
            assert t["tier"] in ("gpu", "gpu-decode") and t["reason"], t
            assert f"{t['tier']:<10}not available: {t['reason']}" in proc.stdout
            continue
        assert len(t["runs_s"]) == 2
        assert t["ok"] == images and t["failed"] == 0
        rates = sorted(images / s for s in t["runs_s"])
        assert t["images_per_s"]["median"] == pytest.approx(sum(rates) / 2)
        assert t["decoded_bytes"] > images * 100 * 100 * 3
        assert t["peak_rss_mib"] > 1
    by_name = tiers(report)
    assert by_name["serial"]["speedup_vs_serial"] == pytest.approx(1.0)
    assert by_name["ceiling"]["fraction_of_ceiling"] == pytest.approx(1.0)
    tbb = by_name["tbb"]
    assert tbb["speedup_vs_serial"] == pytest.approx(
        tbb["images_per_s"]["median"] / by_name["serial"]["images_per_s"]["median"])
    assert {s["stage"] for s in tbb["stages"]} == {"read", "decode", "transform", "write"}
    assert [s["stage"] for s in by_name["ceiling"]["stages"]] == ["decode"]
    assert all(s["avg_queue"] is None for s in by_name["serial"]["stages"])


def test_every_tier_writes_what_run_writes(sample_report, sample_dir, tmp_path):
    _, report, _ = sample_report
    expected = npy_crc(run_imgprep(sample_dir, tmp_path / "run", "--preset", "imagenet"))
    for t in report["tiers"]:
        if not t["available"] or t["tier"] == "ceiling":
            continue
        assert t["output"]["checked"], t["tier"]
        assert t["output"]["crc32"] == expected, t["tier"]
        assert t["output"]["compared_with"] == "tbb" and t["output"]["equal"], t["tier"]


@pytest.mark.parametrize("options,crc", [
    (["--resize", "shorter:64", "--crop", "center:48", "--dtype", "uint8", "--layout", "nhwc",
      "--channels", "bgr"], npy_crc),
    (["--resize", "shorter:80", "--crop", "none", "--format", "images", "--quality", "90"],
     images_crc),
])
def test_tiers_agree_with_run_for_other_outputs(options, crc, sample_dir, tmp_path):
    files = sorted(p for p in sample_dir.rglob("*.jpg"))[:6]
    listing = write_list(tmp_path / "list.txt", files)
    _, report = bench_json(tmp_path, listing, "--repeat", "1", "--tiers",
                           "serial,threads,procs,tbb,gpu", *options)
    expected = crc(run_imgprep(listing, tmp_path / "run", *options))
    for t in report["tiers"]:
        if t["available"]:
            assert t["output"]["crc32"] == expected, t["tier"]
            assert t["ok"] == len(files)


def test_warmup_zero_does_not_check(sample_dir, tmp_path):
    _, report = bench_json(tmp_path, sample_dir, "--preset", "imagenet", "--repeat", "1",
                           "--warmup", "0", "--tiers", "serial")
    assert report["tiers"][0]["output"] == {"checked": False}


def test_failed_inputs_are_counted_not_fatal(tmp_path, sample_dir):
    good = sorted(sample_dir.rglob("*.jpg"))[:3]
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(good[0].read_bytes()[:200])
    listing = write_list(tmp_path / "list.txt", [*good, bad])
    _, report = bench_json(tmp_path, listing, "--preset", "imagenet", "--repeat", "1",
                           "--tiers", "serial,tbb,procs,ceiling")
    for t in report["tiers"]:
        assert t["ok"] == 3 and t["failed"] == 1, t["tier"]


def test_chart_draws_every_tier_and_the_ceiling(sample_report):
    _, report, chart = sample_report
    root = ET.parse(chart).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text for t in root.iter(ns + "text")]
    bars = [r for r in root.iter(ns + "rect") if r.get("fill") != "white"]
    available = [t for t in report["tiers"] if t["available"] and t["tier"] != "ceiling"]
    assert len(bars) == len(available)
    for t in report["tiers"]:
        if t["tier"] != "ceiling":
            assert t["tier"] in texts
    ceiling = tiers(report)["ceiling"]["images_per_s"]["median"]
    assert f"decode-only ceiling {ceiling:.0f}" in texts
    widths = {t["tier"]: float(b.get("width")) for t, b in zip(available, bars)}
    serial, tbb = tiers(report)["serial"], tiers(report)["tbb"]
    assert widths["tbb"] / widths["serial"] == pytest.approx(
        tbb["images_per_s"]["median"] / serial["images_per_s"]["median"], rel=1e-3)


def test_io_latency_is_paid_per_file_and_hidden_by_io_threads(sample_dir, tmp_path):
    files = sorted(sample_dir.rglob("*.jpg"))[:8]
    listing = write_list(tmp_path / "list.txt", files)
    _, report = bench_json(tmp_path, listing, "--preset", "imagenet", "--repeat", "1",
                           "--io-latency", "20", "--io-threads", "8", "--tiers", "serial,tbb")
    assert report["io_latency_ms"] == 20
    serial, tbb = tiers(report)["serial"], tiers(report)["tbb"]
    read = {t["tier"]: next(s for s in t["stages"] if s["stage"] == "read") for t in (serial, tbb)}
    # Every read sleeps 20 ms first: at least 8 x 20 ms of read time per run, in both tiers.
    assert read["serial"]["busy_s"] >= 8 * 0.020
    assert read["tbb"]["busy_s"] >= 8 * 0.020
    assert serial["runs_s"][0] >= 8 * 0.020
    assert serial["verdict"] == "I/O-bound"


def test_cold_reports_the_page_cache(sample_dir, tmp_path):
    _, report = bench_json(tmp_path, sample_dir, "--preset", "imagenet", "--repeat", "1",
                           "--tiers", "serial", "--cold")
    assert report["cold"] is True
    assert len(report["tiers"][0]["page_cache_resident"]) == 1


@pytest.mark.parametrize("args,message", [
    (["--tiers", "serial,bogus"], "unknown tier 'bogus'"),
    (["--repeat", "0"], "--repeat must be at least 1"),
    (["--io-latency", "-1"], "--io-latency must be in"),
    (["-o", "x"], "-o"),
])
def test_usage_errors(sample_dir, args, message):
    proc = bench(sample_dir, "--preset", "imagenet", *args, expect=2)
    assert message in proc.stderr
