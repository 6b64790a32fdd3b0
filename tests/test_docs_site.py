"""The docs site: ``mkdocs build --strict`` passes, every public name has an API entry, and the
built API reference renders in headless Chromium (DOM and a non-blank screenshot).

Locally a missing ``mkdocs`` (the ``docs`` extra) or Chromium skips these tests; under CI
(``CI`` set) it fails them. ``VAEKIT_UPDATE_DOCS_SCREENSHOT=1`` also copies the screenshot to
``docs/images/api_page.png``, the image docs/index.md shows.
"""

import fcntl
import functools
import html
import http.server
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CI = bool(os.environ.get("CI"))

# The packages whose ``__all__`` the API reference must cover.
PUBLIC_PACKAGES = [
    "vaekit",
    "vaekit.conditioning",
    "vaekit.data",
    "vaekit.evaluation",
    "vaekit.models",
    "vaekit.objectives",
    "vaekit.plots",
    "vaekit.quantizers",
    "vaekit.reproduce",
    "vaekit.runner",
    "vaekit.samplers",
    "vaekit.schedules",
    "vaekit.training",
]

# The page the browser test opens, and a function documented on it.
API_PAGE = "api/schedules/index.html"
API_FUNCTION = "vaekit.schedules.cyclical_schedule"


def _missing(what: str) -> None:
    message = f"{what} (install it to test the docs site)"
    if CI:
        pytest.fail(f"CI is set but {message}", pytrace=False)
    pytest.skip(message)


def _build(out: Path) -> tuple[int, str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="session")
def site(tmp_path_factory, request) -> Path:
    """The site built once per test run (shared by the xdist workers under a file lock)."""
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as err:
        _missing(f"the docs tools are not installed ({err}; pip install -e '.[docs]')")
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp is a child of the run's: build once per run.
    shared = base.parent if hasattr(request.config, "workerinput") else base
    out = shared / "vaekit-docs-site"
    with open(shared / "vaekit-docs-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        log = shared / "vaekit-docs-site.log"
        if not log.exists():
            rc, output = _build(out)
            log.write_text(f"{rc}\n{output}")
        rc_text, _, output = log.read_text().partition("\n")
    if rc_text != "0":
        pytest.fail(f"mkdocs build --strict failed (exit {rc_text}):\n{output}", pytrace=False)
    return out


def test_mkdocs_build_strict_succeeds(site):
    assert (site / "index.html").is_file()
    assert (site / API_PAGE).is_file()


def _anchors(site: Path) -> set[str]:
    ids: set[str] = set()
    for page in (site / "api").rglob("*.html"):
        ids.update(re.findall(r'\bid="([^"]+)"', page.read_text()))
    return ids


def _entries(package: str, name: str) -> set[str]:
    """Anchors any of which documents ``package.name``: its own, its canonical path, or the
    entry of the public subpackage it is re-exported from."""
    module = importlib.import_module(package)
    obj = getattr(module, name)
    entries = {f"{package}.{name}"}
    if inspect.ismodule(obj):
        entries.add(obj.__name__)
    owner, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(owner, str) and isinstance(qualname, str):
        entries.add(f"{owner}.{qualname}")
    for other in PUBLIC_PACKAGES[1:]:
        sub = importlib.import_module(other)
        if name in getattr(sub, "__all__", ()) and getattr(sub, name) is obj:
            entries.add(f"{other}.{name}")
    return entries


def test_every_public_name_has_an_api_entry(site):
    anchors = _anchors(site)
    missing = [
        f"{package}.{name}"
        for package in PUBLIC_PACKAGES
        for name in importlib.import_module(package).__all__
        if not _entries(package, name) & anchors
    ]
    assert not missing, (
        "public names with no entry in the API reference (docs/api/*.md). A name that is also "
        "a submodule's name needs its own `::: package.module.name` block (griffe resolves "
        f"`package.name` to the submodule): {missing}"
    )


def test_the_public_packages_list_is_complete():
    import vaekit

    subpackages = sorted(
        f"vaekit.{name}" for name in vaekit.__all__ if inspect.ismodule(getattr(vaekit, name))
    )
    assert set(subpackages) <= set(PUBLIC_PACKAGES), subpackages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture
def served_site(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    _missing("Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    raise AssertionError("unreachable")


def _headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _squashed(text: str) -> str:
    return "".join(text.split())


def _text(dom: str) -> str:
    """The DOM's text without tags or whitespace (so inline code joins its sentence)."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)
    return _squashed(html.unescape(re.sub(r"<[^>]+>", "", dom)))


def test_api_page_renders_in_headless_chromium(served_site, tmp_path):
    from PIL import Image, ImageStat

    import vaekit.schedules

    chromium = _chromium()
    url = f"{served_site}/{API_PAGE.removesuffix('index.html')}"

    dom = _headless(chromium, tmp_path / "profile-dom", "--dump-dom", url).stdout
    assert f'id="{API_FUNCTION}"' in dom, dom[:2000]
    function = getattr(vaekit.schedules, API_FUNCTION.rsplit(".", 1)[-1])
    summary = inspect.getdoc(function).split("\n\n")[0].replace("``", "")
    assert _squashed(summary) in _text(dom), (summary, _text(dom)[:3000])

    png = tmp_path / "api_page.png"
    _headless(
        chromium,
        tmp_path / "profile-shot",
        f"--screenshot={png}",
        "--window-size=1280,900",
        url,
    )
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1280, 900), (image.format, image.size)
        grey = image.convert("L")
        stat = ImageStat.Stat(grey)
        dark = sum(grey.histogram()[:200]) / (grey.width * grey.height)
    assert stat.stddev[0] > 20.0, f"screenshot looks blank: pixel std {stat.stddev[0]:.1f}"
    assert 0.02 < dark < 0.9, f"screenshot looks blank or broken: {dark:.1%} non-white pixels"
    if os.environ.get("VAEKIT_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(png, ROOT / "docs" / "images" / "api_page.png")


def _napoleon():
    spec = importlib.util.spec_from_file_location(
        "griffe_napoleon", ROOT / "docs" / "api" / "griffe_napoleon.py"
    )
    if importlib.util.find_spec("griffe") is None:
        _missing("griffe is not installed (pip install -e '.[docs]')")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docstring_normalizer_keeps_the_napoleon_conventions():
    docstring = (
        "Summary, see :func:`~vaekit.objectives.beta_vae` and :class:`VAE`.\n\n"
        "Args:\n"
        "  num_codes, dim: ``K`` and ``D``\n"
        "    of every level.\n"
        "  estimator: a name.\n"
        "  **The other keyword arguments** go to each level.\n\n"
        "Example:\n"
        "  >>> 1 + 1\n"
        "  2\n"
    )
    assert _napoleon().normalize(docstring) == (
        "Summary, see ``beta_vae`` and ``VAE``.\n\n"
        "Args:\n"
        "  num_codes: ``K`` and ``D``\n"
        "    of every level.\n"
        "  dim: ``K`` and ``D``\n"
        "    of every level.\n"
        "  estimator: a name.\n"
        "    **The other keyword arguments** go to each level.\n\n"
        "Examples:\n"
        "  >>> 1 + 1\n"
        "  2\n"
    )
