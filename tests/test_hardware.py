"""Tests for boamps_etl.hardware: CodeCarbon hardware/OS strings -> BoAmps fields."""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable
from dataclasses import FrozenInstanceError, astuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boamps_etl import hardware
from boamps_etl.hardware import (
    CpuInfo,
    GpuInfo,
    PlatformInfo,
    parse_cpu_model,
    parse_gpu_model,
    parse_platform,
)

Opt = str | None
NO_CPU: tuple[Opt, Opt, Opt] = (None, None, None)

CPU_CASES: list[tuple[str, tuple[Opt, Opt, Opt]]] = [
    # BoAmps' own example
    ("Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz", ("Intel", "Xeon", "Gold 6226R")),
    # Colab / cloud VMs hide the model
    ("Intel(R) Xeon(R) CPU @ 2.20GHz", ("Intel", "Xeon", None)),
    ("Intel(R) Xeon(R) CPU @ 2.30GHz", ("Intel", "Xeon", None)),
    ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", ("Intel", "Xeon", "E5-2686 v4")),
    ("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", ("Intel", "Xeon", "Platinum 8259CL")),
    ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", ("Intel", "Xeon", "Silver 4214")),
    ("Intel(R) Xeon(R) W-2295 CPU @ 3.00GHz", ("Intel", "Xeon", "W-2295")),
    ("INTEL(R) XEON(R) PLATINUM 8592+", ("Intel", "Xeon", "PLATINUM 8592+")),
    ("Intel Xeon Processor (Cascadelake)", ("Intel", "Xeon", None)),
    ("Intel(R) Core(TM) i7-10750H CPU @ 2.60GHz", ("Intel", "Core", "i7-10750H")),
    ("Intel(R) Core(TM) i5-9300H CPU @ 2.40GHz", ("Intel", "Core", "i5-9300H")),
    ("13th Gen Intel(R) Core(TM) i7-13700H", ("Intel", "Core", "i7-13700H")),
    ("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", ("Intel", "Core", "i7-1165G7")),
    ("Intel(R) Core(TM) Ultra 7 155H", ("Intel", "Core", "Ultra 7 155H")),
    ("Intel(R) Core(TM) Ultra 7 265K", ("Intel", "Core", "Ultra 7 265K")),
    ("Intel(R) Core(TM) i9-14900KF", ("Intel", "Core", "i9-14900KF")),
    ("Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz", ("Intel", "Core", "2 Duo E8400")),
    ("Intel(R) Celeron(R) CPU N3350 @ 1.10GHz", ("Intel", "Celeron", "N3350")),
    ("Intel(R) Pentium(R) CPU G4560 @ 3.50GHz", ("Intel", "Pentium", "G4560")),
    ("Intel(R) Pentium(R) Silver N5000 CPU @ 1.10GHz", ("Intel", "Pentium", "Silver N5000")),
    ("Intel(R) Atom(TM) CPU Z3735F @ 1.33GHz", ("Intel", "Atom", "Z3735F")),
    ("Intel(R) N100", ("Intel", None, "N100")),
    ("Intel64 Family 6 Model 158 Stepping 10, GenuineIntel", ("Intel", None, None)),
    ("AMD64 Family 23 Model 113 Stepping 0, AuthenticAMD", ("AMD", None, None)),
    ("AMD Ryzen 5 7530U with Radeon Graphics", ("AMD", "Ryzen", "5 7530U")),
    ("AMD Ryzen 7 5825U with Radeon Graphics", ("AMD", "Ryzen", "7 5825U")),
    ("AMD Ryzen 7 7840HS w/ Radeon 780M Graphics", ("AMD", "Ryzen", "7 7840HS")),
    ("AMD Ryzen AI 9 HX 370 w/ Radeon 890M", ("AMD", "Ryzen", "AI 9 HX 370")),
    ("AMD Ryzen 9 5900X 12-Core Processor", ("AMD", "Ryzen", "9 5900X")),
    ("AMD Ryzen 7 PRO 4750U with Radeon Graphics", ("AMD", "Ryzen", "7 PRO 4750U")),
    ("AMD EPYC 7B12", ("AMD", "EPYC", "7B12")),
    ("AMD EPYC 7763 64-Core Processor", ("AMD", "EPYC", "7763")),
    ("AMD EPYC 7702 64-Core Processor", ("AMD", "EPYC", "7702")),
    ("AMD EPYC-Rome Processor", ("AMD", "EPYC", "Rome")),
    ("AMD Opteron(tm) Processor 6376", ("AMD", "Opteron", "6376")),
    ("AMD Athlon Silver 3050U with Radeon Graphics", ("AMD", "Athlon", "Silver 3050U")),
    ("AMD Athlon(tm) II X2 250 Processor", ("AMD", "Athlon", "II X2 250")),
    ("AMD FX(tm)-8350 Eight-Core Processor", ("AMD", "FX", "8350")),
    (
        "AMD Ryzen Threadripper PRO 5975WX 32-Cores",
        ("AMD", "Ryzen Threadripper", "PRO 5975WX"),
    ),
    (
        "AMD Ryzen Threadripper 3990X 64-Core Processor",
        ("AMD", "Ryzen Threadripper", "3990X"),
    ),
    ("Apple M1", ("Apple", "M1", None)),
    ("Apple M2", ("Apple", "M2", None)),
    ("Apple M2 Pro", ("Apple", "M2", "Pro")),
    ("Apple M3 Max", ("Apple", "M3", "Max")),
    ("Apple M1 Ultra", ("Apple", "M1", "Ultra")),
    ("ARMv8 Processor rev 1 (v8l)", ("Arm", None, None)),
    ("Neoverse-N1", ("Arm", "Neoverse", "N1")),
    ("Neoverse-V2", ("Arm", "Neoverse", "V2")),
    ("Cortex-A72", ("Arm", "Cortex", "A72")),
    # Eco2AI's CPU_name
    (
        "11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz/1 device(s), TDP:28.0",
        ("Intel", "Core", "i5-1135G7"),
    ),
    ("Intel(R) Core(TM) i7-13700H/1 device(s), TDP:45.0", ("Intel", "Core", "i7-13700H")),
    # space-padded cells (editor "align columns")
    ("   AMD EPYC 7B12        ", ("AMD", "EPYC", "7B12")),
    # nothing to know
    ("unknown", NO_CPU),
    ("Unknown", NO_CPU),
    ("", NO_CPU),
    ("   ", NO_CPU),
    ("None", NO_CPU),
    ("nan", NO_CPU),
    ("x86_64", NO_CPU),
    ("QEMU Virtual CPU version 2.5+", NO_CPU),
    ("garbage", NO_CPU),
]


@pytest.mark.parametrize(("text", "expected"), CPU_CASES)
def test_parse_cpu_model(text: str, expected: tuple[Opt, Opt, Opt]) -> None:
    assert parse_cpu_model(text) == CpuInfo(*expected)


GPU_CASES: list[tuple[str, tuple[int | None, Opt, Opt, Opt, Opt, float | None]]] = [
    # BoAmps' own example (whose manufacturer "Tesla" is NVIDIA's product line)
    ("2 x Tesla V100S-PCIE-32GB", (2, "Tesla V100S-PCIE-32GB", "NVIDIA", "Tesla", "V100S", 32.0)),
    (
        "1 x NVIDIA GeForce RTX 3060",
        (1, "NVIDIA GeForce RTX 3060", "NVIDIA", "GeForce", "RTX 3060", None),
    ),
    (
        "8 x NVIDIA A100-SXM4-80GB",
        (8, "NVIDIA A100-SXM4-80GB", "NVIDIA", None, "A100", 80.0),
    ),
    ("1 x NVIDIA A100-SXM4-40GB", (1, "NVIDIA A100-SXM4-40GB", "NVIDIA", None, "A100", 40.0)),
    ("1 x NVIDIA A100 80GB PCIe", (1, "NVIDIA A100 80GB PCIe", "NVIDIA", None, "A100", 80.0)),
    ("1 x Tesla T4", (1, "Tesla T4", "NVIDIA", "Tesla", "T4", None)),
    (
        "1 x NVIDIA H100 80GB HBM3",
        (1, "NVIDIA H100 80GB HBM3", "NVIDIA", None, "H100", 80.0),
    ),
    ("1 x NVIDIA H100 PCIe", (1, "NVIDIA H100 PCIe", "NVIDIA", None, "H100", None)),
    ("2 x NVIDIA H100 NVL", (2, "NVIDIA H100 NVL", "NVIDIA", None, "H100", None)),
    ("4 x NVIDIA RTX A6000", (4, "NVIDIA RTX A6000", "NVIDIA", "RTX", "A6000", None)),
    (
        "1 x NVIDIA RTX 6000 Ada Generation",
        (1, "NVIDIA RTX 6000 Ada Generation", "NVIDIA", "RTX", "6000 Ada", None),
    ),
    ("1 x Quadro RTX 8000", (1, "Quadro RTX 8000", "NVIDIA", "Quadro", "RTX 8000", None)),
    ("1 x Quadro P5000", (1, "Quadro P5000", "NVIDIA", "Quadro", "P5000", None)),
    ("1 x NVIDIA L4", (1, "NVIDIA L4", "NVIDIA", None, "L4", None)),
    ("1 x NVIDIA A10G", (1, "NVIDIA A10G", "NVIDIA", None, "A10G", None)),
    (
        "1 x NVIDIA GeForce GTX 1080 Ti",
        (1, "NVIDIA GeForce GTX 1080 Ti", "NVIDIA", "GeForce", "GTX 1080 Ti", None),
    ),
    (
        "1 x NVIDIA GeForce GTX 1650 with Max-Q Design",
        (
            1,
            "NVIDIA GeForce GTX 1650 with Max-Q Design",
            "NVIDIA",
            "GeForce",
            "GTX 1650 Max-Q",
            None,
        ),
    ),
    (
        "1 x NVIDIA GeForce RTX 3050 Ti Laptop GPU",
        (
            1,
            "NVIDIA GeForce RTX 3050 Ti Laptop GPU",
            "NVIDIA",
            "GeForce",
            "RTX 3050 Ti Laptop",
            None,
        ),
    ),
    (
        "8 x NVIDIA GeForce RTX 3090",
        (8, "NVIDIA GeForce RTX 3090", "NVIDIA", "GeForce", "RTX 3090", None),
    ),
    ("1 x NVIDIA TITAN RTX", (1, "NVIDIA TITAN RTX", "NVIDIA", "TITAN", "RTX", None)),
    ("1 x TITAN X (Pascal)", (1, "TITAN X (Pascal)", "NVIDIA", "TITAN", "X Pascal", None)),
    (
        "4 x Tesla V100-SXM2-16GB",
        (4, "Tesla V100-SXM2-16GB", "NVIDIA", "Tesla", "V100", 16.0),
    ),
    ("1 x Tesla P100-PCIE-16GB", (1, "Tesla P100-PCIE-16GB", "NVIDIA", "Tesla", "P100", 16.0)),
    (
        "1 x NVIDIA A100-SXM4-40GB MIG 3g.20gb",
        (1, "NVIDIA A100-SXM4-40GB MIG 3g.20gb", "NVIDIA", None, "A100", 40.0),
    ),
    ("1 x NVIDIA GH200 480GB", (1, "NVIDIA GH200 480GB", "NVIDIA", None, "GH200", 480.0)),
    # older CodeCarbon: bare name, list repr
    ("Tesla T4", (None, "Tesla T4", "NVIDIA", "Tesla", "T4", None)),
    ("['Tesla T4', 'Tesla T4']", (2, "Tesla T4", "NVIDIA", "Tesla", "T4", None)),
    ('["NVIDIA A100-SXM4-40GB"]', (1, "NVIDIA A100-SXM4-40GB", "NVIDIA", None, "A100", 40.0)),
    (
        "['Tesla T4', 'NVIDIA L4']",
        (2, "['Tesla T4', 'NVIDIA L4']", "NVIDIA", "Tesla", "T4", None),
    ),
    ("[]", (0, None, None, None, None, None)),
    # several models: total count, first model's details, whole text as name
    (
        "1 x NVIDIA A100-SXM4-40GB, 1 x Tesla T4",
        (2, "1 x NVIDIA A100-SXM4-40GB, 1 x Tesla T4", "NVIDIA", None, "A100", 40.0),
    ),
    ("2 x Tesla T4, 2 x Tesla T4", (4, "Tesla T4", "NVIDIA", "Tesla", "T4", None)),
    # AMD and Intel
    ("1 x AMD Instinct MI250X", (1, "AMD Instinct MI250X", "AMD", "Instinct", "MI250X", None)),
    (
        "8 x AMD Instinct MI300X",
        (8, "AMD Instinct MI300X", "AMD", "Instinct", "MI300X", None),
    ),
    (
        "1 x AMD Radeon RX 7900 XTX",
        (1, "AMD Radeon RX 7900 XTX", "AMD", "Radeon", "RX 7900 XTX", None),
    ),
    ("1 x AMD Radeon Graphics", (1, "AMD Radeon Graphics", "AMD", "Radeon", None, None)),
    (
        "Intel(R) Data Center GPU Max 1550",
        (None, "Intel(R) Data Center GPU Max 1550", "Intel", "Data Center GPU", "Max 1550", None),
    ),
    (
        "1 x Intel(R) Arc(TM) A770 Graphics",
        (1, "Intel(R) Arc(TM) A770 Graphics", "Intel", "Arc", "A770", None),
    ),
    # Eco2AI's GPU_name
    (" 0 device(s)", (0, None, None, None, None, None)),
    ("Tesla T4 1 device(s)", (1, "Tesla T4", "NVIDIA", "Tesla", "T4", None)),
    # unknown maker: the name is kept but nothing is guessed from it
    ("1 x Orin (nvgpu)", (1, "Orin (nvgpu)", None, None, None, None)),
    ("garbage", (None, "garbage", None, None, None, None)),
    # nothing to know
    ("", (None, None, None, None, None, None)),
    ("None", (None, None, None, None, None, None)),
    ("nan", (None, None, None, None, None, None)),
    ("  ", (None, None, None, None, None, None)),
]


@pytest.mark.parametrize(("text", "expected"), GPU_CASES)
def test_parse_gpu_model(
    text: str, expected: tuple[int | None, Opt, Opt, Opt, Opt, float | None]
) -> None:
    assert parse_gpu_model(text) == GpuInfo(*expected)


PLATFORM_CASES: list[tuple[str, tuple[Opt, Opt, Opt]]] = [
    ("Linux-5.15.0-116-generic-x86_64-with-glibc2.35", ("Linux", None, None)),
    ("Linux-6.1.85+-x86_64-with-glibc2.35", ("Linux", None, None)),
    ("Linux-6.12.73+deb13-amd64-x86_64-with-glibc2.41", ("Linux", None, None)),
    ("Linux-5.15.0-1051-aws-aarch64-with-glibc2.35", ("Linux", None, None)),
    ("Linux-5.4.0-42-generic-x86_64-with-Ubuntu-20.04-focal", ("Linux", "Ubuntu", "20.04")),
    (
        "Linux-4.4.0-19041-Microsoft-x86_64-with-Ubuntu-18.04-bionic",
        ("Linux", "Ubuntu", "18.04"),
    ),
    (
        "Linux-3.10.0-1160.el7.x86_64-x86_64-with-centos-7.9.2009-Core",
        ("Linux", "centos", "7.9.2009"),
    ),
    ("Linux-4.18.0-305.el8.x86_64-x86_64-with-redhat-8.4-Ootpa", ("Linux", "redhat", "8.4")),
    ("Linux-5.10.0-21-amd64-x86_64-with-debian-bookworm-sid", ("Linux", "debian", "bookworm-sid")),
    ("Linux-4.15.0-144-generic-x86_64-with-debian-stretch-sid", ("Linux", "debian", "stretch-sid")),
    ("Linux-4.19.0-18-amd64-x86_64-with-debian-10.13", ("Linux", "debian", "10.13")),
    ("Windows-10-10.0.19045-SP0", ("Windows", "Windows 10", "10.0.19045")),
    ("Windows-10-10.0.19041-SP0", ("Windows", "Windows 10", "10.0.19041")),
    ("Windows-11-10.0.22631-SP0", ("Windows", "Windows 11", "10.0.22631")),
    ("Windows-11-10.0.26100-SP0", ("Windows", "Windows 11", "10.0.26100")),
    # Python before 3.12 says "10" for Windows 11
    ("Windows-10-10.0.22631-SP0", ("Windows", "Windows 11", "10.0.22631")),
    ("Windows-10-10.0.26200-SP0", ("Windows", "Windows 11", "10.0.26200")),
    ("Windows-10-10.0.22000-SP0", ("Windows", "Windows 11", "10.0.22000")),
    ("Windows-7-6.1.7601-SP1", ("Windows", "Windows 7", "6.1.7601")),
    ("Windows-2019Server-10.0.17763-SP0", ("Windows", "Windows Server 2019", "10.0.17763")),
    ("Windows-10", ("Windows", "Windows 10", None)),
    ("macOS-14.2.1-arm64-arm-64bit", ("macOS", "macOS", "14.2.1")),
    ("macOS-14.1.1-arm64-arm-64bit", ("macOS", "macOS", "14.1.1")),
    ("macOS-10.16-x86_64-i386-64bit", ("macOS", "macOS", "10.16")),
    ("macOS-15.1-arm64-arm-64bit-Mach-O", ("macOS", "macOS", "15.1")),
    # Darwin's version is the kernel's, not macOS'
    ("Darwin-21.6.0-x86_64-i386-64bit", ("macOS", None, None)),
    # platform.system() values (Eco2AI, hand-written)
    ("Linux", ("Linux", None, None)),
    ("linux", ("Linux", None, None)),
    ("Windows", ("Windows", None, None)),
    ("Darwin", ("macOS", None, None)),
    ("macOS", ("macOS", None, None)),
    ("  Linux-5.15.0-116-generic-x86_64-with-glibc2.35   ", ("Linux", None, None)),
    # unrecognised: os is None rather than a guess
    ("", (None, None, None)),
    ("   ", (None, None, None)),
    ("None", (None, None, None)),
    ("garbage", (None, None, None)),
    ("FreeBSD-13.2-RELEASE-amd64-64bit-ELF", (None, None, None)),
    ("Linuxish", (None, None, None)),
]


@pytest.mark.parametrize(("text", "expected"), PLATFORM_CASES)
def test_parse_platform(text: str, expected: tuple[Opt, Opt, Opt]) -> None:
    assert parse_platform(text) == PlatformInfo(*expected)


PARSERS: list[Callable[[str], CpuInfo | GpuInfo | PlatformInfo]] = [
    parse_cpu_model,
    parse_gpu_model,
    parse_platform,
]


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("value", [None, math.nan, 3.0])
def test_non_strings_from_pandas_give_nothing(
    parse: Callable[[object], CpuInfo | GpuInfo | PlatformInfo], value: object
) -> None:
    assert all(part is None for part in astuple(parse(value)))


@pytest.mark.parametrize("parse", PARSERS)
def test_very_long_text_is_safe(parse: Callable[[str], CpuInfo | GpuInfo | PlatformInfo]) -> None:
    for text in ("x" * 100_000, "9" * 100_000 + " x Tesla T4", "(" * 50_000, " @" * 50_000):
        parse(text)


def test_results_are_immutable_and_cached() -> None:
    info = parse_cpu_model("AMD EPYC 7B12")
    with pytest.raises(FrozenInstanceError):
        info.series = "other"  # type: ignore[misc]
    assert parse_cpu_model("AMD EPYC 7B12") is info
    assert hash(parse_gpu_model("1 x Tesla T4")) == hash(parse_gpu_model("1 x Tesla T4"))


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(hardware)
    assert tried > 0
    assert failures == 0


# Fragments of real values mixed with random text reach the deeper branches far more often
# than random text alone.
# fmt: off
FRAGMENTS = [
    "Intel(R)", "Xeon(R)", "Core(TM)", "AMD", "Ryzen", "EPYC", "Apple", "M2", "Pro", "CPU",
    "@ 2.90GHz", "12-Core", "Processor", "with Radeon Graphics", "13th Gen", "ARMv8",
    "Neoverse-N1", "1 x", "8 x", ",", "NVIDIA", "Tesla", "GeForce", "RTX", "A100-SXM4-80GB",
    "80GB", "HBM3", "['Tesla T4'", "]", "device(s)", "Linux", "Windows", "macOS", "Darwin",
    "-with-", "glibc2.35", "Ubuntu", "20.04", "-", "10.0.22631", "SP0", "None", "nan", "(", ")",
    "/",
]
# fmt: on
TEXTS = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=12).map(" ".join),
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_random_text_never_raises_and_is_deterministic(text: str) -> None:
    cpu, gpu, system = parse_cpu_model(text), parse_gpu_model(text), parse_platform(text)
    # The uncached function must agree with the cached one, and twice with itself.
    assert parse_cpu_model.__wrapped__(text) == cpu == parse_cpu_model.__wrapped__(text)
    assert parse_gpu_model.__wrapped__(text) == gpu == parse_gpu_model.__wrapped__(text)
    assert parse_platform.__wrapped__(text) == system == parse_platform.__wrapped__(text)

    for part in (*astuple(cpu), gpu.name, gpu.manufacturer, gpu.family, gpu.series):
        assert part is None or (isinstance(part, str) and part == part.strip() and part)
    assert gpu.count is None or (isinstance(gpu.count, int) and gpu.count >= 0)
    for part in astuple(system):
        assert part is None or (isinstance(part, str) and part == part.strip() and part)
    assert gpu.memory_gb is None or (math.isfinite(gpu.memory_gb) and gpu.memory_gb > 0)
    assert cpu.manufacturer in {None, "Intel", "AMD", "Apple", "Arm"}
    assert gpu.manufacturer in {None, "NVIDIA", "AMD", "Intel"}
    assert system.os in {None, "Linux", "Windows", "macOS"}


def test_platform_parts_are_stripped() -> None:
    # Found by the random-text test: a space after '-with-' leaked into the distribution.
    assert parse_platform("LINUX-with- 0").distribution == "0"
