"""Split CodeCarbon's free-text hardware and OS strings into BoAmps fields.

CodeCarbon writes ``cpu_model`` (``Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz``), ``gpu_model``
(``2 x Tesla V100S-PCIE-32GB``) and ``os`` (``platform.platform()``), while a BoAmps hardware
component wants ``manufacturer``, ``family``, ``series``, ``nbComponent`` and ``memorySize``, and
the ``system`` section wants ``os``, ``distribution`` and ``distributionVersion``.

Conventions shared by the three parsers:

* They never raise on a ``str`` (nor on ``None``/NaN, which pandas hands over for empty cells) and
  give ``None`` for every part that the text does not tell; strings are never empty.
* Nothing is guessed from unrecognised text: a model string whose maker is unknown gives no
  ``series``, and an unrecognised OS string gives ``os=None`` (callers that must fill BoAmps'
  required ``os`` can fall back to the raw text themselves).
* Manufacturers are spelled ``Intel``, ``AMD``, ``Apple``, ``Arm``, ``NVIDIA``. Unlike BoAmps'
  own example (manufacturer ``Tesla``, family ``V100``), ``Tesla`` is NVIDIA's product line, so
  ``Tesla V100S`` gives NVIDIA / Tesla / V100S.
* Only the first 512 characters are read: real values are under 100, and the cap bounds the
  regex work on corrupted cells.
* Results are cached (``functools.lru_cache``) because the same few strings repeat on every row,
  so they are immutable (frozen dataclasses; a NamedTuple's ``count`` would clash with
  ``tuple.count``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "CpuInfo",
    "GpuInfo",
    "PlatformInfo",
    "parse_cpu_model",
    "parse_gpu_model",
    "parse_platform",
]

_MAX_LEN = 512
# Spellings CodeCarbon, pandas and hand-edited files use for "no value".
_NULLS = frozenset({"", "none", "nan", "null", "na", "n/a", "<na>", "unknown", "-", "?"})


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """A CPU model split the BoAmps way; ``None`` where the text does not tell."""

    manufacturer: str | None
    family: str | None
    series: str | None


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """A CodeCarbon ``gpu_model`` value split the BoAmps way.

    ``count`` is the number of GPUs (BoAmps ``nbComponent``), ``name`` the model without the
    count prefix (the whole text when several models are listed), ``memory_gb`` the memory of
    one GPU in GB (BoAmps ``memorySize``). ``manufacturer``, ``family``, ``series`` and
    ``memory_gb`` describe the first model listed.
    """

    count: int | None
    name: str | None
    manufacturer: str | None
    family: str | None
    series: str | None
    memory_gb: float | None


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    """A ``platform.platform()`` string split into BoAmps ``os``, ``distribution``, version."""

    os: str | None
    distribution: str | None
    distribution_version: str | None


_NO_CPU = CpuInfo(None, None, None)
_NO_GPU = GpuInfo(None, None, None, None, None, None)
_NO_PLATFORM = PlatformInfo(None, None, None)

_TRADEMARKS = re.compile(r"\((?:R|TM|C)\)|[®™©]", re.I)
_PARENS = re.compile(r"\([^()]*\)")

# A family pattern only applies when the vendor found in the text (if any) is its maker, so
# e.g. "Core" in an AMD string is not read as Intel Core. Order matters: first match wins.
_Family = tuple[str, str | None, re.Pattern[str]]  # maker, family (None: the matched text)


def _families(*rows: tuple[str, str | None, str]) -> tuple[_Family, ...]:
    return tuple((maker, family, re.compile(pattern, re.I)) for maker, family, pattern in rows)


_CPU_VENDORS = re.compile(
    r"(?P<Intel>\b(?:Genuine)?Intel(?:64)?\b)|(?P<AMD>\b(?:Authentic)?AMD(?:64)?\b)"
    r"|(?P<Apple>\bApple\b)|(?P<Arm>\b(?:ARM(?:v\d+\w*|64)?|aarch64)\b)",
    re.I,
)
_CPU_FAMILIES = _families(
    ("Intel", "Xeon", r"\bXeon\b"),
    ("Intel", "Core", r"\bCore(?=\d|\b)"),  # "Core(TM)2 Duo" becomes "Core2 Duo"
    ("Intel", "Celeron", r"\bCeleron\b"),
    ("Intel", "Pentium", r"\bPentium\b"),
    ("Intel", "Atom", r"\bAtom\b"),
    ("AMD", "Ryzen Threadripper", r"\bRyzen\s+Threadripper\b"),
    ("AMD", "Ryzen", r"\bRyzen\b"),
    ("AMD", "EPYC", r"\bEPYC\b"),
    ("AMD", "Opteron", r"\bOpteron\b"),
    ("AMD", "Athlon", r"\bAthlon\b"),
    ("AMD", "Phenom", r"\bPhenom\b"),
    ("AMD", "FX", r"\bFX\b"),
    ("Apple", None, r"^M\d+\b"),  # Apple silicon: the chip is the family, Pro/Max the series
    ("Arm", "Neoverse", r"\bNeoverse\b"),
    ("Arm", "Cortex", r"\bCortex\b"),
)
_CPU_NOISE = re.compile(
    r"/\s*\d+\s*device.*$"  # Eco2AI appends "/1 device(s), TDP:45.0"
    r"|\s*@.*$"  # clock speed: "CPU @ 2.90GHz"
    r"|\s+(?:with|w/)\s+Radeon\b.*$"  # AMD APUs name their integrated GPU
    r"|\b\d+(?:st|nd|rd|th)\s+Gen(?:eration)?\b"  # "13th Gen Intel ..."
    r"|\b\w+-Cores?\b"  # "12-Core", "32-Cores", "Eight-Core"
    r"|\b(?:CPU|Processor|Genuine)\b",
    re.I,
)

_GPU_VENDORS = re.compile(r"(?P<NVIDIA>\bNVIDIA\b)|(?P<AMD>\bAMD\b)|(?P<Intel>\bIntel\b)", re.I)
_GPU_FAMILIES = _families(
    ("NVIDIA", "GeForce", r"\bGeForce\b"),
    ("NVIDIA", "Quadro", r"\bQuadro\b"),
    ("NVIDIA", "Tesla", r"\bTesla\b"),
    ("NVIDIA", "TITAN", r"\bTITAN\b"),
    ("NVIDIA", "Jetson", r"\bJetson\b"),
    # The professional line after Quadro ("NVIDIA RTX A6000", "NVIDIA RTX 6000 Ada Generation");
    # anchored so that "GeForce RTX 3060" and "TITAN RTX" keep their own family.
    ("NVIDIA", "RTX", r"^RTX\b"),
    ("AMD", "Instinct", r"\bInstinct\b"),
    ("AMD", "Radeon", r"\bRadeon\b"),
    ("AMD", "FirePro", r"\bFirePro\b"),
    ("Intel", "Data Center GPU", r"\bData\s+Center\s+GPU\b"),
    ("Intel", "Arc", r"\bArc\b"),
)
# Board variants (PCIe/SXM/NVL), memory and filler words are not part of the model; "Laptop"
# and "Max-Q" are kept because they are different products with a different power envelope.
_GPU_NOISE = re.compile(
    r"[-\s]+\d{1,5}(?:\.\d{1,3})?\s?GB\b"
    r"|[-\s]+(?:PCIe|SXM\d*|NVL|HBM\d*e?)\b"
    r"|\s+MIG\b.*$"
    r"|\b(?:with|Design|Generation|Graphics|GPU)\b"
    r"|[()]",
    re.I,
)
# Lookbehind: the "20gb" of a MIG profile "3g.20gb" is a slice, not the board's memory.
_GPU_MEMORY = re.compile(r"(?<![\w.])(\d{1,5}(?:\.\d{1,3})?)\s?GB\b", re.I)
_COUNT_PREFIX = re.compile(r"(\d{1,9})\s*x\s+(.*)", re.I | re.S)
_GROUP_SPLIT = re.compile(r",\s*(?=\d{1,9}\s*x\s)", re.I)
_LIST_ITEM = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_ECO2AI_GPU = re.compile(r"(.*?)\s*(\d{1,9})\s+device\(s\).*", re.I | re.S)

_OS = re.compile(r"(linux|windows|macos|darwin)\b", re.I)
_LIBC = re.compile(r"(?:g?libc|musl|uclibc)", re.I)
_WINDOWS = re.compile(r"Windows-([^-]+)(?:-(\d+)\.(\d+)\.(\d+))?", re.I)


def _clean(text: object) -> str:
    """Collapse whitespace; ``""`` for non-strings and the usual spellings of a missing value."""
    if not isinstance(text, str):
        return ""
    cleaned = " ".join(text[:_MAX_LEN].split())
    return "" if cleaned.lower() in _NULLS else cleaned


def _tidy(text: str) -> str | None:
    tidy = " ".join(text.split()).strip(" -_/,;:")
    return tidy or None


def _identify(
    text: str, vendors: re.Pattern[str], families: tuple[_Family, ...]
) -> tuple[str | None, str | None, str]:
    """Return (manufacturer, family, what follows the family or the whole rest)."""
    found = vendors.search(text)
    vendor = found.lastgroup if found else None
    rest = " ".join(vendors.sub(" ", text).split())
    for maker, family, pattern in families:
        if vendor not in (None, maker):
            continue
        match = pattern.search(rest)
        if match:
            return maker, family or match.group(), rest[match.end() :]
    return vendor, None, rest


@lru_cache(maxsize=4096)
def parse_cpu_model(text: str) -> CpuInfo:
    """Split a CodeCarbon ``cpu_model`` into manufacturer, family and series.

    Trademarks, clock speed, core counts, "CPU"/"Processor", "13th Gen" and the integrated
    Radeon of AMD APUs are dropped; so are parenthesised remarks such as QEMU's
    ``(Cascadelake)``. The series is what follows the family, or a lone model number
    (``Intel(R) N100``) when there is no family.

    Args:
        text: the ``cpu_model`` cell, any string.

    Returns:
        A :class:`CpuInfo`; all ``None`` for empty or unrecognised text. Never raises.

    Example:
        >>> parse_cpu_model("Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz")
        CpuInfo(manufacturer='Intel', family='Xeon', series='Gold 6226R')
        >>> parse_cpu_model("AMD Ryzen 9 5900X 12-Core Processor")
        CpuInfo(manufacturer='AMD', family='Ryzen', series='9 5900X')
    """
    cleaned = _clean(text)
    if not cleaned:
        return _NO_CPU
    cleaned = _PARENS.sub(" ", _TRADEMARKS.sub("", cleaned))
    cleaned = _CPU_NOISE.sub(" ", " ".join(cleaned.split()))
    maker, family, rest = _identify(cleaned, _CPU_VENDORS, _CPU_FAMILIES)
    if family is not None:
        return CpuInfo(maker, family, _tidy(rest))
    # Without a family, only a single model-number-like token is trusted as the series, so
    # "Intel64 Family 6 Model 158 Stepping 10" or "ARMv8 rev 1" give none.
    words = rest.split()
    lone_model = len(words) == 1 and any(c.isdigit() for c in words[0])
    return CpuInfo(maker, None, _tidy(words[0]) if maker and lone_model else None)


def _gpu_names(text: str) -> tuple[int | None, list[str]]:
    """Return (total count, one name per GPU group) from any gpu_model layout."""
    eco2ai = _ECO2AI_GPU.fullmatch(text)
    if eco2ai:
        name = eco2ai.group(1).strip()
        return int(eco2ai.group(2)), [name] if name else []
    if text.startswith("[") and text.endswith("]"):  # repr of a list, one entry per GPU
        items = [(a or b).strip() for a, b in _LIST_ITEM.findall(text)]
        items = [item for item in items if item]
        return len(items), items
    counts: list[int] = []
    names: list[str] = []
    for group in _GROUP_SPLIT.split(text):
        prefixed = _COUNT_PREFIX.fullmatch(group.strip())
        if prefixed:
            counts.append(int(prefixed.group(1)))
            group = prefixed.group(2)
        if group.strip():
            names.append(group.strip())
    # A bare name says nothing about how many GPUs there were.
    return (sum(counts) if counts and len(counts) == len(names) else None), names


@lru_cache(maxsize=4096)
def parse_gpu_model(text: str) -> GpuInfo:
    """Split a CodeCarbon ``gpu_model`` into count, name, maker, family, series and memory.

    Reads ``"<count> x <name>"`` groups joined by ``", "``, a bare name, the repr of a list of
    names (older CodeCarbon) and Eco2AI's ``"<name> <count> device(s)"``. The series drops
    board variants and memory (``-PCIE-32GB``, ``-SXM4-80GB``, `` 80GB HBM3``); ``memory_gb`` is
    read from a ``NNGB`` token.

    Args:
        text: the ``gpu_model`` cell, any string.

    Returns:
        A :class:`GpuInfo`; all ``None`` for empty text. Never raises.

    Example:
        >>> gpu = parse_gpu_model("2 x Tesla V100S-PCIE-32GB")
        >>> gpu.count, gpu.manufacturer, gpu.family, gpu.series, gpu.memory_gb
        (2, 'NVIDIA', 'Tesla', 'V100S', 32.0)
        >>> parse_gpu_model("1 x NVIDIA GeForce RTX 3060").series
        'RTX 3060'
    """
    cleaned = _clean(text)
    if not cleaned:
        return _NO_GPU
    count, names = _gpu_names(cleaned)
    if not names:
        return GpuInfo(count, None, None, None, None, None)
    name = names[0] if len(set(names)) == 1 else cleaned
    model = " ".join(_TRADEMARKS.sub("", names[0]).split())
    maker, family, rest = _identify(model, _GPU_VENDORS, _GPU_FAMILIES)
    series = _tidy(_GPU_NOISE.sub(" ", rest)) if maker else None
    memory = _GPU_MEMORY.search(model)
    memory_gb = (float(memory.group(1)) or None) if memory else None
    return GpuInfo(count, name, maker, family, series, memory_gb)


def _linux_distribution(text: str) -> tuple[str | None, str | None]:
    # Python < 3.8 appended "-with-<distro>-<version>-<codename>"; later versions append the
    # libc ("-with-glibc2.35"), which names no distribution. The kernel release is never the
    # distribution's version.
    _, found, tail = text.partition("-with-")
    parts = [part.strip() for part in tail.split("-") if part.strip()] if found else []
    if not parts or _LIBC.match(parts[0]):
        return None, None
    name, rest = parts[0], parts[1:]
    numbered = [part for part in rest if part[0].isdigit()]
    return name, numbered[0] if numbered else ("-".join(rest) or None)


def _windows_distribution(text: str) -> tuple[str | None, str | None]:
    match = _WINDOWS.match(text)
    if not match:
        return None, None
    release, major, minor, build = match.groups()
    version = f"{major}.{minor}.{build}" if build else None
    # Python before 3.12 reports Windows 11 as "10"; build 22000 is the first Windows 11.
    if release == "10" and build and int(build) >= 22000:
        release = "11"
    if "server" in release.lower():  # "2019Server" -> "Windows Server 2019"
        release = "Server " + re.sub("server", "", release, flags=re.I)
    return f"Windows {release}", version


@lru_cache(maxsize=4096)
def parse_platform(text: str) -> PlatformInfo:
    """Split CodeCarbon's ``os`` value (``platform.platform()``) into os, distribution, version.

    ``os`` is ``Linux``, ``Windows`` or ``macOS`` (``Darwin`` too); anything else gives ``None``.
    Linux distributions keep the spelling of the text (``Ubuntu``, ``centos``, ``debian``) and
    their version drops the codename; without a numbered version the codename is kept
    (``debian-bookworm-sid`` -> ``bookworm-sid``). Darwin versions are kernel versions, not macOS
    versions, so they are not reported.

    Args:
        text: the ``os`` cell, any string.

    Returns:
        A :class:`PlatformInfo`; all ``None`` for empty or unrecognised text. Never raises.

    Example:
        >>> parse_platform("Windows-10-10.0.22631-SP0")
        PlatformInfo(os='Windows', distribution='Windows 11', distribution_version='10.0.22631')
        >>> parse_platform("Linux-5.15.0-116-generic-x86_64-with-glibc2.35")
        PlatformInfo(os='Linux', distribution=None, distribution_version=None)
    """
    cleaned = _clean(text)
    found = _OS.match(cleaned)
    if not found:
        return _NO_PLATFORM
    system = found.group(1).lower()
    if system == "linux":
        return PlatformInfo("Linux", *_linux_distribution(cleaned))
    if system == "windows":
        return PlatformInfo("Windows", *_windows_distribution(cleaned))
    version = re.match(r"macOS-(\d[\w.]*)", cleaned, re.I)
    if version:
        return PlatformInfo("macOS", "macOS", version.group(1))
    return PlatformInfo("macOS", None, None)


@lru_cache(maxsize=512)
def country_name(text: str) -> str | None:
    """The English name of a country given its ISO 3166 alpha-2 or alpha-3 code (``IN``,
    ``FRA``) or its name; ``None`` when pycountry does not know it.

    >>> country_name("IN")
    'India'
    """
    import pycountry

    key = text.strip()
    if not key:
        return None
    found = pycountry.countries.get(alpha_2=key) if len(key) == 2 else (
        pycountry.countries.get(alpha_3=key) if len(key) == 3 else None)
    if found is None:
        try:
            found = pycountry.countries.lookup(key)
        except LookupError:
            return None
    name = getattr(found, "common_name", None) or found.name
    return str(name)
